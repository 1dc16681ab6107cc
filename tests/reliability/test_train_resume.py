"""Kill `geobench train` anywhere, resume with --resume, lose nothing.

SIGKILL at 10 moments of an SFT run (2 during start-up, then inside a training step, a checkpoint save or a
checkpoint's evaluation), each time followed by `geobench train sft --resume`; at the end the weights must
equal an uninterrupted run's and differ from the base model's (both runs learned), every logged step must
appear once in train_log.jsonl and every checkpoint must have exactly one evaluation in results/table.csv.
The moments are events counted by train_kill_driver.py, not delays: every attempt is killed where the test
says, however fast or loaded the machine is.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

# 16 exemplars / batch 2 = 8 steps per epoch, a checkpoint at each epoch's end (5 checkpoints, 5 evaluations).
STEPS, SAVE = 40, 8
DRIVER = Path(__file__).with_name("train_kill_driver.py")
# Where each attempt is killed (train_kill_driver.py), counted within the attempt. An attempt resumes from the
# last complete checkpoint: only the three kills during an evaluation (its checkpoint is complete) move the run
# on, so every attempt reaches its moment before the run could end.
MOMENTS = ["loaded:1", "loaded:1", "step:3", "save:1", "eval:1", "step:8", "eval:2", "save:1", "step:1", "eval:1"]


def _config(tmp: Path, name: str, model: str, data: Path) -> Path:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(
        f"model: {model}\noutput_dir: {tmp / name}\ndataset: {data}\nlr: 1.0e-3\nmax_steps: {STEPS}\n"
        f"per_device_batch_size: 2\nsave_steps: {SAVE}\nlogging_steps: 1\neval_tasks: [crossview_toy]\n"
        f"eval_limit: 2\neval_gen_kwargs: {{max_new_tokens: 4}}\neval_output: {tmp / name / 'results'}\nseed: 0\n")
    return cfg


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def scaffold_dir(crossview_scaffold):
    return crossview_scaffold(16)


def test_killed_training_resumes_to_the_same_model(tmp_path, tiny_model_path, scaffold_dir):
    import torch

    base_cfg = _config(tmp_path, "base", tiny_model_path, scaffold_dir)
    r = run_cli("train", "sft", "--config", str(base_cfg))
    assert r.returncode == 0, r.stderr[-2000:]

    cfg = _config(tmp_path, "killed", tiny_model_path, scaffold_dir)
    for moment in MOMENTS:
        resume = ["--resume"] if (tmp_path / "killed").is_dir() else []
        p = subprocess.run([sys.executable, str(DRIVER), "train", "sft", "--config", str(cfg), *resume],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "KILL_AT": moment},
                           timeout=600)
        assert p.returncode == -signal.SIGKILL, f"{moment}: not killed (rc {p.returncode}): {p.stderr[-2000:]}"
    r = run_cli("train", "sft", "--config", str(cfg), "--resume")
    assert r.returncode == 0, r.stderr[-2000:]

    a, b = _weights(tmp_path / "base"), _weights(tmp_path / "killed")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    base = _weights(Path(tiny_model_path))
    assert base.keys() == a.keys()
    moved = max(float((a[k].float() - base[k].float()).abs().max()) for k in a)
    assert moved > 1e-3, f"the runs did not change the base model's weights (largest change {moved:.2e})"

    steps = [json.loads(line)["step"] for line in (tmp_path / "killed" / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, STEPS + 1))

    with open(tmp_path / "killed" / "results" / "table.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy"]
    assert sorted(int(row["checkpoint_step"]) for row in rows) == list(range(SAVE, STEPS + 1, SAVE))
    for ckpt in (tmp_path / "killed").glob("checkpoint-*"):
        assert (ckpt / "trainer_state.json").is_file() and (ckpt / "preprocessor_config.json").is_file()
