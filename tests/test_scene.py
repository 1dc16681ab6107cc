"""Scene reasoning tasks: GeoChain layout loader, JSONL loader, answer parsing, toy export, data errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import geobench
from geobench import toydata as toy_datasets
from geobench.errors import GeobenchError
from geobench.tasks import scene
from geobench.tasks.scene import BINARY_KEYS, QUESTION_KEYS, GeoChain, SceneJSONL, SceneToy, parse_answer

YES = "<answer>yes</answer>"
ANSWER_COLS = [f"answer_{i}" for i in range(21)]


def _png(path: Path, colour=(10, 120, 200)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def _row(key: str, answers: dict[str, str], city: str = "berlin", sub: str = "query") -> dict[str, str]:
    row = {"key": key, "locatability_score": "0.5", "lat": "52.5", "lon": "13.4", "city": city,
           "sub_folder": sub, "class_mapping": "{}", "sequence_key": "s"}
    row.update({c: "Unknown" for c in ANSWER_COLS})
    for k, v in answers.items():
        row[f"answer_{scene.RANK[k] - 1}"] = v
    return row


def write_geochain(root: Path, rows: list[dict[str, str]], split: str = "test", images: bool = True) -> Path:
    """A GeoChain-layout fixture: {split}_samples_with_answers.csv + images/<city>/<sub_folder>/images/<key>.jpg."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{split}_samples_with_answers.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (root / "images").mkdir(exist_ok=True)
    if images:
        for r in rows:
            _png(root / "images" / r["city"] / r["sub_folder"] / "images" / f"{r['key']}.jpg")
    return root


# Per question: the truths of images a..f ("Unknown"/"Equator" are not verifiable and must be skipped).
FIXTURE = {
    "boats": ["Yes", "No", "No", "No", "Yes", "No"],  # 2/6 yes
    "vehicles": ["Yes", "Yes", "Yes", "No", "Yes", "Yes"],  # 5/6
    "northern_hemisphere": ["Yes", "Equator", "No", "Unknown", "Yes", "Yes"],  # 3/4
    "island": ["No"] * 6,  # 0/6
    "desert": ["yes", "YES", "Yes", "Yes", "Yes", "Yes"],  # 6/6, any case
    "continent": ["Europe", "Asia", "North America", "Unknown", "Europe", "Oceania"],
    "driving_side": ["Right", "Left", "Right", "Right", "Left", "Right"],
    "climate": ["Temperate", "Tropical", "Dry", "Continental", "Polar", "Temperate"],
}


def fixture_rows() -> list[dict[str, str]]:
    keys = "abcdef"
    return [_row(f"img_{k}", {q: v[i] for q, v in FIXTURE.items()}) for i, k in enumerate(keys)]


def _expected_yes_share(q: str) -> float:
    vals = [v.lower() for v in FIXTURE[q] if v.lower() in ("yes", "no")]
    return sum(v == "yes" for v in vals) / len(vals)


def test_geochain_layout_end_to_end_with_dummy(tmp_path):
    root = write_geochain(tmp_path / "geochain", fixture_rows())
    task = GeoChain(folder=root, questions=list(FIXTURE))
    out = geobench.evaluate(YES, [task], backend="dummy", output=None, progress=False)
    res = out["results"]["geochain"]
    for q in ("boats", "vehicles", "northern_hemisphere", "island", "desert"):
        assert res[f"acc_{q},none"] == pytest.approx(_expected_yes_share(q)), q
    for q in ("continent", "driving_side", "climate"):  # "yes" is no option: unparseable, so wrong
        assert res[f"acc_{q},none"] == 0.0
    n_docs = sum(v.lower() not in ("unknown", "equator") for vals in FIXTURE.values() for v in vals)
    assert out["n-samples"]["geochain"]["effective"] == n_docs
    shares = [_expected_yes_share(q) for q in ("boats", "vehicles", "northern_hemisphere", "island", "desert")]
    assert res["acc_macro,none"] == pytest.approx(sum(shares) / len(FIXTURE))
    assert res["acc_binary_macro,none"] == pytest.approx(sum(shares) / len(shares))
    binary_docs = sum(v.lower() in ("yes", "no") for q in BINARY_KEYS if q in FIXTURE for v in FIXTURE[q])
    assert res["parse_rate,none"] == pytest.approx(binary_docs / n_docs)
    assert res["format_rate,none"] == 0.0  # no <think> block


