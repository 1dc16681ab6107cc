"""`geobench train` runs under `accelerate launch` (two CPU processes, gloo): the shipped configs/accelerate/cpu2.yaml.

The GPU configs (multi_gpu, zero2, zero3) go through the same entry point; only the launcher's backend differs.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists(),
                    reason="accelerate is not installed")
def test_sft_under_accelerate_launch_two_cpu_processes(tmp_path, tiny_model_path, session_home):
    from geobench.trainers.scaffold import scaffold

    data = tmp_path / "cv"
    scaffold("crossview_toy", data, limit=8, style="short")
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(f"model: {tiny_model_path}\noutput_dir: {tmp_path / 'out'}\ndataset: {data}\nmax_steps: 4\n"
                   f"per_device_batch_size: 2\nsave_steps: 4\nlogging_steps: 1\neval_tasks: [crossview_toy]\n"
                   f"eval_limit: 2\neval_gen_kwargs: {{max_new_tokens: 4}}\neval_output: {tmp_path / 'results'}\n")
    launcher = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    r = subprocess.run([launcher, "launch", "--config_file", str(REPO / "configs" / "accelerate" / "cpu2.yaml"),
                        "-m", "geobench", "train", "sft", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert (tmp_path / "out" / "checkpoint-4" / "model.safetensors").is_file()
    with open(tmp_path / "results" / "table.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy"]
    assert [row["checkpoint_step"] for row in rows] == ["4"], "evaluated once, by the main process only"
    import json

    steps = [json.loads(line)["step"] for line in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4], "logged once, by the main process only"
