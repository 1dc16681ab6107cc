"""Data-parallel evaluation: the same requests with 1 process and with 2 (torchrun, gloo), one thread each.

    python benchmarks/bench_data_parallel.py                 # tiny model, geoloc_toy + crossview_toy, 200 docs each
    python benchmarks/bench_data_parallel.py --limit 64 --repeats 5

Each run is a fresh `geobench eval --no-cache` process tree, timed whole (start-up, planning, model load,
generation, the exchange and the writing); the speed-up is median(1 process) / median(2 processes). Goal: >= 1.6x
on a machine with at least 2 free cores. The two runs' samples are checked equal. The generation phase's own
speed-up (results.json `timing.generation_seconds`: model load + generation, the slowest rank) is printed too.

What 2 processes cannot divide is start-up: torchrun's launcher (~1.8 s here: it imports torch, then waits out
its workers) and each process's Python, torch and transformers imports and model load (~3.7 s). The default
workload (200 docs per task, the toy test splits) is one where generation dominates, as in a real evaluation;
at `--limit 64` the whole-process ratio is ~1.2x while the generation phase still runs ~1.8x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--tasks", default="geoloc_toy,crossview_toy")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--procs", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gb-dp-bench-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    base = ["-m", "geobench", "eval", "--model", args.model, "--tasks", args.tasks, "--limit", str(args.limit),
            "--no-cache", "-q"]
    launchers = {1: [sys.executable],
                 args.procs: [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                              str(args.procs)]}
    times: dict[int, list[float]] = {1: [], args.procs: []}
    gen: dict[int, list[float]] = {1: [], args.procs: []}
    subprocess.run([sys.executable, *base, "--output", str(work / "warm")], env=env, check=True, capture_output=True)
    for rep in range(args.repeats):
        for n, launcher in launchers.items():
            out = work / f"p{n}"
            t0 = time.perf_counter()
            subprocess.run([*launcher, *base, "--output", str(out), "--run-name", f"r{rep}"], env=env, check=True,
                           capture_output=True)
            times[n].append(time.perf_counter() - t0)
            gen[n].append(json.loads((out / f"r{rep}" / "results.json").read_text())["timing"]["generation_seconds"])
    for task in args.tasks.split(","):
        one = (work / "p1" / "r0" / f"samples_{task}.jsonl").read_text()
        many = (work / f"p{args.procs}" / "r0" / f"samples_{task}.jsonl").read_text()
        assert one == many, f"{task}: samples differ between 1 and {args.procs} processes"
    t1, tn = statistics.median(times[1]), statistics.median(times[args.procs])
    print(f"model={args.model} tasks={args.tasks} limit={args.limit} (x{len(args.tasks.split(','))} tasks) "
          f"OMP_NUM_THREADS=1 cores={os.cpu_count()} repeats={args.repeats}")
    print(f"1 process: median {t1:.2f} s ({', '.join(f'{t:.2f}' for t in times[1])})")
    print(f"{args.procs} processes (torchrun): median {tn:.2f} s ({', '.join(f'{t:.2f}' for t in times[args.procs])})")
    g1, gn = statistics.median(gen[1]), statistics.median(gen[args.procs])
    print(f"speed-up {t1 / tn:.2f}x (goal >= 1.6x); samples equal: yes")
    print(f"generation phase (model load + generation): {g1:.2f} s vs {gn:.2f} s = {g1 / gn:.2f}x")


if __name__ == "__main__":
    main()
