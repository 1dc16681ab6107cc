"""`geobench ...` (the CLI's own main) that SIGKILLs itself right after its n-th completion is committed to the
response cache: `python tests/kill_after_cached.py N eval ...`. A kill at a counted event, not after a delay,
so a test that needs "killed part-way through" gets exactly that on an idle or a loaded machine."""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    target, args = int(sys.argv[1]), sys.argv[2:]
    from geobench import cache

    put, done = cache.ResponseCache.put, [0]

    def counted_put(self, key, completion):
        put(self, key, completion)
        done[0] += 1
        if done[0] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    cache.ResponseCache.put = counted_put
    from geobench.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
