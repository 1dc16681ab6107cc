"""Results and tables are one transaction from the user's view: a run SIGKILLed after its results.json landed
but before the tables were rebuilt is completed by the same command (the tables repaired, not refused), and
killed runs without --run-name leave no `.partial` journals behind (the next run reuses their folder)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from geobench.results import tables_agree

DRIVER = Path(__file__).with_name("kill_driver.py")
ARGS = ["eval", "--model", "random", "--backend", "dummy", "--tasks", "scene_toy", "--limit", "4", "-q"]


def launch(out: Path, tmp: Path, kill_at: str = "none:0", *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KILL_AT": kill_at, "GEN_LOG": str(tmp / "gen.log")}
    return subprocess.run([sys.executable, str(DRIVER), *ARGS, *extra, "--output", str(out), "--cache-path",
                           str(tmp / "cache.sqlite")], env=env, capture_output=True, text=True, timeout=120)


def table_ok(out: Path) -> bool:
    return tables_agree(out)


def test_a_kill_between_results_json_and_the_tables_is_completed_by_the_same_command(tmp_path):
    # The os.replace right after results.json's is table.csv's: find it, and kill there.
    for n in range(1, 10):
        out = tmp_path / f"results{n}"
        killed = launch(out, tmp_path, f"replace:{n}", "--run-name", "r1")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        if (out / "r1" / "results.json").exists():
            break
    assert not (out / "table.csv").exists() or "r1" not in (out / "table.csv").read_text()

    again = launch(out, tmp_path, "none:0", "--run-name", "r1")
    assert again.returncode == 0, again.stderr
    assert "already held this finished run; rebuilt" in again.stderr
    assert table_ok(out) and "r1" in (out / "table.csv").read_text()

    third = launch(out, tmp_path, "none:0", "--run-name", "r1")  # tables agree now: a new run needs a new name
    assert third.returncode == 2 and "already holds a finished run" in third.stderr


def test_killed_unnamed_runs_leave_no_partial_journals(tmp_path):
    out = tmp_path / "results"
    for _ in range(3):
        killed = launch(out, tmp_path, "generated:2")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(list(out.glob("*/*.partial"))) == 1, "each killed run reused the abandoned folder"
    done = launch(out, tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(out.glob("*/*.partial")) == []
    assert [p.name for p in out.iterdir() if p.is_dir()] == [p.parent.name for p in out.glob("*/results.json")]
    assert table_ok(out)
