"""Atomic file and folder writes: a reader sees the old content or the new, never a part; and a full disk is one
line naming the path.

Every results file, table, report and built dataset goes through here (write a temp sibling, fsync, rename).
Out of space (ENOSPC, EDQUOT, EFBIG) while writing is raised as `DiskFull`: a `GeobenchError` (the CLI prints it
as one `geobench: error:` line, exit 2) that is also an `OSError` (code that handles write failures keeps
working), naming the path and the bytes the write needed; the temp file is removed first, so no half-written
file is left and the file it would have replaced is untouched. `append_text` is the same for journals that grow
line by line: a failed append is cut back off, never left as a torn line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geobench.errors import GeobenchError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# how libraries that do their own I/O (safetensors in Rust, torch's zip writer in C++) report a full disk
FULL_TEXTS = ("no space left on device", "os error 28", "storagefull", "disk quota exceeded", "file too large")


class DiskFull(GeobenchError, OSError):
    """Out of space while writing a file: one line naming the path and the bytes needed."""


def human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free space on the file system that holds `path` (or its nearest existing parent)."""
    p = Path(path)
    for candidate in (p, *p.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def is_disk_full(e: BaseException) -> bool:
    """Whether an exception says the disk (or the user's quota) is full, however the library wrapped it."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in FULL_ERRNOS:
            return True
        if any(t in str(e).lower() for t in FULL_TEXTS):
            return True
        e = e.__cause__ or e.__context__
    return False


def disk_full(path: str | os.PathLike, needed: int | None = None, what: str = "writing",
              hint: str | None = None) -> DiskFull:
    """The one-line error for a write to `path` that ran out of space."""
    free = free_bytes(path)
    need = f"{human(needed)} needed, " if needed else ""
    err = DiskFull(f"disk full while {what} {path} ({need}{human(free)} free)",
                   hint=hint or "free some space on that disk (or write elsewhere), then rerun the same command; "
                                "earlier results are intact")
    err.path = str(path)  # not OSError's errno/filename: with those set, str(err) would be OSError's format
    return err


@contextlib.contextmanager
def space_for(path: str | os.PathLike, needed: int | None = None, hint: str | None = None) -> Iterator[None]:
    """Around a write to `path`: out of space becomes `DiskFull` naming it (other errors pass unchanged)."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as e:
        if is_disk_full(e):
            raise disk_full(path, needed, hint=hint) from None
        raise


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    with space_for(path, len(raw)):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes files private; results are meant to be shared
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append `text` (whole lines) to a journal; a failed append (a full disk) is cut back off, so the file never
    ends in a torn line, and out of space is `DiskFull`."""
    path = Path(path)
    raw = text.encode()
    with space_for(path, len(raw)):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view):]
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder in a temp sibling and rename it into place on success: a killed or failed build leaves
    nothing behind. The folder must not exist yet, or be empty. Out of space while building is `DiskFull`."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise GeobenchError(f"folder exists and is not empty: {path}", hint="pick a new folder or delete it")
    with space_for(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with space_for(path):
            yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
