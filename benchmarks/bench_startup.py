"""`geobench --help` and `geobench tasks` wall time (target < 1.0 s each; no torch import).

    python benchmarks/bench_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    exe = [sys.executable, "-m", "geobench"]
    print(f"{'command':<22} {'median s':>9} {'max s':>7}  target")
    ok = True
    for name, cmd in [("geobench --help", exe + ["--help"]), ("geobench tasks", exe + ["tasks"]),
                      ("geobench plugins", exe + ["plugins"])]:
        med, worst = wall(cmd, args.repeat)
        ok &= med < 1.0
        print(f"{name:<22} {med:>9.3f} {worst:>7.3f}  < 1.0 s {'OK' if med < 1.0 else 'MISSED'}")
    probe = subprocess.run([sys.executable, "-X", "importtime", "-c", "from geobench.cli import main; main(['tasks'])"],
                           capture_output=True, text=True)
    heavy = [m for m in ("torch", "transformers") if f"| {m}\n" in probe.stderr or f" {m}\n" in probe.stderr]
    print("heavy imports during `geobench tasks`:", heavy or "none")
    sys.exit(0 if ok and not heavy else 1)


if __name__ == "__main__":
    main()
