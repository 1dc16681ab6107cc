"""Data-parallel `geobench eval` under torchrun (2 CPU processes, gloo): one run folder, equal to one process.

The sharding and the exchange of cache hits are unit-tested with a stand-in group; the end-to-end tests launch
`torchrun --nproc-per-node 2 -m geobench eval` the way a user does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from geobench import distributed
from geobench.api import Completion
from geobench.errors import GeobenchError

TASKS = "geoloc_toy,crossview_toy"


def test_world_is_one_process_without_a_launcher(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.world() == distributed.World()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.world() == distributed.World(3, 4, 1, 2)
    assert not distributed.is_main()


def test_shards_partition_the_misses_deterministically_and_balance_cost():
    costs = [float(c) for c in [100, 5, 5, 40, 60, 1, 1, 1, 99, 30]]
    shards = [distributed.shard(costs, 3, r) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(len(costs)))
    assert shards == [distributed.shard(costs, 3, r) for r in range(3)]  # same answer every time, every rank
    loads = [sum(costs[i] for i in s) for s in shards]
    assert max(loads) - min(loads) <= max(costs) / 2
    assert distributed.shard([], 2, 0) == []


class _Doc:
    def __init__(self, i):
        self.id = f"d{i}"


class _Req:
    def __init__(self, i):
        from geobench.api import GenConfig

        self.task, self.doc_id, self.gen, self.images, self.key = "t", f"d{i}", GenConfig(max_new_tokens=8), [], f"k{i}"
        self.messages = [{"role": "user", "content": [{"type": "text", "text": "x" * i}]}]


class _Plan:
    def __init__(self, n):
        self.task = type("T", (), {"name": "t"})()
        self.docs = [_Doc(i) for i in range(n)]
        self.requests = [_Req(i) for i in range(n)]


class _Group:
    """Two ranks' all_gather, answered from what each rank would contribute."""

    def __init__(self, rank, contributions):
        self.world = distributed.World(rank, 2, rank, 2)
        self.contributions = contributions

    def all_gather(self, obj):
        return self.contributions


def test_a_hit_on_any_rank_is_not_regenerated_and_reaches_rank_0():
    plan = _Plan(6)
    done = Completion("A", 1, "stop")
    hits = {0: {("t", "d0"): done}, 1: {("t", "d0"): done, ("t", "d1"): done}}  # rank 1's node cached d1 too
    bitmaps = [bytes(1 if ("t", d.id) in hits[r] else 0 for d in plan.docs) for r in (0, 1)]
    shares, extras = [], []
    for rank in (0, 1):
        pending = [q for q in plan.requests if (q.task, q.doc_id) not in hits[rank]]
        share, extra = distributed.share_misses(_Group(rank, bitmaps), [plan], dict(hits[rank]), pending)
        shares.append([q.doc_id for q in share])
        extras.append(extra)
    assert sorted(shares[0] + shares[1]) == ["d2", "d3", "d4", "d5"], "d0 and d1 are hits somewhere"
    assert not set(shares[0]) & set(shares[1])
    assert extras == [{}, {("t", "d1"): done}], "rank 1 hands rank 0 the hit it lacks"


def test_a_collective_whose_peer_died_is_one_line():
    class DeadPeer:
        def gather_object(self, *a, **k):
            raise RuntimeError("[/w/gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:6876. This "
                               "is typically caused by a remote worker crashing.\nmore")

    group = distributed.Group.__new__(distributed.Group)
    group.world, group._dist, group.group = distributed.World(0, 2, 0, 2), DeadPeer(), None
    with pytest.raises(GeobenchError) as e:
        group.gather({"x": 1})
    assert str(e.value) == ("lost another process of the job while waiting for it (Connection closed by peer "
                            "[127.0.0.1]:6876) (the failing process's own error is printed above)")


