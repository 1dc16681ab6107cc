"""Benchmark the toy world on ONE core: build the planet, then render + PNG-encode what n samples of each toy
task need (geolocation: 1 street view; cross-view: 1 street view + k tiles, k-1 of them hard negatives;
scene: 1 street view). Target: n = 1,000 of every task in under 30 s.

    python benchmarks/bench_toyworld.py [--n 1000] [--k 4] [--size 96] [--seed 12345]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time


def pin_one_core() -> str:
    """Measure what one core does, whatever the machine has."""
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def encode(img) -> int:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.tell()


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=4, help="satellite tiles per cross-view sample (1 true + k-1)")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--seed", type=int, default=12345, help="world seed (a fresh one: the build is timed)")
    ap.add_argument("--radius-km", type=float, default=50.0)
    args = ap.parse_args(argv)
    pinned = pin_one_core()
    t: dict[str, float] = {}

    start = time.perf_counter()
    from geobench.tasks.toyworld import World, render_ground, render_satellite

    t["import"] = time.perf_counter() - start
    assert "torch" not in sys.modules

    start = time.perf_counter()
    world = World(args.seed)
    t["build world"] = time.perf_counter() - start

    start = time.perf_counter()
    places = world.sample_places(args.n, seed=0)
    t["sample places"] = time.perf_counter() - start

    nbytes = 0
    start = time.perf_counter()
    for i, p in enumerate(places):
        nbytes += encode(render_ground(world, p, seed=i, size=args.size))
    t["geolocation: ground"] = time.perf_counter() - start

    start = time.perf_counter()
    negatives = [world.neighbours(p, k=args.k - 1, radius_km=args.radius_km, seed=i) for i, p in enumerate(places)]
    t["cross-view: neighbours"] = time.perf_counter() - start
    start = time.perf_counter()
    for i, (p, negs) in enumerate(zip(places, negatives, strict=True)):
        nbytes += encode(render_ground(world, p, seed=i, size=args.size))
        for q in [p, *negs]:
            nbytes += encode(render_satellite(world, q, seed=i, size=args.size))
    t["cross-view: render"] = time.perf_counter() - start

    start = time.perf_counter()
    for i, p in enumerate(places):
        nbytes += encode(render_ground(world, p, seed=i + 1_000_000, size=args.size))
        p.facts()
    t["scene: ground + facts"] = time.perf_counter() - start

    total = sum(t.values())
    images = args.n * (3 + args.k)
    print(f"toy world benchmark: n={args.n} per task, k={args.k}, {args.size}px, world seed {args.seed}, {pinned}")
    for name, secs in t.items():
        print(f"  {name:<26} {secs:8.3f} s")
    print(f"  {'total':<26} {total:8.3f} s   ({images} PNGs, {images / total:.0f} images/s, "
          f"{nbytes / images / 1024:.1f} KiB/PNG)   target < 30 s: {'OK' if total < 30 else 'MISSED'}")
    return t


if __name__ == "__main__":
    main()
