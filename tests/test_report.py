"""`geobench report` on real run folders (made by `geobench eval` with the dummy backend, and by a real tiny
GRPO run): every figure is drawn, missing pieces are named on the page, user mistakes are one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

import geobench
from conftest import run_cli
from geobench import report as rep
from geobench import stats

TASKS = "geoloc_toy,crossview_toy,scene_toy"


def _eval(out: Path, model: str, tasks: str = TASKS, **kw) -> None:
    """A real eval (dummy backend: no model to load) writing a real run folder."""
    geobench.evaluate(model, tasks, backend="dummy", limit=6, output=out, progress=False, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, session_home) -> Path:
    """A results folder: a base model on all three toy tasks, and 'checkpoints' 10 and 20 of another model."""
    out = tmp_path_factory.mktemp("report") / "results"
    _eval(out, "random", run_name="base")
    for step in (10, 20):
        _eval(out, "<answer>(10, 20) A yes</answer>", checkpoint_step=step, run_name=f"ckpt-{step}")
    return out


def train_log(folder: Path) -> Path:
    """A train_log.jsonl as trainers.callback.JsonlLogger writes it (GRPO keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"step": s, "epoch": s / 20, "loss": 0.1 / s, "reward": 0.2 + 0.01 * s, "rewards/format/mean": 0.1,
             "rewards/shaped_pairing/mean": 0.1 + 0.01 * s, "completions/mean_length": 30 - s, "kl": 0.001 * s}
            for s in range(1, 21)]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def report(*args: str):
    r = run_cli("report", *args)
    assert r.returncode == 0, r.stderr
    return r


