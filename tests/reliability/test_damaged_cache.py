"""A page of random bytes inside the response cache: every rerun is one `geobench: error:` line with the two
ways out (--no-cache, or move the file aside), and `geobench cache check|clear|vacuum` handle the file."""

from __future__ import annotations

import os
import random

from conftest import run_cli

ARGS = ("eval", "--model", "random", "--backend", "dummy", "--tasks", "scene_toy", "--limit", "30", "-q")


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line.lower() or "Traceback" in line]


def test_a_damaged_cache_is_one_line_with_the_ways_out(tmp_path):
    cache = tmp_path / "c.sqlite"
    args = (*ARGS, "--output", str(tmp_path / "r"), "--cache-path", str(cache))
    assert run_cli(*args).returncode == 0
    assert run_cli("cache", "check", "--cache-path", str(cache)).returncode == 0
    assert run_cli("cache", "vacuum", "--cache-path", str(cache)).returncode == 0
    size = cache.stat().st_size
    assert size >= 2 * 4096
    with open(cache, "r+b") as f:  # one page of random bytes, past the header page
        f.seek(4096 * random.Random(1).randrange(1, size // 4096))
        f.write(random.Random(2).randbytes(4096))
    for _ in range(2):  # every rerun, not only the first
        r = run_cli(*args)
        lines = errors(r.stderr)
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("geobench: error:"), r.stderr
        assert "damaged" in lines[0] and "--no-cache" in lines[0] and "geobench cache" in lines[0]
        assert str(cache) in lines[0]
    assert run_cli(*args, "--no-cache").returncode == 0
    check = run_cli("cache", "check", "--cache-path", str(cache))
    assert check.returncode == 1 and "damaged" in check.stdout
    clear = run_cli("cache", "clear", "--cache-path", str(cache))
    assert clear.returncode == 0 and not cache.exists()
    assert [p for p in os.listdir(tmp_path) if ".damaged-" in p]
    assert run_cli(*args).returncode == 0 and run_cli("cache", "check", "--cache-path", str(cache)).returncode == 0
