"""A response cache written before the house-plan refactor (commit 7c341be) is still a cache hit after it.

`tests/golden/cache_keys.json` holds the cache keys that commit wrote for the runs below (dummy backend and the
built-in tiny model, the three toy tasks, a preset and a task config). Today's code must compute exactly the
same keys: every part of a key (model fingerprint, task name and version, doc ids, prompts with image hashes,
generation settings) is covered, so any drift in one of them fails here.
"""

from __future__ import annotations

import json
import sqlite3

import geobench
from conftest import REPO

RUNS = [
    dict(model="random", tasks="geoloc_toy,crossview_toy,scene_toy", backend="dummy"),
    dict(model="tiny", tasks="geoloc_toy,crossview_toy,scene_toy", backend="hf", gen_kwargs="max_new_tokens=4"),
    dict(model="tiny", tasks="crossview_toy", backend="hf", gen_kwargs="max_new_tokens=4", preset="miniHui/Geo-R1",
         task_args="k=3"),
]


def test_cache_keys_equal_those_written_before_the_refactor(tmp_path):
    cache = tmp_path / "responses.sqlite"
    for run in RUNS:
        geobench.evaluate(limit=3, output=None, cache_path=cache, progress=False, **run)
    with sqlite3.connect(cache) as con:
        keys = sorted(row[0] for row in con.execute("select key from responses"))
    golden = json.loads((REPO / "tests" / "golden" / "cache_keys.json").read_text())
    assert len(golden) == 21
    assert keys == golden


def test_a_run_against_the_old_keys_generates_nothing(tmp_path):
    """Seed a cache with the old keys only (as an old cache file holds them): the rerun is all hits."""
    cache = tmp_path / "responses.sqlite"
    golden = json.loads((REPO / "tests" / "golden" / "cache_keys.json").read_text())
    done = json.dumps({"text": "<answer>A</answer>", "n_tokens": 3, "finish_reason": "stop"})
    with sqlite3.connect(cache) as con:
        con.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL)")
        con.executemany("INSERT INTO responses VALUES (?, ?, 0)", [(k, done) for k in golden])
    for run in RUNS:
        res = geobench.evaluate(limit=3, output=None, cache_path=cache, progress=False, **run)
        assert res["timing"]["generated_samples"] == 0, run
