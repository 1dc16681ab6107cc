"""Kill `geobench train` anywhere, resume with --resume, lose nothing.

SIGKILL at 10 random moments of an SFT run (2 during start-up, 8 at a random delay after the attempt's first
logged step: inside a training step, a checkpoint save or a checkpoint's evaluation), each time followed by
`geobench train sft --resume`; at the end the weights must equal an uninterrupted run's, every logged step
must appear once in train_log.jsonl and every checkpoint must have exactly one evaluation in
results/table.csv.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

# 16 exemplars / batch 2 = 8 steps per epoch, a checkpoint at each epoch's end (5 checkpoints, 5 evaluations).
STEPS, SAVE = 40, 8


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
def scaffold_dir(tmp_path_factory, session_home):
    from geobench.trainers.scaffold import scaffold

    out = tmp_path_factory.mktemp("scaffold") / "cv"
    scaffold("crossview_toy", out, limit=16, style="short")
    return out


def test_killed_training_resumes_to_the_same_model(tmp_path, tiny_model_path, scaffold_dir):
    import torch

    base_cfg = _config(tmp_path, "base", tiny_model_path, scaffold_dir)
    t0 = time.monotonic()
    r = run_cli("train", "sft", "--config", str(base_cfg))
    duration = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-2000:]

    cfg = _config(tmp_path, "killed", tiny_model_path, scaffold_dir)
    log = tmp_path / "killed" / "train_log.jsonl"
    rng = random.Random(0)
    kills = 0
    for attempt in range(10):
        resume = ["--resume"] if (tmp_path / "killed").is_dir() else []
        lines = len(log.read_text().splitlines()) if log.is_file() else 0
        p = subprocess.Popen([sys.executable, "-m", "geobench", "train", "sft", "--config", str(cfg), *resume],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        if attempt < 2:  # during start-up (imports, model load, dataset)
            time.sleep(rng.uniform(0.5, 3.0))
        else:  # once training runs: somewhere in the next steps, saves and evaluations
            deadline = time.monotonic() + duration
            while p.poll() is None and time.monotonic() < deadline and \
                    (len(log.read_text().splitlines()) if log.is_file() else 0) <= lines:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 2.0))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    assert kills >= 8, f"only {kills} of 10 attempts were killed: the run finished too soon to test anything"
    r = run_cli("train", "sft", "--config", str(cfg), "--resume")
    assert r.returncode == 0, r.stderr[-2000:]

    a, b = _weights(tmp_path / "base"), _weights(tmp_path / "killed")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)

    steps = [json.loads(line)["step"] for line in (tmp_path / "killed" / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == list(range(1, STEPS + 1))

    with open(tmp_path / "killed" / "results" / "table.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy"]
    assert sorted(int(row["checkpoint_step"]) for row in rows) == list(range(SAVE, STEPS + 1, SAVE))
    for ckpt in (tmp_path / "killed").glob("checkpoint-*"):
        assert (ckpt / "trainer_state.json").is_file() and (ckpt / "preprocessor_config.json").is_file()
