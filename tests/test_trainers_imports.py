"""The trainers' entry points stay light: importing them (and listing what they register) imports no torch, TRL,
transformers or datasets; `geobench --help` and `geobench train list` load no training machinery."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "trl", "transformers", "datasets", "peft")
ENTRY_POINTS = ("geobench.trainers.rewards", "geobench.trainers.scaffold", "geobench.trainers.training")


def _heavy_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return [m for m in r.stdout.strip().splitlines()[-1].split(",") if m] if r.stdout.strip() else []


def test_entry_point_modules_import_nothing_heavy():
    assert _heavy_after("\n".join(f"import {m}" for m in ENTRY_POINTS)) == []


def test_entry_points_are_the_trainers_packages():
    from importlib import metadata

    values = {ep.name: ep.value for ep in metadata.entry_points(group="geobench")}
    assert {values[n] for n in ("rewards", "scaffold", "trainers")} == set(ENTRY_POINTS)


def test_cli_start_and_train_list_import_nothing_heavy():
    code = ("from geobench import cli, plugin_manager\n"
            "cli._add_plugin_commands(plugin_manager.registry())\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert cli.main(['--help']) == 0 and cli.main(['train', 'list']) == 0\n")
    assert _heavy_after(code) == []
