"""`geobench cache check|vacuum|clear`: look after the response cache file (default $GEOBENCH_HOME/responses.sqlite).

check   opens the file read-only, runs sqlite's integrity check and counts the rows (and the unreadable ones);
vacuum  rewrites it compactly (after many reruns); clear moves a damaged file aside (`<file>.damaged-<time>`,
nothing deleted) or, with --delete, removes it; the next eval starts a new cache. Every problem is one line.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import click

from geobench.cache import _completion, default_path
from geobench.errors import GeobenchError

PATH = click.option("--cache-path", type=click.Path(dir_okay=False), default=None,
                    help="the cache file (default: $GEOBENCH_CACHE or $GEOBENCH_HOME/responses.sqlite)")


def _path(cache_path: str | None) -> Path:
    path = Path(cache_path) if cache_path else default_path()
    if not path.is_file():
        raise GeobenchError(f"no cache file at {path}")
    return path


def check(path: Path) -> tuple[bool, str]:
    """(healthy, one line) for the cache file at `path`."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in db.execute("PRAGMA integrity_check")]
            rows = db.execute("SELECT completion FROM responses").fetchall()
        finally:
            db.close()
    except sqlite3.Error as e:
        return False, f"{path}: damaged ({e}); `geobench cache clear` moves it aside"
    if problems != ["ok"]:
        return False, f"{path}: damaged ({'; '.join(problems[:3])}); `geobench cache clear` moves it aside"
    bad = sum(_completion(v) is None for (v,) in rows)
    return True, (f"{path}: ok, {len(rows)} cached completions" + (f" ({bad} unreadable, regenerated when "
                                                                    "needed)" if bad else "")
                  + f", {path.stat().st_size} bytes")


@click.group("cache")
def cache_group():
    """Check, compact or clear the response cache."""


@cache_group.command("check")
@PATH
def check_cmd(cache_path):
    """Integrity check and row count; exit 1 if the file is damaged."""
    healthy, line = check(_path(cache_path))
    click.echo(line)
    if not healthy:
        raise SystemExit(1)


@cache_group.command("vacuum")
@PATH
def vacuum_cmd(cache_path):
    """Rewrite the cache compactly (sqlite VACUUM)."""
    path = _path(cache_path)
    healthy, line = check(path)
    if not healthy:
        raise GeobenchError(line)
    before = path.stat().st_size
    try:
        db = sqlite3.connect(path, timeout=60, isolation_level=None)
        try:
            db.execute("VACUUM")
        finally:
            db.close()
    except sqlite3.Error as e:
        raise GeobenchError(f"cannot vacuum {path}: {e}") from None
    click.echo(f"{path}: {before} -> {path.stat().st_size} bytes")


@cache_group.command("clear")
@PATH
@click.option("--delete", is_flag=True, help="remove the file instead of moving it aside")
def clear_cmd(cache_path, delete):
    """Move the cache file aside (or delete it); the next eval starts a new one."""
    path = _path(cache_path)
    extra = [Path(f"{path}{s}") for s in ("-wal", "-shm") if Path(f"{path}{s}").exists()]
    if delete:
        for p in [path, *extra]:
            p.unlink(missing_ok=True)
        click.echo(f"deleted {path}")
        return
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    for p in extra:
        os.replace(p, Path(f"{aside}{p.name[len(path.name):]}"))
    click.echo(f"moved {path} to {aside}; the next eval starts a new cache")
