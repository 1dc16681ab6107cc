"""The response cache is the resume journal: kill -9 a run, rerun it, and nothing finished is generated again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import geobench
from geobench.cache import ResponseCache

KILLER = Path(__file__).with_name("kill_after_cached.py")


def eval_cmd(out: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "geobench", "eval", "--model", "random", "--backend", "dummy",
            "--tasks", "geoloc_toy", "--limit", "40", "--output", str(out), "--cache-path", str(cache), "-q",
            *extra]


def cached_rows(cache: Path) -> int:
    try:
        with sqlite3.connect(cache) as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # the run has created the file but not yet its table
        return 0


def only_results(path: Path) -> dict:
    return json.loads(path.read_text())["results"]


def test_kill_9_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path):
    out, cache = tmp_path / "res", tmp_path / "cache.sqlite"
    # killed right after its 17th completion is cached (an event, not a delay: the same on a loaded machine)
    proc = subprocess.Popen([sys.executable, str(KILLER), "17", *eval_cmd(out, cache)[3:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.wait(timeout=300) == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    done_before = cached_rows(cache)
    assert done_before == 17
    assert not list(out.glob("*/results.json")), "a killed run must not leave results.json"
    journal = next(out.glob("*/samples_geoloc_toy.jsonl.partial"))
    journal_ids = {json.loads(line)["doc_id"] for line in journal.read_text().splitlines() if line.strip()}

    r = subprocess.run(eval_cmd(out, cache), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    resumed = json.loads(next(out.glob("*/results.json")).read_text())
    assert resumed["timing"]["generated_samples"] == 40 - done_before
    assert resumed["timing"]["cache_hits"] == done_before
    assert journal_ids <= {f"toy_{i:05d}.png" for i in range(40)}

    clean_out = tmp_path / "clean"
    r = subprocess.run(eval_cmd(clean_out, tmp_path / "other.sqlite"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert only_results(next(clean_out.glob("*/results.json"))) == resumed["results"]
    resumed_samples = next(p for p in out.glob("*/samples_geoloc_toy.jsonl"))
    clean_samples = next(clean_out.glob("*/samples_geoloc_toy.jsonl"))
    assert resumed_samples.read_text() == clean_samples.read_text()


class CountingBackend(geobench.Backend):
    """Counts what it is asked to generate, to prove cache hits never reach the backend."""

    name = "counting"

    def __init__(self):
        self.seen: list[str] = []

    def fingerprint(self):
        return {"backend": "counting"}

    def generate(self, requests):
        for i, r in enumerate(requests):
            self.seen.append(r.doc_id)
            yield i, geobench.Completion(text=f"<answer>(10, {i % 50})</answer>", n_tokens=3)


def test_second_run_is_all_cache_hits(tmp_path):
    be = CountingBackend()
    first = geobench.evaluate(be, "geoloc_toy", limit=15, output=tmp_path / "r", cache_path=tmp_path / "c.sqlite",
                              progress=False)
    assert len(be.seen) == 15
    second = geobench.evaluate(be, "geoloc_toy", limit=15, output=tmp_path / "r",
                               cache_path=tmp_path / "c.sqlite", progress=False)
    assert len(be.seen) == 15 and second["timing"]["cache_hits"] == 15
    assert first["results"] == second["results"]


def test_cache_key_changes_with_generation_settings_and_sampling_without_seed_is_not_cached(tmp_path):
    be = CountingBackend()
    kw = dict(limit=5, output=None, cache_path=tmp_path / "c.sqlite", progress=False)
    geobench.evaluate(be, "geoloc_toy", **kw)
    geobench.evaluate(be, "geoloc_toy", gen_kwargs="max_new_tokens=7", **kw)
    assert len(be.seen) == 10  # a different GenConfig is a different request
    geobench.evaluate(be, "geoloc_toy", gen_kwargs="do_sample=true", **kw)
    geobench.evaluate(be, "geoloc_toy", gen_kwargs="do_sample=true", **kw)
    assert len(be.seen) == 20  # sampling without a seed is never cached
    geobench.evaluate(be, "geoloc_toy", gen_kwargs="do_sample=true", seed=3, **kw)
    geobench.evaluate(be, "geoloc_toy", gen_kwargs="do_sample=true", seed=3, **kw)
    assert len(be.seen) == 25  # with an explicit seed it is
    assert len(ResponseCache(tmp_path / "c.sqlite")) == 15


def test_cache_key_covers_image_bytes(tmp_path):
    """Changing one image's bytes (same path, same doc id) must miss the cache for that doc only."""
    from PIL import Image

    from geobench import toydata as datasets
    from geobench.tasks.geolocation import GeolocToy

    folder = datasets.build("geolocation", tmp_path / "toy", splits={"test": 4})
    be = CountingBackend()
    kw = dict(output=None, cache_path=tmp_path / "c.sqlite", progress=False)
    geobench.evaluate(be, [GeolocToy(folder)], **kw)
    img = folder / "images" / "toy_00002.png"
    os.utime(img)  # touching is not changing
    geobench.evaluate(be, [GeolocToy(folder)], **kw)
    assert len(be.seen) == 4
    Image.new("RGB", (96, 96), (1, 2, 3)).save(img)
    geobench.evaluate(be, [GeolocToy(folder)], **kw)
    assert be.seen[4:] == ["toy_00002.png"]
