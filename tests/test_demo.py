"""`geobench demo` end to end with a tiny budget: every stage runs, every checkpoint lands in the table.

The real demo's numbers (minutes of training) are measured by hand and recorded in the README; here only the
plumbing is checked, with a few steps of each stage.
"""

from __future__ import annotations

import csv
import json

import pytest

from conftest import run_cli
from geobench.errors import GeobenchError

pytestmark = pytest.mark.slow


def test_demo_runs_every_stage(tmp_path, session_home):
    out = tmp_path / "demo"
    r = run_cli("demo", "--out", str(out), "--sft-steps", "4", "--grpo-steps", "2", "--eval-limit", "8", "--quiet",
                "--sft-eval-every", "2", "--grpo-prompts", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    stages = [(p["stage"], p["step"]) for p in summary["points"]]
    assert stages == [("base", 0), ("sft", 2), ("sft", 4), ("grpo", 5), ("grpo", 6)]
    assert set(summary["targets"]) == {"sft_above_base", "grpo_above_sft", "final_at_least_2x_chance"}
    assert "targets:" in r.stdout and "stage" in r.stdout
    assert r.stdout.splitlines()[0].startswith("geobench demo:"), "--quiet: only the final table on stdout"
    with open(out / "results" / "table.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy"]
    assert sorted(int(row["checkpoint_step"] or 0) for row in rows) == [0, 1, 2, 2, 4]
    assert (out / "sft" / "checkpoint-4" / "model.safetensors").is_file()
    assert (out / "grpo" / "train_log.jsonl").is_file()


def test_demo_refuses_a_used_folder_and_bad_values(tmp_path):
    from geobench.trainers.training.demo import run_demo

    with pytest.raises(GeobenchError, match="sft_steps must be > 0"):
        run_demo(tmp_path / "d", sft_steps=0)
    (tmp_path / "used" / "sft").mkdir(parents=True)
    with pytest.raises(GeobenchError, match="already holds a demo run"):
        run_demo(tmp_path / "used")