def _torchrun(*args, env=None, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "geobench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def _why(proc) -> str:
    """A failed torchrun's own lines first (torchrun's summary of the ranks would push them out of a tail)."""
    lines = proc.stderr.splitlines()
    ours = [ln for ln in lines if any(w in ln for w in ("geobench", "Error", "error:", "terminate", "what()"))]
    return "\n".join(ours[:40]) + "\n...\n" + proc.stderr[-1500:]


def _run(folder: Path) -> tuple[dict, dict]:
    results = json.loads((folder / "results.json").read_text())
    samples = {t: (folder / f"samples_{t}.jsonl").read_text() for t in TASKS.split(",")}
    return results, samples


def test_two_processes_write_one_run_equal_to_one_process(tmp_path, tiny_model_path):
    common = ["eval", "--model", "tiny", "--tasks", TASKS, "--limit", "16", "--no-cache", "--run-name", "r"]
    one = run_cli(*common, "--output", str(tmp_path / "one"), "-q")
    assert one.returncode == 0, one.stderr[-2000:]
    two = _torchrun(*common, "--output", str(tmp_path / "two"))
    assert two.returncode == 0, _why(two)
    assert two.stdout.count("results:") == 1, "rank 0 alone prints the table"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert sorted(p.name for p in (tmp_path / "two" / "r").iterdir()) == \
        ["results.json", "samples_crossview_toy.jsonl", "samples_geoloc_toy.jsonl"]
    (r1, s1), (r2, s2) = _run(tmp_path / "one" / "r"), _run(tmp_path / "two" / "r")
    assert s2 == s1, "sample for sample"
    assert r2["results"] == r1["results"] and r2["n-samples"] == r1["n-samples"]
    assert r2["config"]["data_parallel"] == 2
    assert r2["timing"]["generated_samples"] == 32


@pytest.mark.slow
def test_a_partly_cached_job_generates_only_the_rest_and_a_rerun_nothing(tmp_path, tiny_model_path):
    """What a killed job leaves is its cache: the next job (any number of ranks) generates only what is missing."""
    cache = str(tmp_path / "shared.sqlite")
    base = ["eval", "--model", "tiny", "--tasks", TASKS, "--cache-path", cache, "-q"]
    first = run_cli(*base, "--limit", "5", "--output", str(tmp_path / "a"), "--run-name", "r")
    assert first.returncode == 0, first.stderr[-2000:]
    job = _torchrun(*base, "--limit", "12", "--output", str(tmp_path / "b"), "--run-name", "r")
    assert job.returncode == 0, _why(job)
    rb, sb = _run(tmp_path / "b" / "r")
    assert rb["timing"]["generated_samples"] == 14 and rb["timing"]["cache_hits"] == 10
    again = _torchrun(*base, "--limit", "12", "--output", str(tmp_path / "c"), "--run-name", "r")
    assert again.returncode == 0, _why(again)
    rc, sc = _run(tmp_path / "c" / "r")
    assert rc["timing"]["generated_samples"] == 0 and sc == sb and rc["results"] == rb["results"]


@pytest.mark.slow
def test_a_failing_rank_names_itself_and_the_other_stops_in_one_line(tmp_path, tiny_model_path):
    """Rank 1's docs have corrupt images: its one error line says which rank. Rank 0 stops in one line too: torchrun's
    SIGTERM is handled like Ctrl-C, and a collective whose peer died says so (not a gloo traceback); either way
    no run folder is left empty: it is removed, or kept for the samples rank 0 journaled (a rerun resumes them)."""
    from geobench import toydata

    folder = toydata.build("geolocation", tmp_path / "data" / "im2gps3k", splits={"test": 8})
    for i in (1, 3, 5, 7):  # equal-cost requests alternate between the ranks: these are rank 1's
        (folder / "images" / f"toy_{i:05d}.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    job = _torchrun("eval", "--model", "tiny", "--tasks", "im2gps3k", "--data-dir", str(tmp_path / "data"),
                    "--no-cache", "--gen-kwargs", "max_new_tokens=8", "--output", str(out), "-q")
    assert job.returncode != 0
    ours = [line for line in job.stderr.splitlines() if line.startswith("geobench:")]
    assert ours and ours[0].startswith("geobench: error (rank 1 of 2): cannot decode image"), _why(job)
    rank0 = [line for line in ours if "rank 0 of 2" in line]
    assert len(rank0) == 1 and (rank0[0] == "geobench: terminated (rank 0 of 2)" or rank0[0].startswith(
        "geobench: error (rank 0 of 2): lost another process of the job")), _why(job)
    assert "internal error" not in job.stderr
    for run in [p for p in out.iterdir() if p.is_dir()]:  # kept only for what rank 0 journaled (resume reads it)
        names = {p.name for p in run.iterdir()}
        assert "results.json" not in names and any(n.endswith(".jsonl.partial") for n in names), (names, _why(job))
