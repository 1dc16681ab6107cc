"""Per-checkpoint evaluation during `accelerate launch ... geobench train sft` runs on both ranks (2 CPU processes,
gloo): the evaluator shards each checkpoint's requests over the training job and rank 0 writes one run folder."""

from __future__ import annotations

import csv
import json
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
def test_each_checkpoint_is_evaluated_by_both_ranks_and_written_once(tmp_path, tiny_model_path, session_home):
    from geobench.trainers.scaffold import scaffold

    data = tmp_path / "cv"
    scaffold("crossview_toy", data, limit=8, style="short")
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(f"model: {tiny_model_path}\noutput_dir: {tmp_path / 'out'}\ndataset: {data}\nmax_steps: 4\n"
                   f"per_device_batch_size: 2\nsave_steps: 2\nlogging_steps: 1\neval_tasks: [crossview_toy, geoloc_toy]\n"
                   f"eval_limit: 5\neval_gen_kwargs: {{max_new_tokens: 4}}\neval_output: {tmp_path / 'results'}\n")
    launcher = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    r = subprocess.run([launcher, "launch", "--config_file", str(REPO / "configs" / "accelerate" / "cpu2.yaml"),
                        "-m", "geobench", "train", "sft", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    runs = sorted(p.parent for p in (tmp_path / "results").glob("*/results.json"))
    assert [p.name.rsplit("-step", 1)[1] for p in runs] == ["2", "4"]
    for run in runs:
        res = json.loads((run / "results.json").read_text())
        assert res["config"]["data_parallel"] == 2, "both ranks generated"
        assert res["timing"]["generated_samples"] == 10 and res["n-samples"]["crossview_toy"]["effective"] == 5
        assert sorted(p.name for p in run.iterdir()) == \
            ["results.json", "samples_crossview_toy.jsonl", "samples_geoloc_toy.jsonl"]
    with open(tmp_path / "results" / "table.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy"]
    assert [row["checkpoint_step"] for row in rows] == ["2", "4"], "one row per checkpoint: written by rank 0 only"