def test_geochain_docs_prompts_and_ids(tmp_path):
    root = write_geochain(tmp_path / "g", fixture_rows())
    docs = list(GeoChain(folder=root).docs())
    ids = [d.id for d in docs]
    assert ids[0] == "img_a/boats" and "img_d/continent" not in ids and "img_b/northern_hemisphere" not in ids
    assert len(ids) == len(set(ids))
    assert all(Path(d.images[0].path).is_file() for d in docs)
    mc = next(d for d in docs if d.id == "img_a/climate")
    assert mc.fields["answer"] == "Temperate" and mc.fields["answer_letter"] == "C"
    text = GeoChain(folder=root).to_messages(mc)[0]["content"][1]["text"]
    assert "A. Tropical\nB. Dry\nC. Temperate\nD. Continental\nE. Polar" in text
    assert text.endswith("final answer in <answer> </answer> tags.")
    binary = GeoChain(folder=root).to_messages(docs[0])[0]["content"]
    assert binary[0]["type"] == "image"
    assert binary[1]["text"].startswith("Do you see any boats or ships? Answer yes or no.\nFirst output")
    assert len(list(GeoChain(folder=root).docs(limit=5))) == 5


def test_geochain_flat_images_and_questions_csv(tmp_path):
    rows = [_row("k1", {"continent": "Zed", "boats": "No"}), _row("k2", {"continent": "Ab", "boats": "Yes"})]
    root = write_geochain(tmp_path / "g", rows, images=False)
    _png(root / "images" / "k1.png")
    _png(root / "images" / "k2.jpg")
    with open(root / "questions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Rank", "Difficulty", "Question", "Question Type", "Question Category"])
        w.writerow([1, "Easy", "Boats?", "Binary", "Visual Cues"])
        w.writerow([8, "Easy", "Which land?", "Multiclass (2 continents: Ab/Zed)", "Geo"])
    docs = list(GeoChain(folder=root, questions=["boats", "continent"]).docs())
    assert [Path(d.images[0].path).name for d in docs] == ["k1.png", "k1.png", "k2.jpg", "k2.jpg"]
    cont = next(d for d in docs if d.id == "k1/continent")
    assert cont.fields["options"] == ["Ab", "Zed"] and cont.fields["answer_letter"] == "B"
    assert next(d for d in docs if d.id == "k1/boats").fields["question"] == "Boats?"


def test_geochain_bad_answer_is_one_line_error(tmp_path):
    root = write_geochain(tmp_path / "g", [_row("k1", {"continent": "Atlantis"})])
    with pytest.raises(GeobenchError, match=r"row 2, answer_7 \(continent\): 'Atlantis' is not one of") as e:
        list(GeoChain(folder=root).docs())
    assert "\n" not in str(e.value)


def test_geochain_balanced_cap(tmp_path):
    truths = ["Yes"] * 2 + ["No"] * 10
    rows = [_row(f"k{i}", {"island": t}) for i, t in enumerate(truths)]
    root = write_geochain(tmp_path / "g", rows)
    docs = list(GeoChain(folder=root, questions=["island"], per_question=6).docs())
    answers = [d.fields["answer"] for d in docs]
    assert len(docs) == 6 and answers.count("yes") == 2  # all of the minority, the rest from the majority
    docs = list(GeoChain(folder=root, questions=["island"], per_question=4).docs())
    assert [d.fields["answer"] for d in docs].count("yes") == 2


