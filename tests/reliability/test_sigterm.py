"""SIGTERM (a batch scheduler's time limit; torchrun stopping the other ranks of a failed job) stops `geobench
eval` like Ctrl-C: one line, exit 143, no results.json, and what finished stays in the cache for the rerun."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time


def _cached(cache) -> int:
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM responses").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigterm_stops_an_eval_in_one_line_and_keeps_what_finished(tmp_path, tiny_model_path):
    cache, out = tmp_path / "c.sqlite", tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "geobench", "eval", "--model", "tiny", "--tasks", "geoloc_toy",
                             "--limit", "200", "--cache-path", str(cache), "--output", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and not _cached(cache):
        time.sleep(0.1)  # generation is under way once the first completion is cached
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == "geobench: terminated" and "Traceback" not in err
    assert not list(out.glob("*/results.json"))
    assert 0 < _cached(cache) < 200
