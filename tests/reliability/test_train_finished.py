"""`--resume` of a finished training run is a no-op that says so in one line (issue 15, item 8).

A job script that always passes --resume, or a kill after the last checkpoint was saved, used to add a step, a
checkpoint past max_steps and its evaluation row on every resume, changing the final weights. Now: nothing is
trained, written or evaluated again; only what a kill after the last save can have left undone is done (the final
model copied from the last checkpoint, a missing evaluation run); a larger max_steps still trains on.
The first run is also the check that a normal run prints no TRL/transformers deprecation warnings (issue 16).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

from conftest import run_cli


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _steps(results: Path) -> list[str]:
    with open(results / "table.csv", newline="") as f:
        return sorted(row["checkpoint_step"] for row in csv.DictReader(f) if row["metric"] == "acc" and row["task"] == "crossview_toy")


def test_resume_of_a_finished_run_trains_nothing(tmp_path, tiny_model_path, scaffold_dir):
    out, results = tmp_path / "sft", tmp_path / "results"
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(f"model: {tiny_model_path}\noutput_dir: {out}\ndataset: {scaffold_dir}\nmax_steps: 2\n"
                   f"save_steps: 1\nper_device_batch_size: 2\nlr: 1.0e-3\neval_tasks: [crossview_toy]\n"
                   f"eval_limit: 2\neval_gen_kwargs: {{max_new_tokens: 4}}\neval_output: {results}\n")
    r = run_cli("train", "sft", "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-2000:]
    noise = [line for line in r.stderr.splitlines() if "Warning" in line]
    assert not noise, noise  # known library deprecation warnings stay out of a normal run
    final, log, table = _sha(out / "model.safetensors"), (out / "train_log.jsonl").read_text(), _steps(results)
    assert table == ["1", "2"]

    for _ in range(2):  # a job script that always passes --resume
        r = run_cli("train", "sft", "--config", str(cfg), "--resume")
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.strip().count("\n") == 0 and "already finished at step 2 of 2; nothing to train" in r.stdout
        assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
        assert _sha(out / "model.safetensors") == final
        assert (out / "train_log.jsonl").read_text() == log and _steps(results) == table

    # killed after the last checkpoint's save: no final model in output_dir, no evaluation of the last checkpoint
    (out / "model.safetensors").unlink()
    shutil.rmtree(results / "sft-step2")
    r = run_cli("train", "sft", "--config", str(cfg), "--resume", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "evaluated 1 checkpoint" in r.stdout and r.stdout.strip().count("\n") == 0
    assert _sha(out / "model.safetensors") == final == _sha(out / "checkpoint-2" / "model.safetensors")
    assert (results / "sft-step2" / "results.json").is_file()
    assert not (out / ".final.partial").exists()

    # asking for more steps still trains on
    r = run_cli("train", "sft", "--config", str(cfg), "--resume", "--set", "max_steps=3", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("sft: 3 steps") and r.stdout.strip().count("\n") == 0
    assert (out / "checkpoint-3").is_dir() and _steps(results) == ["1", "2", "3"]