def test_missing_data_is_one_line_data_status(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_DATA_GEOCHAIN", str(tmp_path / "nowhere"))
    task = geobench.plugin_manager.registry().task("geochain")
    status = task.data_status()
    assert status and "\n" not in status
    assert "test_samples_with_answers.csv" in status and "sahitiy" in status
    with pytest.raises(GeobenchError, match="geochain") as e:
        geobench.evaluate(YES, "geochain", backend="dummy", output=None, progress=False)
    assert "\n" not in str(e.value)


def test_registered_geochain_reads_benchmark_dir(tmp_path, monkeypatch):
    root = write_geochain(tmp_path / "geochain", fixture_rows())
    monkeypatch.setenv("GEOBENCH_DATA_GEOCHAIN", str(root))
    out = geobench.evaluate(YES, "geochain", backend="dummy", output=None, progress=False)
    assert out["results"]["geochain"]["acc_boats,none"] == pytest.approx(_expected_yes_share("boats"))
    assert out["groups"]["scene"]
    assert geobench.plugin_manager.registry().task("geochain").default_gen.max_new_tokens == 1024


@pytest.mark.parametrize("field, value", [("key", "../../escape"), ("city", "../../.."), ("key", "/etc/passwd")])
def test_path_escape_refused(tmp_path, field, value):
    row = _row("ok", {"boats": "Yes"})
    row[field] = value
    root = write_geochain(tmp_path / "g", [row], images=False)
    with pytest.raises(GeobenchError, match="escapes|bad file name|refused"):
        list(GeoChain(folder=root).docs())


# ---------------------------------------------------------------------------------------------- JSONL


def _jsonl(tmp_path: Path, rows: list[dict]) -> Path:
    _png(tmp_path / "imgs" / "a.png")
    path = tmp_path / "scene.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_loader_scores(tmp_path):
    rows = [
        {"id": 1, "image": "imgs/a.png", "question": "Any boats?", "options": None, "answer": "yes",
         "question_key": "boats"},
        {"id": 2, "image": "imgs/a.png", "question": "Any boats?", "options": None, "answer": False,
         "question_key": "boats"},
        {"id": 3, "image": "imgs/a.png", "question": "Side?", "options": ["Left", "Right"], "answer": "B",
         "question_key": "driving_side"},
        {"id": 4, "image": "imgs/a.png", "question": "Side?", "options": ["Left", "Right"], "answer": "left",
         "question_key": "driving_side"},
        {"id": 5, "image": "imgs/a.png", "question": "Climate?", "options": ["Dry", "Polar", "Tropical"],
         "answer": "Polar"},
    ]
    task = SceneJSONL(_jsonl(tmp_path, rows), name="my_scene")
    docs = list(task.docs())
    assert [d.fields["answer"] for d in docs] == ["yes", "no", "Right", "Left", "Polar"]
    assert [d.fields["answer_letter"] for d in docs] == [None, None, "B", "A", "B"]
    out = geobench.evaluate("<think>hm</think><answer>B</answer>", [task], backend="dummy", output=None,
                            progress=False)
    res = out["results"]["my_scene"]
    assert res["acc,none"] == pytest.approx(2 / 5)  # docs 3 and 5; "B" is no yes/no
    assert res["acc_boats,none"] == 0.0 and res["acc_driving_side,none"] == 0.5
    assert res["acc_macro,none"] == pytest.approx(0.25)
    assert res["parse_rate,none"] == pytest.approx(3 / 5) and res["format_rate,none"] == 1.0


@pytest.mark.parametrize("bad, match", [
    ({"options": None, "answer": "maybe"}, "needs answer yes or no"),
    ({"options": ["Left", "Right"], "answer": "C"}, "neither an option letter"),
    ({"options": ["Left"], "answer": "A"}, "options must be"),
    ({"image": "../outside.png"}, "escapes"),
])
def test_jsonl_bad_rows(tmp_path, bad, match):
    row = {"id": 1, "image": "imgs/a.png", "question": "Q?", "options": None, "answer": "yes", **bad}
    with pytest.raises(GeobenchError, match=match):
        list(SceneJSONL(_jsonl(tmp_path, [row])).docs())


def test_jsonl_missing_file(tmp_path):
    status = SceneJSONL(tmp_path / "none.jsonl").data_status()
    assert status and "none.jsonl" in status and "\n" not in status


# -------------------------------------------------------------------------------------------- parsing

CLIMATE = ["Tropical", "Dry", "Temperate", "Continental", "Polar"]
CONTINENTS = ["North America", "South America", "Europe", "Africa", "Asia", "Oceania", "Antarctica"]
SIDE = ["Left", "Right"]


@pytest.mark.parametrize("text, options, expected", [
    ("<answer>yes</answer>", None, "yes"),
    ("<think>maybe no</think><answer>Yes.</answer>", None, "yes"),
    ("<answer>NO</answer>", None, "no"),
    ("No, there are none.", None, "no"),
    ("<answer>yes and no</answer>", None, None),
    ("<answer>unclear</answer>", None, None),
    ("<think>yes</think>", None, None),
    ("<answer>C</answer>", CLIMATE, "C"),
    ("<answer>(b)</answer>", CLIMATE, "B"),
    ("<answer>E.</answer>", CLIMATE, "E"),
    ("<answer>B. Dry</answer>", CLIMATE, "B"),
    ("<answer>B. Polar</answer>", CLIMATE, None),  # letter and text disagree
    ("<answer>The answer is D</answer>", CLIMATE, "D"),
    ("<answer>temperate</answer>", CLIMATE, "C"),
    ("<answer>A temperate climate</answer>", CLIMATE, "C"),
    ("<answer>arid</answer>", CLIMATE, "B"),
    ("<answer>Dry or Polar</answer>", CLIMATE, None),
    ("<answer>F</answer>", CLIMATE, None),  # no such option
    ("<answer>left</answer>", SIDE, "A"),
    ("<answer>They drive on the left-hand side</answer>", SIDE, "A"),
    ("<answer>left or right</answer>", SIDE, None),
    ("<answer>Europe</answer>", CONTINENTS, "C"),
    ("<answer>south america</answer>", CONTINENTS, "B"),
    ("<answer>Australia</answer>", CONTINENTS, "F"),
    ("<answer>G</answer>", CONTINENTS, "G"),
    ("<answer>Europe or Asia</answer>", CONTINENTS, None),
    ("<answer>yes</answer>", CONTINENTS, None),
    ("", CONTINENTS, None),
])
def test_parse_table(text, options, expected):
    assert parse_answer(text, options) == expected


# ---------------------------------------------------------------------------------------------- toy


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_toy_export_is_deterministic(tmp_path):
    splits = {"test": 5, "train": 3}
    a = toy_datasets.build("scene", tmp_path / "a", splits, seed=3)
    b = toy_datasets.build("scene", tmp_path / "b", splits, seed=3)
    c = toy_datasets.build("scene", tmp_path / "c", splits, seed=4)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert sum(name.endswith(".png") for name in fa) == 8
    assert fa == fb
    assert fa["test_samples_with_answers.csv"] != fc["test_samples_with_answers.csv"]


def test_toy_truth_equals_place_facts(tmp_path):
    folder = toy_datasets.build("scene", tmp_path / "t", {"test": 12, "train": 2}, seed=7)
    places = scene.toy_places(12, 7, "test")
    docs = list(SceneToy(folder=folder, per_question={}).docs())
    assert len(docs) == 12 * len(QUESTION_KEYS)
    for d in docs:
        i = int(d.fields["image_id"].rsplit("-", 1)[1])
        facts, k, ans = places[i].facts(), d.fields["question_key"], d.fields["answer"]
        if k in BINARY_KEYS:
            assert ans == ("yes" if facts[k] else "no"), d.id
        else:
            assert ans.lower() == str(facts[k]).lower(), d.id
    toy = SceneToy(folder=folder)
    assert toy.default_gen.max_new_tokens == 64 and toy.data_status() is None


def test_scene_toy_default_split_size_and_balance():
    task = geobench.plugin_manager.registry().task("scene_toy")
    assert task.group == "scene" and task.data_status() is None
    docs = list(task.docs())
    assert 200 <= len(docs) <= 400
    for k in ("near_equator", "big_city", "driving_side"):
        answers = [d.fields["answer"] for d in docs if d.fields["question_key"] == k]
        assert len(set(answers)) == 2 and abs(answers.count(answers[0]) * 2 - len(answers)) <= 2, k
    out = geobench.evaluate("<think>x</think><answer>no</answer>", "scene_toy", backend="dummy", output=None,
                            progress=False, limit=40)
    assert out["results"]["scene_toy"]["format_rate,none"] == 1.0


def test_module_import_is_light():
    code = "import sys, geobench.tasks.scene; assert 'torch' not in sys.modules; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr
