"""`geobench data`: what each benchmark task declares about its data, its status here, pulling and verifying.

A pull resolves the task's `source` (geobench.download fetches and checks the files), lets the task lay them
out (`BenchmarkTask.lay_out`) in a temporary sibling of the task folder, writes a record of what was laid out
(`.geobench-data.json`: source, commit, shards, every file's size and CRC-32) and renames the folder into
place. So the task folder appears only complete; a killed pull leaves a temporary folder the next pull
removes, and the files already downloaded stay in the download caches. A pull whose record already covers
the request makes no network request at all.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from geobench.api import BenchmarkTask, HubSource, OnRequestSource, UrlSource
from geobench.atomic import atomic_write
from geobench.errors import GeobenchError

RECORD = ".geobench-data.json"
ASK_ABOVE = 2 << 30  # bytes still to download above which a pull asks first (--yes skips the question)


def record(task: BenchmarkTask) -> dict | None:
    path = task.root() / RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def status(task: BenchmarkTask) -> str:
    """missing, partial (n/N shards), complete (laid out, not checked against published checksums) or
    verified (pulled, every download checked against the publisher's checksum)."""
    rec = record(task)
    present = task.data_status() is None
    if rec is None:
        return "complete" if present else "missing"
    shards = rec.get("shards")
    if shards and shards[0] < shards[1]:
        return f"partial ({shards[0]}/{shards[1]} shards)"
    return ("verified" if rec.get("verified") else "complete") if present else "missing"


def kind(task: BenchmarkTask) -> str:
    src = task.source
    if isinstance(src, OnRequestSource):
        return "on request"
    if isinstance(src, HubSource):
        return "hub" if src.pullable else "manual"
    if isinstance(src, UrlSource):
        return ("url+browser" if any(e.browser for e in src.entries()) else "url") if src.pullable else "manual"
    return "built in" if src is None else "manual"


def on_request_text(task: BenchmarkTask) -> str:
    src = task.source
    lines = [f"{task.name}: released on request, geobench cannot download it.",
             f"  ask at: {getattr(src, 'where', '') or src.homepage}"]
    if getattr(src, "instructions", ""):
        lines.append(f"  what to get: {src.instructions}")
    lines.append(f"  put the files in: {task.root()}/")
    if src.licence:
        lines.append(f"  licence: {src.licence}")
    return "\n".join(lines)


def manual_text(task: BenchmarkTask) -> str:
    src = task.source
    lines = [f"{task.name}: geobench cannot download it yet (see docs/data.md).",
             f"  get it from: {task.source_text()}", f"  put the files in: {task.root()}/"]
    if src is not None and src.unconfirmed:
        lines.append(f"  not confirmed: {src.unconfirmed}")
    return "\n".join(lines)


def covers(rec: dict | None, revision: str | None, shards: int | None, task: BenchmarkTask) -> bool:
    """The record of an earlier pull already holds what this pull asks for (and the files are there)."""
    if rec is None or task.data_status() is not None:
        return False
    if revision and revision not in (rec.get("revision"), rec.get("commit")):
        return False
    got = rec.get("shards")
    if got and got[0] < got[1] and (shards is None or shards > got[0]):
        return False
    return True


def pull(task: BenchmarkTask, *, revision: str | None = None, shards: int | None = None,
         confirm: Callable[[str], bool] | None = None, say: Callable[[str], None] = lambda s: None) -> str:
    """Download, verify and lay out one task's data; returns a one-line summary. Raises GeobenchError."""
    from filelock import FileLock, Timeout

    from geobench import download

    src = task.source
    if src is None or not src.pullable:
        raise GeobenchError(f"task {task.name!r} has no downloadable source")
    if shards is not None and (not isinstance(src, HubSource) or not src.shards):
        raise GeobenchError(f"task {task.name!r} is not sharded; --shards applies to sharded sets (e.g. osv5m)")
    target = task.root()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        lock.acquire(timeout=1)
    except Timeout:
        raise GeobenchError(f"another pull of {task.name!r} is running (lock {lock.lock_file})") from None
    try:
        if covers(record(task), revision, shards, task):
            return f"{task.name}: already complete in {target} ({status(task)}); nothing downloaded"
        if isinstance(src, HubSource):
            plan = download.hub_plan(src, revision, shards)
            todo = plan.known_bytes - download.hub_cached(src, plan)
        else:
            plan = download.url_plan(src)
            todo = sum(f.size or 0 for f in plan.files if not (download.downloads_dir(task.name) / f.name).exists())
        if todo > ASK_ABOVE and (confirm is None or not confirm(
                f"{task.name}: {human(todo)} to download ({len(plan.files)} files) into the download cache, "
                f"then laid out in {target}. Continue?")):
            raise GeobenchError(f"{task.name}: {human(todo)} to download; not confirmed",
                                hint="pass --yes to download without asking")
        size = human(plan.known_bytes) if all(f.size is not None for f in plan.files) else "size not published"
        say(f"{task.name}: {len(plan.files)} files, {size}, from {src.describe()}")
        t0 = time.time()
        files = download.hub_fetch(src, plan) if isinstance(src, HubSource) else download.url_fetch(task.name, plan)
        verified = all(f.sha256 or f.git_oid for f in plan.files)
        manifest = lay_out(task, files, plan.shards, {
            "task": task.name, "source": src.describe(), "revision": revision or getattr(src, "revision", None),
            "commit": plan.commit, "shards": list(plan.shards) if plan.shards else None, "verified": verified,
            "downloads": {f.name: {"size": f.size, "sha256": f.sha256, "git_oid": f.git_oid} for f in plan.files},
            "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        part = f", {plan.shards[0]}/{plan.shards[1]} shards" if plan.shards and plan.shards[0] < plan.shards[1] else ""
        return (f"{task.name}: {len(manifest)} files laid out in {target} ({status(task)}{part}, "
                f"{time.time() - t0:.1f}s)")
    finally:
        lock.release()


def lay_out(task: BenchmarkTask, files: dict[str, Path], shards, rec: dict) -> dict:
    """The task lays the files out in a temporary sibling folder; it is renamed into place when complete."""
    from geobench.layout import disk_errors

    target = task.root()
    staging = target.parent / f".{target.name}.pulling"
    shutil.rmtree(staging, ignore_errors=True)  # what a killed pull left
    staging.mkdir(parents=True)
    try:
        known = task.lay_out(files, staging, shards=shards) or {}
        manifest = scan(staging, known)
        rec["files"] = manifest
        with disk_errors(staging / RECORD):
            atomic_write(staging / RECORD, json.dumps(rec, indent=1, sort_keys=True))
        probe = type(task)(staging) if _takes_root(task) else None
        if probe is not None and (why := probe.data_status()):
            raise GeobenchError(f"{task.name}: the laid-out folder is not what the loader reads ({why})")
        old = target.parent / f".{target.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
        return manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _takes_root(task: BenchmarkTask) -> bool:
    try:
        type(task)(Path("."))
        return True
    except Exception:  # noqa: BLE001 - a task without a root argument is checked after the rename only
        return False


def scan(folder: Path, known: dict[str, dict]) -> dict[str, dict]:
    """Every file under `folder` (except the record): relative path -> size and CRC-32 (taken from `known`,
    what the layout wrote, when the size agrees; computed otherwise)."""
    from geobench.layout import file_crc

    out = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            p = Path(dirpath) / n
            rel = p.relative_to(folder).as_posix()
            if rel == RECORD or p.is_symlink():
                continue
            size = p.stat().st_size
            crc = known[rel]["crc32"] if rel in known and known[rel]["size"] == size else file_crc(p)
            out[rel] = {"size": size, "crc32": crc}
    return out


def verify(task: BenchmarkTask) -> str:
    """Re-check every file the pull laid out (present, size, CRC-32); a one-line error names what is wrong."""
    rec = record(task)
    root = task.root()
    if rec is None:
        why = task.data_status()
        if why:
            raise GeobenchError(f"task {task.name!r}: {why}")
        return (f"{task.name}: laid out by hand in {root} (no pull record): the loader's files are there, "
                "nothing to check them against")
    bad = []
    for rel, want in sorted(rec.get("files", {}).items()):
        p = root / rel
        if not p.is_file():
            bad.append(f"{rel} missing")
        elif p.stat().st_size != want["size"]:
            bad.append(f"{rel} has {p.stat().st_size} bytes, expected {want['size']}")
        else:
            from geobench.layout import file_crc

            if file_crc(p) != want["crc32"]:
                bad.append(f"{rel} changed (CRC-32 differs)")
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise GeobenchError(f"{task.name}: {len(bad)} of {len(rec['files'])} files differ from the pull: "
                            f"{'; '.join(bad[:3])}{more}", hint=f"pull again: geobench data pull {task.name}")
    return f"{task.name}: {len(rec['files'])} files checked in {root}: all as pulled ({status(task)})"


def human(n: int | None) -> str:
    if not n:
        return "?" if n is None else "0 B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)
