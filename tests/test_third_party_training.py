"""A third-party task is trained on exactly like a built-in one.

A distribution that declares one `geobench` entry point is pip-installed into a temp folder. Its task is a
`geobench.BenchmarkTask` over a CSV + images folder (found under `--data-dir`) that implements `scaffold_items`.
Then, as a user would, from the command line: `geobench scaffold` writes fact-checked exemplars of it, `geobench
train sft` fine-tunes the tiny model on them and evaluates every checkpoint on the task, and `geobench train
grpo` runs on the task's own reward. Nothing in geobench knows the task.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_cli

pytest.importorskip("trl")

PLUGIN = '''
import csv

import geobench


class RedSigns(geobench.BenchmarkTask):
    """Is the sign red? A yes/no question over a CSV of image files."""

    name, version, group, benchmark = "red_signs", "1.0", "scene", "red_signs"
    splits = ("train", "test")
    source = geobench.OnRequestSource(where="the test's own folder", instructions="built by the test")
    higher_is_better = {"acc": True}
    default_gen = geobench.GenConfig(max_new_tokens=8)

    def expected(self, split):
        return [f"{split}.csv", "images"]

    def load(self, split):
        with open(self.root() / f"{split}.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield geobench.Doc(id=row["id"], fields={"answer": row["answer"], "colour": row["colour"]},
                                   images=[geobench.ImageRef(path=str(self.root() / "images" / row["file"]))])

    def to_messages(self, doc):
        return geobench.user(doc.images[0], "Is the sign red? Answer yes or no in <answer></answer>.")

    def score(self, doc, completion):
        return {"acc": float(geobench.parse.yes_no(completion) == doc.fields["answer"])}

    def extract(self, doc, completion):
        return geobench.parse.yes_no(completion)

    def scaffold_items(self, split="train", limit=None, *, need_template=True):
        return [geobench.ScaffoldItem(doc, {"colour": doc.fields["colour"]},
                                      geobench.Truth("scene", doc.fields["answer"]), doc.fields["answer"])
                for doc in self.docs(split, limit)]


@geobench.hookimpl
def geobench_register_tasks(register):
    register(RedSigns)
'''


def install(root: Path) -> Path:
    pkg = root / "geobench-red-signs"
    (pkg / "red_signs").mkdir(parents=True)
    (pkg / "red_signs" / "__init__.py").write_text(PLUGIN)
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "geobench-red-signs"
        version = "0.1.0"
        [project.entry-points.geobench]
        red_signs = "red_signs"
        [tool.setuptools]
        packages = ["red_signs"]
    """))
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(pkg)], check=True, capture_output=True)
    return target


def write_data(root: Path) -> Path:
    folder = root / "data" / "red_signs"
    (folder / "images").mkdir(parents=True)
    colours = {"red": (220, 20, 20), "blue": (20, 20, 220)}
    for split, n in (("train", 8), ("test", 4)):
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "file", "colour", "answer"])
            for i in range(n):
                colour = ("red", "blue")[i % 2]
                name = f"{split}{i}.png"
                Image.new("RGB", (56, 56), colours[colour]).save(folder / "images" / name)
                w.writerow([f"{split}{i}", name, colour, "yes" if colour == "red" else "no"])
    return folder.parent


@pytest.mark.slow
def test_a_pip_installed_task_is_scaffolded_fine_tuned_and_evaluated(tmp_path, tiny_model_path):
    env = {"PYTHONPATH": os.pathsep.join([str(install(tmp_path)), os.environ.get("PYTHONPATH", "")]),
           "GEOBENCH_DATA": str(write_data(tmp_path))}

    r = run_cli("tasks", env=env)
    assert r.returncode == 0 and "red_signs" in r.stdout and "available" in r.stdout.split("red_signs", 1)[1], r.stderr

    out = tmp_path / "scaffold"
    r = run_cli("scaffold", "--task", "red_signs", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {row["messages"][-1]["content"][-1]["text"].endswith(("<answer>yes</answer>",
                                                                                       "<answer>no</answer>"))
                                for row in rows} == {True}

    config = tmp_path / "sft.yaml"
    config.write_text(f"model: {tiny_model_path}\noutput_dir: {tmp_path / 'ckpt'}\ndataset: {out}\nmax_steps: 2\n"
                      f"save_steps: 1\nper_device_batch_size: 4\nlr: 1.0e-3\neval_tasks: [red_signs]\neval_limit: 4\n"
                      f"eval_output: {tmp_path / 'results'}\nreport_to: none\n")
    r = run_cli("train", "sft", "--config", str(config), "--json", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)  # --json: stdout is the summary alone
    assert sorted(e["step"] for e in summary["evaluated"]) == [1, 2]
    table = list(csv.DictReader(open(tmp_path / "results" / "table.csv", encoding="utf-8")))
    assert {row["checkpoint_step"] for row in table if row["task"] == "red_signs" and row["metric"] == "acc"} == \
        {"1", "2"}

    config = tmp_path / "grpo.yaml"
    config.write_text(f"model: {tiny_model_path}\noutput_dir: {tmp_path / 'grpo'}\n"
                      f"dataset: {{task: red_signs, split: train}}\nrewards: [task]\nmax_steps: 1\nsave_steps: 1\n"
                      f"per_device_batch_size: 4\nnum_generations: 2\nmax_completion_length: 8\n"
                      f"eval_tasks: [red_signs]\neval_limit: 4\neval_output: {tmp_path / 'results'}\nreport_to: none\n")
    r = run_cli("train", "grpo", "--config", str(config), "--json", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert [e["step"] for e in json.loads(r.stdout)["evaluated"]] == [1]
