"""Bad input: every broken file either stops the run with one line naming the file and the problem (the default),
or, with on_error="skip", leaves the sample out and counts it per reason in results.json. Neither ever touches
results already written, and a skipped sample is never cached as an answer."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from reliability_helpers import bomb_png, csv_path, make_benchmark, read_rows, snapshot, write_rows

import geobench
from conftest import run_cli
from geobench.errors import GeobenchError
from geobench.evaluator import summary_lines
from geobench.tasks.geolocation import Im2gps3k

N = 6


def image(root: Path, i: int = 2) -> Path:
    return root / "images" / f"img_{i}.png"


def set_cell(row: int, col: int, value: str):
    def mutate(root: Path):
        rows = read_rows(root)
        rows[row][col] = value
        write_rows(root, rows)
    return mutate


def append_raw(line: bytes):
    def mutate(root: Path):
        with open(csv_path(root), "ab") as f:
            f.write(line)
    return mutate


# (mutation, reason counted when skipping, what the one-line error must name, how many samples remain)
SAMPLE_PROBLEMS = {
    "corrupt image": (lambda r: image(r).write_bytes(b"\x89PNG\r\n\x1a\n not an image"), "corrupt image",
                      "img_2.png", N - 1),
    "zero-byte image": (lambda r: image(r).write_bytes(b""), "empty image", "img_2.png", N - 1),
    "truncated image": (lambda r: image(r).write_bytes(image(r).read_bytes()[:200]), "truncated image",
                        "img_2.png", N - 1),
    "decompression bomb": (lambda r: bomb_png(image(r)), "image too large", "img_2.png", N - 1),
    "missing image file": (lambda r: image(r).unlink(), "missing image", "img_2.png", N - 1),
    "row with extra fields": (append_raw(b"img_0.png,me,1,2,EXTRA\n"), "bad row", "im2gps3k_places365.csv", N),
    "NaN latitude": (set_cell(1, 2, "nan"), "bad coordinates", "im2gps3k_places365.csv", N - 1),
    "out-of-range longitude": (set_cell(3, 3, "181"), "bad coordinates", "im2gps3k_places365.csv", N - 1),
    "duplicated id": (append_raw(b"img_1.png,me,1,2\n"), "duplicated id", "im2gps3k_places365.csv", N),
    "non-UTF-8 bytes": (append_raw(b"img_9\xff\xfe.png,me,1,2\n"), "not UTF-8", "im2gps3k_places365.csv", N),
    "path escaping the dataset": (set_cell(4, 0, "../../../../etc/passwd"), "path outside the dataset",
                                  "escapes the dataset root", N - 1),
}

FILE_PROBLEMS = {
    "missing column": (lambda r: write_rows(r, [["img_0.png", "me", "1"]], header=["IMG_ID", "AUTHOR", "LAT"]),
                       "missing column"),
    "empty dataset": (lambda r: write_rows(r, []), "no data rows"),
    "empty file": (lambda r: csv_path(r).write_bytes(b""), "missing column"),
    "non-UTF-8 header": (lambda r: csv_path(r).write_bytes(b"IMG_ID,AUTH\xffOR,LAT,LON\nimg_0.png,me,1,2\n"),
                         "not UTF-8"),
}


@pytest.fixture
def bench(tmp_path) -> Path:
    return make_benchmark(tmp_path / "im2gps3k", N)


def run(root: Path, out: Path | None, cache: Path, on_error: str = "raise", **kw) -> dict:
    return geobench.evaluate("random", [Im2gps3k(root)], backend="dummy", output=out, cache_path=cache,
                             progress=False, on_error=on_error, **kw)


def cache_rows(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


@pytest.mark.parametrize("problem", list(SAMPLE_PROBLEMS))
def test_bad_sample_stops_in_one_line_or_is_skipped_and_counted(problem, bench, tmp_path):
    mutate, reason, names, remaining = SAMPLE_PROBLEMS[problem]
    out = tmp_path / "results"
    run(bench, out, tmp_path / "good.sqlite")  # results already written, which nothing below may touch
    before = snapshot(out)
    mutate(bench)

    with pytest.raises(GeobenchError) as err:
        run(bench, out, tmp_path / "raise.sqlite")
    msg = str(err.value)
    assert "\n" not in msg and names in msg, msg
    assert snapshot(out) == before, "a failed run changed results already written"

    cache = tmp_path / "skip.sqlite"
    res = run(bench, out, cache, on_error="skip")
    assert res["skipped"] == {"im2gps3k": {reason: 1}}
    assert res["n-samples"]["im2gps3k"] == {"original": remaining + 1, "effective": remaining}
    assert next(iter(res["skipped_examples"]["im2gps3k"].values())).count("\n") == 0
    assert any(reason in line and "skipped 1" in line for line in summary_lines(res))
    samples = (Path(res["run_dir"]) / "samples_im2gps3k.jsonl").read_text().splitlines()
    assert len(samples) == remaining
    assert cache_rows(cache) == remaining, "a skipped sample must not be cached"
    on_disk = json.loads((Path(res["run_dir"]) / "results.json").read_text())
    assert on_disk["skipped"] == res["skipped"] and on_disk["config"]["on_error"] == "skip"
    after = snapshot(out)
    assert all(after[k] == v for k, v in before.items() if not k.startswith("table.")), "earlier run changed"
    again = run(bench, None, cache, on_error="skip")  # a rerun: the good samples come from the cache
    assert again["timing"]["cache_hits"] == remaining and again["skipped"] == res["skipped"]


@pytest.mark.parametrize("problem", list(FILE_PROBLEMS))
def test_a_broken_file_stops_the_run_even_when_skipping(problem, bench, tmp_path):
    mutate, message = FILE_PROBLEMS[problem]
    mutate(bench)
    for on_error in ("raise", "skip"):
        with pytest.raises(GeobenchError, match=message) as err:
            run(bench, tmp_path / "results", tmp_path / "c.sqlite", on_error=on_error)
        assert "\n" not in str(err.value) and "im2gps3k_places365.csv" in str(err.value)
    assert not list((tmp_path / "results").glob("*/results.json"))


def test_extra_columns_and_keys_are_accepted(bench, tmp_path):
    rows = [r + ["extra"] for r in read_rows(bench)]
    write_rows(bench, rows, header=["IMG_ID", "AUTHOR", "LAT", "LON", "NOTES"])
    assert run(bench, None, tmp_path / "c.sqlite")["n-samples"]["im2gps3k"]["effective"] == N


def test_every_sample_skipped_is_an_error_naming_the_reasons(bench, tmp_path):
    for i in range(N):
        image(bench, i).write_bytes(b"")
    with pytest.raises(GeobenchError, match="no documents left.*empty image: 6"):
        run(bench, None, tmp_path / "c.sqlite", on_error="skip")


def test_skip_also_covers_the_scene_jsonl_loader(tmp_path):
    from reliability_helpers import write_image

    from geobench.tasks.scene import SceneJSONL

    write_image(tmp_path / "a.png", 1)
    rows = [{"id": "1", "image": "a.png", "question": "Boats?", "options": None, "answer": "yes"},
            {"id": "2", "image": "a.png", "question": "Boats?", "options": None, "answer": "maybe"},
            {"id": "3", "image": "../a.png", "question": "Boats?", "options": None, "answer": "no"},
            {"id": "4", "image": "a.png", "question": "Boats?", "options": None}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    res = geobench.evaluate("<answer>yes</answer>", [SceneJSONL(path)], backend="dummy", output=None,
                            progress=False, on_error="skip", use_cache=False)
    assert res["skipped"]["scene_jsonl"] == {"bad answer": 1, "path outside the dataset": 1, "bad row": 2}
    with pytest.raises(GeobenchError, match=r"q.jsonl:4: missing key\(s\) answer"):
        geobench.evaluate("x", [SceneJSONL(path)], backend="dummy", output=None, progress=False)


def test_bad_images_are_found_before_the_model_loads(bench, tmp_path, tiny_model_path, monkeypatch):
    """With the real hf backend: a corrupt image stops (or is skipped) before any weights are loaded."""
    from geobench.plugins.hf import HFBackend

    image(bench, 4).write_bytes(b"garbage")
    loads = []
    monkeypatch.setattr(HFBackend, "load_model", lambda self: loads.append(1) or (_ for _ in ()).throw(
        AssertionError("weights loaded")))
    with pytest.raises(GeobenchError, match="img_4.png"):
        geobench.evaluate(tiny_model_path, [Im2gps3k(bench)], output=None, progress=False, use_cache=False)
    assert loads == []
    monkeypatch.undo()
    res = geobench.evaluate(tiny_model_path, [Im2gps3k(bench)], output=None, progress=False, use_cache=False,
                            on_error="skip", gen_kwargs="max_new_tokens=2", batch_size=4)
    assert res["skipped"]["im2gps3k"] == {"corrupt image": 1} and res["n-samples"]["im2gps3k"]["effective"] == N - 1


def test_cli_error_is_one_line_naming_the_file(bench, tmp_path):
    image(bench, 1).write_bytes(b"")
    out = tmp_path / "results"
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--tasks", "im2gps3k", "--output", str(out),
                "-q", env={"GEOBENCH_DATA_IM2GPS3K": str(bench)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "img_1.png" in lines[0] and "empty" in lines[0], r.stderr
    assert not list(out.glob("*/results.json"))


def test_cli_on_error_skip_reports_the_skipped_samples(bench, tmp_path):
    image(bench, 1).write_bytes(b"")
    out = tmp_path / "results"
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--tasks", "im2gps3k", "--output", str(out),
                "--on-error", "skip", env={"GEOBENCH_DATA_IM2GPS3K": str(bench)})
    assert r.returncode == 0, r.stderr
    assert "skipped 1" in r.stderr and "empty image" in r.stderr
    res = json.loads(next(out.glob("*/results.json")).read_text())
    assert res["skipped"] == {"im2gps3k": {"empty image": 1}}


# ----------------------------------------------------------------------------------------- configs


def test_task_config_with_unknown_keys_is_one_line(tmp_path):
    with pytest.raises(GeobenchError, match=r"task 'crossview_toy': unknown config key 'kk'.*known: k, radius_km"):
        geobench.evaluate("random", "crossview_toy", backend="dummy", output=None, progress=False,
                          task_args={"crossview_toy": {"kk": 2}})
    with pytest.raises(GeobenchError, match=r"task 'crossview_toy'.*k must be in 2\.\.") as err:
        geobench.evaluate("random", "crossview_toy", backend="dummy", output=None, progress=False, task_args="k=1")
    assert "\n" not in str(err.value)
    with pytest.raises(GeobenchError, match="not being run"):
        geobench.evaluate("random", "geoloc_toy", backend="dummy", output=None, progress=False,
                          task_args={"crossview_toy": {"k": 2}})
    res = geobench.evaluate("random", "crossview_toy", backend="dummy", output=None, progress=False, limit=4,
                            task_args="k=2")
    assert res["configs"]["crossview_toy"]["k"] == 2


def test_model_folder_with_a_broken_config_is_one_line(tiny_model_path, tmp_path):
    broken = shutil.copytree(tiny_model_path, tmp_path / "broken")
    (broken / "config.json").write_text("{not json")
    r = run_cli("eval", "--model", str(broken), "--tasks", "geoloc_toy", "--limit", "1", "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and str(broken) in lines[0] and "config.json" in lines[0]
