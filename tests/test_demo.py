"""`geobench demo` end to end with a tiny budget: every stage runs, every checkpoint lands in the table.

The real demo's numbers (minutes of training) are measured by hand and recorded in the README. Here, with 80
SFT steps and 2 GRPO steps, the plumbing is checked, and the targets' values: each one equals what the results
table says (recomputed here, not read back from the summary), and the one this budget reaches honestly is
met: the base model (random weights) never writes an answer the task can read, so it scores 0, and after 80
SFT steps on the scaffold (the loss more than halved) some answers are right (measured: 12.5 % of 16).
GRPO above SFT and 2x chance need minutes of training; their values are only checked against the table.
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
    r = run_cli("demo", "--out", str(out), "--sft-steps", "80", "--grpo-steps", "2", "--eval-limit", "16",
                "--quiet", "--sft-eval-every", "40", "--grpo-prompts", "2", timeout=900)  # a hang guard, not a speed check
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    stages = [(p["stage"], p["step"]) for p in summary["points"]]
    assert stages == [("base", 0), ("sft", 40), ("sft", 80), ("grpo", 81), ("grpo", 82)]
    assert "targets:" in r.stdout and "stage" in r.stdout
    assert r.stdout.splitlines()[0].startswith("geobench demo:"), "--quiet: only the final table on stdout"
    with open(out / "results" / "table.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy"]
    assert sorted(int(row["checkpoint_step"] or 0) for row in rows) == [0, 1, 2, 40, 80]

    # the targets' values, from the table: the last checkpoint of each stage
    def last(run: str) -> float:
        mine = [row for row in rows if row["run"].startswith(run)]
        return float(max(mine, key=lambda row: int(row["checkpoint_step"] or 0))["value"])

    acc = {"base": last("demo-base"), "sft": last("demo-sft"), "grpo": last("demo-grpo")}
    assert summary["final"] == pytest.approx(acc)
    assert summary["chance"] == 0.25
    assert summary["targets"] == {"sft_above_base": acc["sft"] > acc["base"], "grpo_above_sft": acc["grpo"] > acc["sft"],
                                  "final_at_least_2x_chance": acc["grpo"] >= 0.5}
    assert all(0 <= p["acc"] <= 1 and 0 <= p["stderr"] <= 0.5 for p in summary["points"])
    for name, met in summary["targets"].items():
        label = {"sft_above_base": "SFT above base", "grpo_above_sft": "GRPO above SFT",
                 "final_at_least_2x_chance": "final >= 2x chance"}[name]
        assert f"{label}" in r.stdout and (f": {'met' if met else 'NOT met'}" in r.stdout.split(label, 1)[1][:30])
    # what this budget reaches: the base cannot answer, SFT has learned to (some answers right)
    assert acc["base"] == 0.0
    assert summary["targets"]["sft_above_base"] is True, summary["points"]
    losses = [json.loads(line)["loss"] for line in (out / "sft" / "train_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert (out / "sft" / "checkpoint-80" / "model.safetensors").is_file()
    assert (out / "grpo" / "train_log.jsonl").is_file()
    # the report: every checkpoint's samples, a map of the geolocation task, base against the final GRPO model
    report = out / "report"
    for run in ("demo-base", "demo-sft-step40", "demo-sft-step80", "demo-grpo-step1", "demo-grpo-step2"):
        assert (report / f"samples-{run}-crossview_toy.html").is_file(), run
    assert (report / "geoloc_map_geoloc_toy.png").is_file()
    assert (report / "compare-demo-base-vs-demo-grpo-step2-crossview_toy.html").is_file()
    assert (report / "compare-demo-base-vs-demo-grpo-step2-final-geoloc_toy.html").is_file()


def test_demo_refuses_a_used_folder_and_bad_values(tmp_path):
    from geobench.trainers.training.demo import run_demo

    with pytest.raises(GeobenchError, match="sft_steps must be > 0"):
        run_demo(tmp_path / "d", sft_steps=0)
    (tmp_path / "used" / "sft").mkdir(parents=True)
    with pytest.raises(GeobenchError, match="already holds a demo run"):
        run_demo(tmp_path / "used")
