"""`geobench scaffold`: template exemplars pass the fact-check, planted wrong ones are rejected for the right
reason, the output is TRL's VLM SFT format and loads with `datasets`, the teacher path works, CLI errors are
one line. Runs on tiny toy datasets built into a temp folder (about 1 s)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from geobench.errors import GeobenchError
from geobench.trainers import scaffold as sc
from geobench.trainers.scaffold import writer

TEACHER_A = "<think>x</think><answer>A</answer>"


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """Small toy datasets (12 train docs per family; scene: 12 images x 16 questions) in their real layouts."""
    import geobench.tasks.crossview  # noqa: F401 - registers the exporters
    import geobench.tasks.geolocation  # noqa: F401
    import geobench.tasks.scene  # noqa: F401
    from geobench import toydata as datasets

    root = tmp_path_factory.mktemp("scaffold_toy")
    for name in ("crossview", "geolocation", "scene"):
        datasets.build(name, root / name, splits={"train": 12, "test": 4}, seed=0)
    return root


def tasks(toy: Path) -> dict:
    from geobench.tasks.crossview import CrossViewToy
    from geobench.tasks.geolocation import GeolocToy
    from geobench.tasks.scene import SceneToy

    return {"crossview_toy": CrossViewToy(root=toy / "crossview"), "geoloc_toy": GeolocToy(toy / "geolocation"),
            "scene_toy": SceneToy(toy / "scene", split="train")}


def items(toy: Path, name: str, limit: int | None = None) -> list[sc.Item]:
    return sc.prepare(tasks(toy)[name], "train", limit)


def rows(folder: Path, name: str = "train.jsonl") -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------ templates


@pytest.mark.parametrize("name", ["crossview_toy", "geoloc_toy", "scene_toy"])
@pytest.mark.parametrize("style", sc.STYLES)
def test_templates_pass_the_fact_check(toy, name, style):
    its = items(toy, name)
    assert len(its) >= 12
    for it in its:
        text = sc.template(it, style)
        assert sc.fact_check(text, it.truth) == [], (text, it.truth)
        assert text.startswith("<think>") and text.endswith(f"<answer>{it.truth.answer}</answer>")


def test_template_content_follows_the_metadata(toy):
    it = items(toy, "crossview_toy", 1)[0]
    ground = it.facts["attrs"]
    assert sc.template(it, "short") == f"<think>{' '.join(sc.attr_words(ground))}</think><answer>{it.truth.answer}</answer>"
    tiles = sc.template(it, "tiles")
    assert f"{it.truth.answer}: {' '.join(sc.attr_words(ground))}, yes" in tiles
    assert tiles.count(", yes") == 1 and tiles.count(", no") == it.truth.n_letters - 1
    full = sc.template(it, "full")
    for label in ("Visual cues:", "Cross-view evidence:", "Geographic knowledge:", "Answer:"):
        assert label in full
    assert full.index("Visual cues") < full.index("Cross-view") < full.index("Geographic") < full.index("Answer:")
    assert it.facts["country"] in full and ground["climate"] in full

    one_cue = sc.template(it, "tiles", cues=["climate"])  # what `geobench demo` trains on
    assert one_cue.startswith(f"<think>{ground['climate']}; A: ")
    assert f"{it.truth.answer}: {ground['climate']}, yes" in one_cue and "road" not in one_cue
    assert sc.fact_check(one_cue, it.truth) == []

    g = items(toy, "geoloc_toy", 1)[0]
    assert g.facts["country"] in sc.template(g, "short")
    assert f"<answer>({g.truth.lat:.2f}, {g.truth.lon:.2f})</answer>" in sc.template(g, "full")


# -------------------------------------------------------------------------------------------- fact-check


def _other(options, truth):
    return next(x for x in sorted(options) if x != truth)


def test_planted_wrong_crossview_exemplars_are_rejected(toy):
    it = items(toy, "crossview_toy", 1)[0]
    t = it.truth
    full = sc.template(it, "full")
    wrong = _other("ABCD", t.answer)
    assert sc.fact_check(full.replace(f"<answer>{t.answer}</answer>", f"<answer>{wrong}</answer>"), t) == ["wrong_letter"]
    assert sc.fact_check(full.replace("<answer>", "<answer>maybe ").replace(f"{t.answer}</answer>", "</answer>"), t) \
        == ["unparsed_answer"]
    other_climate = _other(sc.CLIMATE_KNOWLEDGE, t.climate)
    assert sc.fact_check(full.replace(f"{t.climate} land", f"{other_climate} land"), t) == ["wrong_climate"]
    # a tile described with a climate it does not have
    first = next(iter(t.candidates))
    tile_climate = t.candidates[first]["climate"]
    bad_tile = full.replace(f"{first}: {tile_climate},", f"{first}: {_other(sc.CLIMATE_KNOWLEDGE, tile_climate)},")
    assert bad_tile != full and sc.fact_check(bad_tile, t) == ["wrong_tile_description"]
    # another toy country named as the place's
    country = _other(t.vocab["country"], t.country)
    assert sc.fact_check(full.replace(t.country, country), t) == ["wrong_country"]
    # negated mentions are not claims
    assert sc.fact_check(full.replace("</think>", f" It is not {other_climate}, unlike {country}.</think>"), t) == []
    # tags and format
    assert sc.fact_check(full.replace("</think>", ""), t) == ["missing_tags"]
    assert sc.fact_check(full.replace("<answer>", "").replace("</answer>", ""), t) == ["missing_tags"]
    assert sc.fact_check("Sure! " + full, t) == ["format"]
    assert sc.fact_check(full + f"<answer>{t.answer}</answer>", t) == ["format"]
    # the right one is kept
    assert sc.fact_check(full, t) == []


def test_planted_wrong_geolocation_exemplars_are_rejected(toy):
    g = items(toy, "geoloc_toy", 3)[2]
    t = g.truth
    full = sc.template(g, "full")
    point = f"({t.lat:.2f}, {t.lon:.2f})"
    far = f"({-t.lat:.2f}, {t.lon:.2f})" if abs(t.lat) > 1 else f"({t.lat + 5:.2f}, {t.lon:.2f})"
    assert sc.fact_check(full.replace(f"<answer>{point}</answer>", f"<answer>{far}</answer>"), t) == ["wrong_coordinates"]
    assert sc.fact_check(full.replace(f"at about {point}", f"at about {far}"), t) == ["wrong_coordinates"]
    # within the tolerance (25 km) is not a contradiction; beyond it is
    near = f"({t.lat + 0.1:.2f}, {t.lon:.2f})"
    assert sc.fact_check(full.replace(f"<answer>{point}</answer>", f"<answer>{near}</answer>"), t) == []
    t.tolerance_km = 5.0
    assert sc.fact_check(full.replace(f"<answer>{point}</answer>", f"<answer>{near}</answer>"), t) == ["wrong_coordinates"]
    t.tolerance_km = sc.DEFAULT_TOLERANCE_KM
    assert sc.fact_check(full.replace(t.country, _other(t.vocab["country"], t.country)), t) == ["wrong_country"]
    assert sc.fact_check(full.replace(t.city, _other(t.vocab["city"], t.city)), t) == ["wrong_city"]
    assert sc.fact_check(full.replace(f"{t.climate} land", f"{_other(sc.CLIMATE_KNOWLEDGE, t.climate)} land"), t) \
        == ["wrong_climate"]
    assert sc.fact_check(full.replace("<answer>", "<answer>somewhere ").replace(point + "</answer>", "</answer>"), t) \
        == ["unparsed_answer"]
    # GLOBE-style labelled names are checked too (real benchmarks' answers)
    labelled = f"<think>ok</think><answer>country: Atlantis\ncoordinates: {point}</answer>"
    assert sc.fact_check(labelled, t) == ["wrong_country"]
    assert sc.fact_check(labelled.replace("Atlantis", t.country), t) == []
    assert sc.fact_check(full, t) == []


def test_planted_wrong_scene_exemplars_are_rejected(toy):
    its = items(toy, "scene_toy")
    yes_no = next(i for i in its if i.truth.options is None)
    mc = next(i for i in its if i.truth.options is not None)
    text = sc.template(yes_no, "full")
    flip = "no" if yes_no.truth.answer == "yes" else "yes"
    assert sc.fact_check(text.replace(f"<answer>{yes_no.truth.answer}</answer>", f"<answer>{flip}</answer>"),
                         yes_no.truth) == ["wrong_answer"]
    text = sc.template(mc, "short")
    wrong = _other("ABCDEFG"[:len(mc.truth.options)], mc.truth.answer)
    assert sc.fact_check(text.replace(f"<answer>{mc.truth.answer}</answer>", f"<answer>{wrong}</answer>"),
                         mc.truth) == ["wrong_letter"]


# ------------------------------------------------------------------------------------------------ output


def test_output_is_trl_vlm_format_and_loads_with_datasets(toy, tmp_path):
    import datasets

    out = tmp_path / "cv"
    report = sc.scaffold(tasks(toy)["crossview_toy"], out, style="full")
    assert report["kept"] == report["n_docs"] == 12 and report["rejected"] == 0
    assert json.loads((out / sc.REPORT_FILE).read_text())["kept"] == 12
    assert not list(tmp_path.glob(".cv.*"))  # no temp folder left behind
    data = rows(out)
    for r in data:
        user, assistant = r["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        n_placeholders = sum(c["type"] == "image" for c in user["content"])
        assert n_placeholders == len(r["images"]) == 5
        assert all(not Path(p).is_absolute() and (out / p).is_file() for p in r["images"])
        assert r["source"] == "template" and r["task"] == "crossview_toy" and r["style"] == "full"
        assert assistant["content"][0]["text"].startswith("<think>Visual cues:")
    # tiles shared by several docs are stored once
    assert report["n_images"] == len(list((out / "images").iterdir())) < 5 * 12
    ds = datasets.load_dataset("json", data_files=str(out / "train.jsonl"), split="train")
    assert len(ds) == 12 and {"messages", "images", "task", "doc_id", "source"} <= set(ds.column_names)
    first = ds[0]
    assert sum(c["type"] == "image" for m in first["messages"] for c in m["content"]) == len(first["images"])
    loaded = sc.load(out)
    assert loaded[0]["images"][0].size == (56, 56)


def test_all_toy_tasks_write_folders(toy, tmp_path):
    for name, task in tasks(toy).items():
        report = sc.scaffold(task, tmp_path / name, limit=10, style="short")
        assert report["kept"] == 10 and report["rejected"] == 0, report
        assert len(rows(tmp_path / name)) == 10


def test_cues_are_checked_and_ambiguous_exemplars_rejected(toy, tmp_path):
    task = tasks(toy)["crossview_toy"]
    with pytest.raises(GeobenchError, match="unknown attribute.*climat"):
        sc.scaffold(task, tmp_path / "typo", style="tiles", cues=["climat"])
    report = sc.scaffold(task, tmp_path / "gen", style="tiles", cues=iter(["climate"]))  # a generator, used once
    ambiguous = sum(writer._cue_matches(it, ("climate",)) != 1 for it in items(toy, "crossview_toy"))
    assert report["reasons"].get("ambiguous_cues", 0) == ambiguous and report["kept"] == report["n_docs"] - ambiguous
    for row in rows(tmp_path / "gen"):
        assert row["messages"][-1]["content"][0]["text"].count(", yes") == 1


def test_out_dir_must_be_new_or_empty_and_failures_leave_nothing(toy, tmp_path, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(GeobenchError, match="not empty"):
        sc.scaffold(tasks(toy)["crossview_toy"], tmp_path / "full")
    (tmp_path / "empty").mkdir()
    assert sc.scaffold(tasks(toy)["crossview_toy"], tmp_path / "empty", limit=4)["kept"] == 4

    def boom(*a, **k):
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(writer, "to_record", boom)
    with pytest.raises(RuntimeError):
        sc.scaffold(tasks(toy)["crossview_toy"], tmp_path / "half", limit=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]


def test_bad_arguments_are_one_line_errors(toy, tmp_path):
    task = tasks(toy)["crossview_toy"]
    with pytest.raises(GeobenchError, match="unknown style"):
        sc.scaffold(task, tmp_path / "a", style="long")
    with pytest.raises(GeobenchError, match="limit"):
        sc.scaffold(task, tmp_path / "a", limit=0)
    with pytest.raises(GeobenchError, match="unknown task"):
        sc.scaffold("no_such_task", tmp_path / "a")


# ----------------------------------------------------------------------------------------------- teacher


def test_teacher_dummy_kept_only_when_right(toy, tmp_path):
    task = tasks(toy)["crossview_toy"]
    truth = [it.truth.answer for it in sc.prepare(task, "train")]
    report = sc.scaffold(task, tmp_path / "t", teacher={"model": TEACHER_A, "backend": "dummy"})
    assert report["source"] == "teacher" and report["teacher"]["model"] == TEACHER_A
    assert report["kept"] == truth.count("A") and report["reasons"] == {"wrong_letter": 12 - truth.count("A")}
    kept = rows(tmp_path / "t")
    assert all(r["source"] == "teacher" and r["messages"][1]["content"][0]["text"] == TEACHER_A for r in kept)
    # the training prompt is the task's own, without the answer hint
    assert all("Hint" not in json.dumps(r["messages"][0]) for r in kept)
    assert len(rows(tmp_path / "t", "rejected.jsonl")) == 12 - truth.count("A")


def test_teacher_prompt_carries_the_hint(toy):
    task = tasks(toy)["geoloc_toy"]
    it = sc.prepare(task, "train", 1)[0]
    msgs = sc.teacher_messages(task, it)
    text = msgs[-1]["content"][-1]["text"]
    assert f"{it.truth.lat:.4f}" in text and "<think>" in text
    assert task.to_messages(it.doc)[-1]["content"][-1]["text"] not in text  # the hint is an extra part


def _cvcities_without_attributes(toy: Path, data: Path) -> Path:
    """A CV-Cities layout (its 10 training cities) made of toy images, without the attribute column."""
    from geobench.tasks.crossview import CVCities

    src = toy / "crossview" / "toyworld_train"
    root = data / "cvcities"
    (root / "imgs").mkdir(parents=True)
    lines = (src / "img_info.csv").read_text().splitlines()
    for i, city in enumerate(CVCities.TRAIN_CITIES):
        (root / city).mkdir()
        out = []
        for line in lines[i::len(CVCities.TRAIN_CITIES)]:
            name, lon, lat, _, sat, pano = line.split(",")[:6]
            shutil.copy(toy / "crossview" / sat, root / "imgs" / f"s_{name}.png")
            shutil.copy(toy / "crossview" / pano, root / "imgs" / f"p_{name}.png")
            out.append(f"{name},{lon},{lat},{city},imgs/s_{name}.png,imgs/p_{name}.png")
        (root / city / "img_info.csv").write_text("\n".join(out) + "\n")
    return root


def test_real_crossview_without_attributes_needs_a_teacher(toy, tmp_path):
    from geobench.tasks.crossview import CVCities

    root = _cvcities_without_attributes(toy, tmp_path / "data")
    task = CVCities(root=root)
    with pytest.raises(GeobenchError, match="no per-candidate visual attributes"):
        sc.scaffold(task, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    report = sc.scaffold(task, tmp_path / "out", teacher={"model": TEACHER_A, "backend": "dummy"})
    truth = [it.truth.answer for it in sc.prepare(task, "train", need_template=False)]
    assert report["kept"] == truth.count("A") and report["n_docs"] == 12


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_errors_are_one_line(toy, tmp_path):
    r = run_cli("scaffold", "--task", "no_such_task", "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown task 'no_such_task'" in r.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    r = run_cli("scaffold", "--task", "crossview_toy", "--out", str(tmp_path / "busy"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not empty" in r.stderr
    _cvcities_without_attributes(toy, tmp_path / "data")
    r = run_cli("scaffold", "--task", "cvcities", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no per-candidate visual attributes" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "b").exists()


def test_cli_writes_folder_and_report(toy, tmp_path):
    out = tmp_path / "o"
    r = run_cli("scaffold", "--task", "crossview_toy", "--task-args", f"root={toy / 'crossview'}", "--out", str(out),
                "--style", "tiles", "--limit", "8")
    assert r.returncode == 0, r.stderr
    assert re.search(r"kept 8 of 8", r.stdout) and "reason" in r.stdout
    assert json.loads((out / sc.REPORT_FILE).read_text())["style"] == "tiles"
    r = run_cli("scaffold", "--task", "crossview_toy", "--task-args", f"root={toy / 'crossview'}", "--out",
                str(tmp_path / "t"), "--teacher-model", TEACHER_A, "--teacher-backend", "dummy")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "t" / sc.REPORT_FILE).read_text())
    assert report["source"] == "teacher" and report["kept"] + report["reasons"]["wrong_letter"] == 12


def test_no_torch_import(toy, tmp_path):
    code = ("import sys; from geobench.trainers import scaffold as sc; from geobench.tasks.crossview import CrossViewToy; "
            f"sc.scaffold(CrossViewToy(root={str(toy / 'crossview')!r}), {str(tmp_path / 'x')!r}, limit=4); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
