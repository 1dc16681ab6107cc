"""Concurrency: runs started at the same time into one results/ folder and one cache file.

Three `geobench eval` processes at once: two different models and the first model again, all sharing
results/ and the response cache. Each must finish with the results a run alone gets; results/table.csv must
hold every run, equal to the table rebuilt from the run folders; the cache must pass sqlite's integrity check
and hold exactly one well-formed row per distinct request; no results file is ever seen half-written.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
from reliability_helpers import Watcher

import geobench
from geobench.results import dumps, tables_agree

TASKS, LIMIT = "crossview_toy,scene_toy", 15
MODELS = ["random", "<answer>A</answer>", "random"]


@pytest.mark.slow
def test_three_runs_at_once_share_results_and_cache_intact(tmp_path):
    out, cache = tmp_path / "results", tmp_path / "cache.sqlite"
    alone = {m: json.loads(dumps(geobench.evaluate(m, TASKS, backend="dummy", limit=LIMIT, output=None,
                                                   use_cache=False, progress=False)["results"]))
             for m in set(MODELS)}  # (as written to disk: NaN as null)
    watcher = Watcher(out)
    watcher.start()
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "geobench", "eval", "--model", m, "--backend", "dummy",
                                   "--tasks", TASKS, "--limit", str(LIMIT), "--output", str(out), "--cache-path",
                                   str(cache), "--model-args", "delay=0.01", "-q"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for m in MODELS]
        for p in procs:
            _, err = p.communicate(timeout=180)
            assert p.returncode == 0, err.decode()
    finally:
        watcher.stop.set()
        watcher.join()
    watcher.sweep()
    assert watcher.problems == [], watcher.problems[:5]

    runs = sorted(out.glob("*/results.json"))
    assert len(runs) == 3
    for path in runs:
        res = json.loads(path.read_text())
        assert res["results"] == alone[res["config"]["model"]]
    table = pd.read_csv(out / "table.csv")
    assert table["run"].nunique() == 3 and set(table["model"]) == set(MODELS)
    assert tables_agree(out)

    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT key, completion FROM responses").fetchall()
    n_docs = sum(res["n-samples"][t]["effective"] for t in res["n-samples"])
    assert len(rows) == len(set(MODELS)) * n_docs  # the repeated model added no second copy
    assert all(set(json.loads(v)) == {"text", "n_tokens", "finish_reason"} for _, v in rows)
