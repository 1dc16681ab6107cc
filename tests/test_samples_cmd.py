"""`geobench samples`: a run's samples in the shell, as a table, JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

import geobench
from conftest import run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, session_home):
    out = tmp_path_factory.mktemp("samples") / "results"
    geobench.evaluate("random", "geoloc_toy,crossview_toy", backend="dummy", limit=8, output=out, run_name="r1",
                      progress=False)
    return out


def test_table_of_the_wrong_samples(run_dir):
    r = run_cli("samples", "r1", "--results", str(run_dir), "--task", "crossview_toy", "--wrong")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["doc_id", "status"] and "completion" in lines[0]
    assert all(" right " not in line for line in lines[1:]) and len(lines) > 1
    assert "right = acc is 1" in r.stderr


def test_jsonl_and_csv_carry_everything(run_dir):
    r = run_cli("samples", str(run_dir / "r1"), "--format", "jsonl", "--task", "geoloc_toy", "--limit", "3")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and {"task", "status", "doc_id", "completion", "parsed", "metrics"} <= set(rows[0])
    assert rows[0]["status"] in ("right", "wrong", "unparsed")  # right = acc@25km for geolocation
    r = run_cli("samples", "r", "--results", str(run_dir), "--format", "csv")  # a prefix: the newest match
    assert r.returncode == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(table) == 16 and {"acc", "distance_km", "completion"} <= set(table[0])


def test_samples_errors_are_one_line(run_dir):
    for args, needle in [(["nope"], "no run 'nope'"), (["r1", "--task", "scene_toy"], "has no task 'scene_toy'"),
                         (["r1", "--task", "geoloc_toy", "--metric", "geoscore"], "not right/wrong")]:
        r = run_cli("samples", *args, "--results", str(run_dir))
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
