"""Kill anywhere, lose nothing: `geobench eval` is SIGKILLed at 10 random moments (while generating, right after
a cache commit, while scoring cached samples, with a results file written but not yet renamed into place, and
at random times), then rerun to completion each time. Checked every time:
- the rerun's results.json and samples files equal an uninterrupted run's;
- no sample is generated again once its completion was committed to the cache (a journal of backend calls);
- no half-written file is ever visible: a watcher thread parses every results file under its final name,
  continuously, while the runs are killed (temp files are dot-files; `*.partial` is the append-only journal);
- results/table.csv always equals the table rebuilt from the run folders.
GEOBENCH_KILL_SEED=N draws other moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from reliability_helpers import Watcher, comparable

import geobench
from geobench.results import tables_agree

DRIVER = Path(__file__).with_name("kill_driver.py")
TASKS = "crossview_toy,scene_toy"  # (geoloc_toy adds ~1 s of toy-planet set-up per process)
LIMIT = 12
N_DOCS = 2 * LIMIT
ARGS = ["eval", "--model", "random", "--backend", "dummy", "--tasks", TASKS, "--limit", str(LIMIT),
        "--model-args", "delay=0.01", "-q"]
# (point, range of n): each point's events in one run of ARGS (see kill_driver.py); "scored" starts after the
# samples generated in this run, so the kill lands in the pass that scores cached samples.
RUN_SECONDS = 2.5  # about one run's wall time on 2 cores: timer kills fall anywhere from start-up to the end
MOMENTS = [("generated", (1, N_DOCS)), ("generated", (1, N_DOCS)), ("cached", (1, N_DOCS)),
           ("scored", (N_DOCS // 2 + 1, N_DOCS)), ("scored", (N_DOCS // 2 + 1, N_DOCS)),
           ("replace", (1, 6)), ("replace", (1, 6)), ("replace", (1, 6)), ("timer", None), ("timer", None)]


def launch(out: Path, cache: Path, log: Path, kill_at: str = "none:0") -> subprocess.Popen:
    env = {**os.environ, "KILL_AT": kill_at, "GEN_LOG": str(log)}
    return subprocess.Popen([sys.executable, str(DRIVER), *ARGS, "--output", str(out), "--cache-path", str(cache)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finished_runs(out: Path) -> list[Path]:
    return sorted(out.glob("*/results.json"), key=lambda p: p.stat().st_mtime)


def generated_after_cached(log: Path) -> list[str]:
    cached, bad = set(), []
    for line in log.read_text().splitlines():
        what, key = line.split(" ", 1)
        if what == "cached":
            cached.add(key)
        elif key in cached:
            bad.append(key)
    return bad


def samples(run: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(run.glob("samples_*.jsonl"))}


def kill_and_rerun(folder: Path, point: str, n: float, baseline: dict, base_samples: dict) -> str:
    """Kill a run at one moment, rerun it to completion, check everything; returns the moment's name."""
    folder.mkdir()
    out, cache, log = folder / "results", folder / "cache.sqlite", folder / "gen.log"
    moment = f"{point}:{n}" if point != "timer" else f"timer:{n:.2f}s"
    if point == "scored":  # half the samples are cached already: the run scores them after generating the rest
        geobench.evaluate("random", TASKS, backend="dummy", limit=LIMIT // 2, output=None, cache_path=cache,
                          progress=False)
    proc = launch(out, cache, log, moment)
    if point == "timer":
        try:
            proc.wait(timeout=n)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    rc = proc.wait(timeout=120)
    if point != "timer":
        assert rc == -signal.SIGKILL, f"{moment}: not killed (rc {rc}): {proc.stderr.read().decode()}"
    before = {p.parent for p in finished_runs(out)}

    proc = launch(out, cache, log)  # the same command again, to completion
    assert proc.wait(timeout=120) == 0, f"{moment}: rerun failed: {proc.stderr.read().decode()}"
    rerun = [p for p in finished_runs(out) if p.parent not in before]
    assert len(rerun) == 1, moment
    assert comparable(json.loads(rerun[0].read_text())) == comparable(baseline), f"{moment}: results differ"
    assert samples(rerun[0].parent) == base_samples, f"{moment}: samples differ"
    for other in finished_runs(out):  # a run killed after its results.json landed is complete too
        assert comparable(json.loads(other.read_text())) == comparable(baseline), moment
    assert generated_after_cached(log) == [], f"{moment}: a cached sample was generated again"
    assert tables_agree(out), f"{moment}: stale table.csv"
    return moment


@pytest.mark.slow
def test_sigkill_at_ten_random_moments_loses_nothing(tmp_path):
    rng = random.Random(int(os.environ.get("GEOBENCH_KILL_SEED", "20261125")))
    watcher = Watcher(tmp_path)
    watcher.start()
    try:
        proc = launch(tmp_path / "baseline", tmp_path / "baseline.sqlite", tmp_path / "baseline.log")
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()  # (builds the toy data if needed)
        first = finished_runs(tmp_path / "baseline")[0]
        baseline, base_samples = json.loads(first.read_text()), samples(first.parent)
        assert baseline["timing"]["generated_samples"] == N_DOCS
        moments = [(point, rng.randint(*span) if span else rng.uniform(0.3, RUN_SECONDS)) for point, span in MOMENTS]
        with ThreadPoolExecutor(2) as pool:  # two at a time: each process is mostly Python start-up
            done = list(pool.map(lambda i: kill_and_rerun(tmp_path / f"m{i}", *moments[i], baseline, base_samples),
                                 range(len(moments))))
        assert len(done) == 10
    finally:
        watcher.stop.set()
        watcher.join()
    watcher.sweep()
    assert watcher.problems == [], watcher.problems[:5]
    assert watcher.checked > 10 * 6  # every results file of every run, each version seen at least once
