"""Edge cases found in review: each one once lost data, mixed results or crashed with a traceback."""

from __future__ import annotations

import json
import os
import stat

import pytest

import geobench
from conftest import run_cli
from geobench.data import read_csv, read_jsonl
from geobench.errors import GeobenchError


def test_csv_keeps_unicode_line_separators_and_multiline_fields(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('id,q\n1,hello\u2028world\n2,"multi\nline"\n', encoding="utf-8")
    rows = read_csv(p, required=("id", "q"))
    assert [r["id"] for r in rows] == ["1", "2"] and rows[1]["q"] == "multi\nline"
    j = tmp_path / "q.jsonl"
    j.write_text(json.dumps({"id": "1", "q": "a\u2028b"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_jsonl(j, required=("id",))[0]["q"] == "a\u2028b"


def test_csv_row_with_more_fields_than_header_is_a_one_line_error(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("id,q\n1,a,EXTRA\n", encoding="utf-8")
    with pytest.raises(GeobenchError, match="q.csv:2: more fields than the header"):
        read_csv(p, required=("id",))


def test_group_rows_pool_per_sample_metrics_by_real_counts(tmp_path):
    from geobench.evaluator import group_aggregate

    row = group_aggregate({"a": [{"acc": 1.0, "acc_boats": 1.0}, {"acc": 0.0}],
                           "b": [{"acc": 0.0, "acc_boats": 0.0}, {"acc": 0.0, "acc_boats": 0.0}]})
    assert row["acc,none"] == 0.25 and row["acc_boats,none"] == pytest.approx(1 / 3)


def test_results_files_are_readable_by_others(tmp_path):
    out = tmp_path / "res"
    geobench.evaluate("random", "geoloc_toy", backend="dummy", limit=2, output=out, progress=False)
    old = os.umask(0)
    os.umask(old)
    for path in [*out.glob("*/*.json*"), out / "table.csv"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~old, path


def test_bad_cache_path_and_fractional_ints_and_finished_run_name_are_one_line_errors(tmp_path):
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--limit", "1", "--output", str(tmp_path / "o"),
                "--cache-path", str(tmp_path))
    assert r.returncode == 2 and "cannot use the response cache" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--gen-kwargs", "max_new_tokens=2.7",
                "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "bad value for max_new_tokens" in r.stderr
    args = ("eval", "--model", "random", "--backend", "dummy", "--tasks", "geoloc_toy", "--limit", "1",
            "--output", str(tmp_path / "o"), "--run-name", "x", "-q")
    assert run_cli(*args).returncode == 0
    again = run_cli(*args)
    assert again.returncode == 2 and "already holds a finished run" in again.stderr


def test_seeded_sampling_does_not_depend_on_batch_size(tiny_model_path, tmp_path):
    """Cached seeded samples must be the same whatever the batch: one request per batch, seeded each time."""
    from geobench.plugins.hf import HFBackend

    kw = dict(limit=4, gen_kwargs="do_sample=true,seed=1,max_new_tokens=6", output=tmp_path, progress=False,
              use_cache=False)
    completions = []
    for bs in (1, 4):
        res = geobench.evaluate(HFBackend(tiny_model_path, batch_size=bs), "geoloc_toy", run_name=f"b{bs}", **kw)
        lines = (tmp_path / f"b{bs}" / "samples_geoloc_toy.jsonl").read_text().splitlines()
        completions.append([json.loads(line)["completion"] for line in lines])
        assert res["results"]
    assert completions[0] == completions[1]
