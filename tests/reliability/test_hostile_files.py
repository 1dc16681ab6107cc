"""Crafted dataset folders: image paths that are FIFOs, links to files outside the dataset or to /dev/zero,
oversized images, 200 KB CSV fields, 5,000-digit image numbers and CVUSA rows that leave the dataset. Each is
one line naming the file (and row) by default, skipped and counted by reason under --on-error skip, and none
of them blocks the run or reads without bound."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from reliability_helpers import make_benchmark, read_rows, write_rows

import geobench
from geobench import data
from geobench.errors import GeobenchError
from geobench.tasks.crossview.loaders import CVUSA
from geobench.tasks.geolocation import Im2gps3k

N = 5


def image(root: Path, i: int = 2) -> Path:
    return root / "images" / f"img_{i}.png"


def fifo(root: Path) -> None:
    image(root).unlink()
    os.mkfifo(image(root))


def outside_link(root: Path) -> None:
    secret = root.parent / "outside.png"
    image(root).rename(secret)
    image(root).symlink_to(secret)


def dev_zero(root: Path) -> None:
    image(root).unlink()
    image(root).symlink_to("/dev/zero")


def long_field(root: Path) -> None:
    rows = read_rows(root)
    rows[2][1] = "x" * 200_000
    write_rows(root, rows)


PROBLEMS = {  # mutate, reason under skip, what the raise-mode line names
    "FIFO image": (fifo, "image not a regular file", "img_2.png"),
    "link to a file outside the dataset": (outside_link, "path outside the dataset", "img_2.png"),
    "link to /dev/zero": (dev_zero, "path outside the dataset", "img_2.png"),
    "200 KB CSV field": (long_field, "bad row", "im2gps3k_places365.csv:4"),
}


def run(root: Path, on_error: str = "raise") -> dict:
    return geobench.evaluate("random", [Im2gps3k(root)], backend="dummy", output=None, use_cache=False,
                             progress=False, on_error=on_error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_hostile_files_are_one_line_or_skipped_and_counted(problem, tmp_path):
    mutate, reason, names = PROBLEMS[problem]
    root = make_benchmark(tmp_path / "im2gps3k", N)
    mutate(root)
    t0 = time.monotonic()
    with pytest.raises(GeobenchError) as err:
        run(root)
    msg = str(err.value)
    assert "\n" not in msg and names in msg, msg
    res = run(root, "skip")
    assert res["skipped"] == {"im2gps3k": {reason: 1}}
    assert res["n-samples"]["im2gps3k"]["effective"] == N - 1
    assert time.monotonic() - t0 < 30, "nothing blocks"


def test_links_leaving_the_dataset_are_followed_only_when_asked(tmp_path, monkeypatch):
    root = make_benchmark(tmp_path / "im2gps3k", N)
    outside_link(root)
    monkeypatch.setenv("GEOBENCH_FOLLOW_LINKS", "1")
    assert run(root)["n-samples"]["im2gps3k"]["effective"] == N


def test_links_inside_the_dataset_are_followed(tmp_path):
    root = make_benchmark(tmp_path / "im2gps3k", N)
    moved = root / "elsewhere" / "img.png"
    moved.parent.mkdir()
    image(root).rename(moved)
    image(root).symlink_to(moved)
    assert run(root)["n-samples"]["im2gps3k"]["effective"] == N


def test_an_image_over_the_size_cap_is_refused(tmp_path, monkeypatch):
    root = make_benchmark(tmp_path / "im2gps3k", N)
    image(root).write_bytes(image(root).read_bytes() + b"\0" * 300_000)
    monkeypatch.setenv("GEOBENCH_MAX_IMAGE_MB", "0.25")
    with pytest.raises(GeobenchError, match="img_2.png is .* bytes, over the 262144 byte limit"):
        run(root)
    assert run(root, "skip")["skipped"] == {"im2gps3k": {"image too large": 1}}


def test_a_metadata_file_that_is_a_fifo_never_hangs(tmp_path):
    path = tmp_path / "table.csv"
    os.mkfifo(path)
    t0 = time.monotonic()
    with pytest.raises(GeobenchError, match="not a regular file"):
        data.read_text(path)
    assert time.monotonic() - t0 < 5


def cvusa(tmp_path: Path, rows: list[str]) -> CVUSA:
    root = tmp_path / "cvusa"
    (root / "splits").mkdir(parents=True)
    (root / "splits" / "val-19zl.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("bad, reason", [("bingmap/../../../etc/x/0000002.jpg,streetview/0000002.jpg",
                                          "path outside the dataset"),
                                         ("bingmap/" + "9" * 5000 + ".jpg,streetview/x.jpg", "bad row")])
def test_cvusa_bad_rows_are_skipped_and_counted_or_named_by_file_and_row(tmp_path, bad, reason, monkeypatch):
    root = cvusa(tmp_path, ["bingmap/0000001.jpg,streetview/0000001.jpg", bad,
                            "bingmap/0000003.jpg,streetview/0000003.jpg"])
    monkeypatch.setenv("GEOBENCH_DATA_CVUSA", str(root))
    task = CVUSA()
    with pytest.raises(GeobenchError) as err:
        task.read_pool("test")
    assert "val-19zl.csv:2" in str(err.value) and "\n" not in str(err.value)
    with data.collecting_skips() as skipped:
        pool = task.read_pool("test")
    assert len(pool.queries) == 2 and dict(skipped.counts) == {reason: 1}
