"""`geobench eval` (the CLI's own main) with a SIGKILL armed at one moment, for test_kill_anywhere.py.

    KILL_AT=<point>:<n>  SIGKILL this process at the n-th event of <point>:
        generated  the backend has produced a completion that is not cached yet
        cached     a completion was just committed to the cache, its samples line not yet written
        scored     a sample is about to be scored (after generation: the cached samples' scoring pass)
        replace    a results file is completely written under its temp name, not yet renamed into place
    GEN_LOG=<file>  appends "generated <key>" / "cached <key>" lines (O_APPEND writes survive SIGKILL).

The hooks only observe and kill; the code that runs is geobench's own.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    point, _, n = os.environ.get("KILL_AT", "none:0").partition(":")
    target = int(n or 0)
    log = os.open(os.environ["GEN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    counts: dict[str, int] = {}

    def event(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1
        if name == point and counts[name] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    from geobench import cache, planning
    from geobench.plugins.dummy import DummyBackend

    generate, put, record, replace = DummyBackend.generate, cache.ResponseCache.put, planning.record, os.replace

    def logged_generate(self, requests):
        for i, completion in generate(self, requests):
            os.write(log, f"generated {requests[i].key}\n".encode())
            event("generated")
            yield i, completion

    def logged_put(self, key, completion):
        put(self, key, completion)
        os.write(log, f"cached {key}\n".encode())
        event("cached")

    def counted_record(*args, **kwargs):
        event("scored")
        return record(*args, **kwargs)

    def counted_replace(*args, **kwargs):
        event("replace")
        return replace(*args, **kwargs)

    DummyBackend.generate = logged_generate
    cache.ResponseCache.put = logged_put
    planning.record = counted_record
    os.replace = counted_replace

    from geobench.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
