"""End to end on the built-in tiny model: the README's first command, and reruns that never load the weights."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import geobench
from conftest import run_cli
from geobench.plugins.hf import HFBackend


def test_eval_tiny_all_tasks_end_to_end(tmp_path, tiny_model_path):
    r = run_cli("eval", "--model", "tiny", "--tasks", "all", "--limit", "4", "--batch-size", "2",
                "--gen-kwargs", "max_new_tokens=8", "--output", str(tmp_path / "results"))
    assert r.returncode == 0, r.stderr
    assert "geoloc_toy" in r.stdout and "acc@25km" in r.stdout
    run = next((tmp_path / "results").glob("tiny__*/results.json"))
    res = json.loads(run.read_text())
    assert res["config"]["model"] == "tiny" and res["config"]["backend"] == "hf"
    assert res["config"]["model_fingerprint"]["content_sha256"]
    assert res["timing"]["generated_samples"] == 4 * len(res["results"]) and len(res["results"]) >= 3
    assert (tmp_path / "results" / "table.csv").exists()
    r = run_cli("results", "--output", str(tmp_path / "results"), "--metric", "parse_rate")
    assert r.returncode == 0 and "tiny" in r.stdout


def test_all_cached_rerun_does_not_load_the_weights(tmp_path, tiny_model_path):
    kw = dict(limit=3, gen_kwargs="max_new_tokens=4", output=None, cache_path=tmp_path / "c.sqlite",
              progress=False)
    first = HFBackend(tiny_model_path)
    a = geobench.evaluate(first, "geoloc_toy", **kw)
    assert first.model is not None
    second = HFBackend(tiny_model_path)
    b = geobench.evaluate(second, "geoloc_toy", **kw)
    assert second.model is None, "all completions were cached: the weights must not be loaded"
    assert a["results"] == b["results"] and b["timing"]["cache_hits"] == 3


def test_an_all_cached_cli_rerun_imports_no_torch_transformers_or_pandas(tmp_path, tiny_model_path):
    """What keeps a cached rerun from the CLI a small fraction of the first run (benchmarks/bench_cache_rerun.py)."""
    code = ("import sys; from geobench.cli import main; rc = main(sys.argv[1:]); "
            "print('HEAVY', sorted(m for m in ('pandas', 'torch', 'transformers') if m in sys.modules)); sys.exit(rc)")
    args = ["eval", "--model", str(tiny_model_path), "--tasks", "geoloc_toy", "--limit", "3", "--gen-kwargs",
            "max_new_tokens=4", "--output", str(tmp_path / "res"), "--cache-path", str(tmp_path / "c.sqlite"), "-q"]
    runs = [subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    heavy = [next(line for line in r.stdout.splitlines() if line.startswith("HEAVY")) for r in runs]
    assert "'torch'" in heavy[0] and heavy[1] == "HEAVY []"
    assert "geoloc_toy" in runs[1].stdout and (tmp_path / "res" / "table.csv").read_text().count("geoloc_toy") > 2


def test_kill_9_with_the_tiny_model_then_resume(tmp_path, tiny_model_path):
    cache = tmp_path / "c.sqlite"
    cmd = [sys.executable, "-m", "geobench", "eval", "--model", tiny_model_path, "--tasks", "geoloc_toy",
           "--limit", "30", "--gen-kwargs", "max_new_tokens=48", "--output", str(tmp_path / "r"),
           "--cache-path", str(cache), "-q"]
    # killed right after its 5th completion is cached (an event, not a delay: the same on a loaded machine)
    killer = Path(__file__).with_name("kill_after_cached.py")
    proc = subprocess.run([sys.executable, str(killer), "5", *cmd[3:]], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    with sqlite3.connect(cache) as db:
        done = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert done == 5
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(next((tmp_path / "r").glob("*/results.json")).read_text())
    assert res["timing"]["cache_hits"] == done and res["timing"]["generated_samples"] == 30 - done
    clean = subprocess.run(cmd[:-5] + ["--output", str(tmp_path / "clean"), "--no-cache", "-q"],
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(next((tmp_path / "clean").glob("*/results.json")).read_text())["results"] == res["results"]