def _summary(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_full_report_draws_every_figure(runs, tmp_path):
    out = tmp_path / "rep"
    r = report("--results", str(runs), "--out", str(out), "--train-dir", str(train_log(tmp_path / "train")))
    assert "index.html" in r.stdout
    sections = _summary(out)["sections"]
    images = {name: s["images"] for name, s in sections.items()}
    assert images["Geolocation"] == ["geoloc_cdf_geoloc_toy.png", "geoloc_map_geoloc_toy.png"]
    assert images["Cross-view pairing"] == ["crossview_acc_crossview_toy.png"]
    assert images["Scene reasoning"] == ["scene_questions_scene_toy.png"]
    assert images["Training"] == ["train_log_train.png", "checkpoints__answer_10_20_A_yes_answer_.png"]
    assert not sections["Geolocation"]["notes"]  # truth found, coastlines drawn
    page = (out / "index.html").read_text()
    for imgs in images.values():
        for name in imgs:
            assert f'src="{name}"' in page
            with Image.open(out / name) as im:
                assert im.format == "PNG" and im.width > 300 and im.height > 200
    assert "http://" not in page and "https://" not in page  # self-contained
    assert "random" in page and "@ step 20" in page and "± " in page
    assert (out / "results.csv").read_text().startswith("run,model,backend,checkpoint_step,task")


def test_report_without_training_or_geolocation_says_so(tmp_path):
    res = tmp_path / "results"
    _eval(res, "random", "crossview_toy")
    out = tmp_path / "rep"
    r = report("--results", str(res), "--out", str(out))
    sections = _summary(out)["sections"]
    assert sections["Cross-view pairing"]["images"] == ["crossview_acc_crossview_toy.png"]
    assert sections["Geolocation"]["images"] == [] and sections["Training"]["images"] == []
    page = (out / "index.html").read_text()
    for note in ("No geolocation task in these runs", "No scene-reasoning task", "No training logs",
                 "No checkpoint runs"):
        assert note in page and note in r.stderr


def test_map_falls_back_to_a_grid_without_coastlines(runs, tmp_path, monkeypatch):
    from geobench import coastlines

    monkeypatch.setattr(coastlines, "land_mask", lambda *a, **k: None)
    monkeypatch.setattr(rep, "is_toy", lambda *a, **k: False)  # an Earth task: the toy one never has coastlines
    found, trains = rep.collect(["base"], str(runs))
    summary = rep.build(tmp_path / "rep", found, trains)
    assert "geoloc_map_geoloc_toy.png" in summary["sections"]["Geolocation"]["images"]
    assert any("latitude/longitude grid" in n for n in summary["sections"]["Geolocation"]["notes"])


def test_the_toy_planet_gets_no_earth_coastlines(runs, tmp_path, monkeypatch):
    from geobench import plots

    seen = []
    draw = plots.world_map
    monkeypatch.setattr(plots, "world_map", lambda *a, land=None, **k: seen.append(land) or draw(*a, land=land, **k))
    out = tmp_path / "rep"
    rep.build(out, *rep.collect(["base"], str(runs)))
    assert seen == [None]
    assert "the toy planet: no Earth coastlines" in (out / "index.html").read_text()
    assert not (out / "assets" / "land.png").exists()  # nor under the explorer's map


def test_missing_ground_truth_is_named(runs, tmp_path, monkeypatch):
    found, trains = rep.collect(["base"], str(runs))
    monkeypatch.setattr(rep, "ground_truth", lambda task, by_label: ({}, "task data not found: test"))
    summary = rep.build(tmp_path / "rep", found, trains)
    assert "geoloc_toy: ground truth not drawn on the map (task data not found: test)." in \
        summary["sections"]["Geolocation"]["notes"]


def test_reference_numbers_beside_yours(tmp_path):
    """im2gps3k read from the toy world's geolocation folder (same layout): the paper's 41.3% @25 km appears."""
    from geobench.toydata import ensure

    res = tmp_path / "results"
    r = run_cli("eval", "--backend", "dummy", "--model", "random", "--tasks", "im2gps3k", "--limit", "4",
                "--output", str(res), "-q", env={"GEOBENCH_DATA_IM2GPS3K": str(ensure("geolocation"))})
    assert r.returncode == 0, r.stderr
    out = tmp_path / "rep"
    report("--results", str(res), "--out", str(out))
    page = (out / "index.html").read_text()
    assert "Beside the paper" in page and "miniHui/Geo-R1" in page and "0.4130" in page


def test_runs_by_name_and_replacing_an_old_report(runs, tmp_path):
    out = tmp_path / "rep"
    rep.build(out, *rep.collect(["base"], str(runs)))
    assert _summary(out)["runs"] == [str(runs / "base")]
    rep.build(out, *rep.collect([str(runs / "ckpt-10"), str(runs / "ckpt-20")], "elsewhere"))  # replaces it
    assert [Path(p).name for p in _summary(out)["runs"]] == ["ckpt-10", "ckpt-20"]
    assert not list(tmp_path.glob(".rep*"))  # no temp or old folder left behind


def test_a_failed_rebuild_leaves_the_old_report_in_place(runs, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    rep.build(out, *rep.collect(["base"], str(runs)))
    before = sorted(p.name for p in out.iterdir())

    def boom(*a, **k):
        raise KeyboardInterrupt  # a kill while plotting

    monkeypatch.setattr(rep, "crossview_section", boom)
    with pytest.raises(KeyboardInterrupt):
        rep.build(out, *rep.collect(["ckpt-10"], str(runs)))
    assert sorted(p.name for p in out.iterdir()) == before and _summary(out)["runs"] == [str(runs / "base")]
    assert not list(tmp_path.glob(".rep*"))


@pytest.mark.parametrize("args, needle", [
    (["nope"], "'nope' is not a run folder, a results folder or a training folder"),
    (["--train-dir", "."], "no train_log.jsonl in '.'"),
])
def test_report_errors_are_one_line(runs, args, needle, tmp_path):
    r = run_cli("report", "--results", str(runs), "--out", str(tmp_path / "rep"), *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_report_refuses_a_folder_that_is_not_a_report(runs, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    r = run_cli("report", "--results", str(runs), "--out", str(tmp_path / "mine"))
    assert r.returncode == 2 and "holds no geobench report" in r.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"
    r = run_cli("report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and "nothing to report" in r.stderr


def test_wilson_interval():
    lo, hi = stats.wilson(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28  # p=0 still gets an interval (stderr would be 0)
    lo, hi = stats.wilson(10, 10)
    assert hi == 1.0 and 0.72 < lo < 0.73
    assert stats.interval([1, 0, 1, 1])[0] == 0.75
    mean, lo, hi = stats.interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and math.isclose(hi - mean, stats.Z95 * (1 / 3) ** 0.5)
    assert stats.bootstrap_stderr([1, 2, 3, 4, 100], lambda x: float(sorted(x)[len(x) // 2])) > 0


@pytest.mark.slow
def test_report_of_a_real_training_run_finds_its_logs(tmp_path, tiny_model_path):
    """A real tiny GRPO run evaluates its checkpoints; the report finds train_log.jsonl next to them."""
    from geobench.trainers.training.grpo import train_grpo

    res = tmp_path / "results"
    train_grpo({"model": tiny_model_path, "output_dir": str(tmp_path / "grpo"), "rewards": "tiny",
                "dataset": {"task": "crossview_toy", "split": "train", "limit": 4}, "max_steps": 4,
                "save_steps": 2, "logging_steps": 1, "per_device_batch_size": 2, "num_generations": 2,
                "max_completion_length": 8, "lr": 1e-5, "eval_tasks": ["crossview_toy", "geoloc_toy"],
                "eval_limit": 2, "eval_output": str(res), "eval_gen_kwargs": {"max_new_tokens": 4}})
    out = tmp_path / "rep"
    report("--results", str(res), "--out", str(out))
    summary = _summary(out)
    assert summary["train_dirs"] == [str(tmp_path / "grpo")]
    assert summary["sections"]["Training"]["images"] == ["train_log_grpo.png", "checkpoints_grpo.png"]
    assert "grpo @ step 4" in (out / "index.html").read_text()
    report(str(tmp_path / "grpo"), "--results", str(res), "--out", str(out))  # the training folder as RUN
    assert [Path(p).name for p in _summary(out)["runs"]] == ["grpo-step2", "grpo-step4"]


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["results", "--help"]])
def test_help_imports_neither_matplotlib_nor_torch(args):
    import subprocess
    import sys

    code = (f"import sys; from geobench.cli import main; rc = main({args!r}); "
            "print('IMPORTED', [m for m in ('matplotlib', 'torch') if m in sys.modules]); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "IMPORTED []" in r.stdout, (r.stdout, r.stderr)
