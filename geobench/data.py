"""Reading benchmark data from disk safely: where it lives, path containment, CSV/JSONL with clear errors.

Every loader goes through these helpers so that every data problem (missing folder or file, missing column,
non-UTF-8 bytes, an empty file, a path escaping the dataset root) is one line that names the file.

Problems of one sample (a bad row, a bad image) are `DataError`s with a short `reason`. By default they stop the
run; inside `collecting_skips()` (the evaluator's `on_error="skip"`) `skip(error)` counts them per reason
instead and the sample is left out. Problems of a whole file (missing columns, no rows) always stop the run.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import json
import math
import os
import stat
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from geobench.errors import GeobenchError

# ------------------------------------------------------------------------------------------ bad samples


class DataError(GeobenchError):
    """A problem with one sample's data (a row or an image), named by a short `reason` ("corrupt image",
    "bad coordinates", ...): skippable with on_error="skip", where skipped samples are counted per reason."""

    def __init__(self, message: str, reason: str, hint: str | None = None):
        super().__init__(message, hint)
        self.reason = reason


class Skipped:
    """Samples skipped for bad data: a count and the first message per reason."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, error: DataError) -> None:
        self.counts[error.reason] += 1
        self.examples.setdefault(error.reason, str(error))


_SKIPPED: contextvars.ContextVar[Skipped | None] = contextvars.ContextVar("geobench_skipped", default=None)


@contextlib.contextmanager
def collecting_skips() -> Iterator[Skipped]:
    """Inside this block `skip(error)` counts bad samples instead of raising (on_error="skip")."""
    skipped = Skipped()
    token = _SKIPPED.set(skipped)
    try:
        yield skipped
    finally:
        _SKIPPED.reset(token)


@contextlib.contextmanager
def no_skipping() -> Iterator[None]:
    """Inside this block bad data raises even under on_error="skip": for files read by position (row i
    belongs to item i), where leaving a row out would shift every later one."""
    token = _SKIPPED.set(None)
    try:
        yield
    finally:
        _SKIPPED.reset(token)


def skipping() -> bool:
    return _SKIPPED.get() is not None


def skip(error: DataError) -> None:
    """Count `error`'s sample as skipped inside `collecting_skips()`; raise it everywhere else.

    A loader calls this where it would raise for one bad row, then leaves the row out:
    `except DataError as e: data.skip(e); continue`.
    """
    skipped = _SKIPPED.get()
    if skipped is None:
        raise error
    skipped.add(error)


def data_root() -> Path:
    """Where real benchmarks live: $GEOBENCH_DATA, else $GEOBENCH_HOME/benchmarks (one subfolder each)."""
    if os.environ.get("GEOBENCH_DATA"):
        return Path(os.environ["GEOBENCH_DATA"]).expanduser()
    home = Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))
    return home / "benchmarks"


def benchmark_dir(name: str) -> Path:
    """The folder of one benchmark: $GEOBENCH_DATA_<NAME> if set, else data_root()/<name>."""
    override = os.environ.get(f"GEOBENCH_DATA_{name.upper()}")
    return Path(override).expanduser() if override else data_root() / name


def missing(folder: Path, expected: Iterable[str], source: str, pull: str | None = None) -> str | None:
    """None if every expected file/folder exists under `folder`, else a one-line reason with the source and,
    where geobench can download it, the command that does (`pull`)."""
    absent = [e for e in expected if not (folder / e).exists()]
    if not absent:
        return None
    how = f"; or run `{pull}`" if pull else ""
    return f"expected {', '.join(str(folder / e) for e in absent)} (get it from {source}{how})"


def safe_join(root: Path, relative: str) -> Path:
    """root/relative, refusing absolute paths and `..` parts that would leave the dataset root.

    The check is on the name's text (no filesystem calls), so it costs microseconds per row on 200k-row
    metadata. `root` is remembered as a dataset folder: when a file under it is read (`read_file`), its resolved
    path must still be inside it, so a link that leaves the dataset is refused unless $GEOBENCH_FOLLOW_LINKS=1.
    """
    _ROOTS.setdefault(str(Path(root)), None)
    if not relative or "\x00" in relative or len(relative) > 4096:
        raise DataError(f"bad file name {relative!r} in the data under {root}", "bad file name")
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or PureWindowsPath(relative).drive:
        raise DataError(f"file name {relative!r} escapes the dataset root {root}; refused", "path outside the dataset")
    return Path(root) / parts


# --------------------------------------------------------------------------------------- reading files

_ROOTS: dict[str, None] = {}  # dataset folders named through safe_join (insertion-ordered set)
MB = 2 ** 20


def _cap(name: str, default_mb: float) -> int:
    try:
        return int(float(os.environ.get(name) or default_mb) * MB)
    except ValueError:
        raise GeobenchError(f"${name} must be a number of megabytes, got {os.environ[name]!r}") from None


def max_image_bytes() -> int:
    """The largest image file read: $GEOBENCH_MAX_IMAGE_MB (default 64)."""
    return _cap("GEOBENCH_MAX_IMAGE_MB", 64)


def max_table_bytes() -> int:
    """The largest metadata file (CSV, JSONL, text) read: $GEOBENCH_MAX_TABLE_MB (default 2048)."""
    return _cap("GEOBENCH_MAX_TABLE_MB", 2048)


MAX_FIELD = 65536  # the longest CSV field: a longer one is a bad row


def _outside(path: str) -> str | None:
    """The dataset folder that `path` is named under but resolves outside of (a link leaving it), else None."""
    if os.environ.get("GEOBENCH_FOLLOW_LINKS", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    for root in sorted(_ROOTS, key=len):  # the outermost dataset folder holding the path
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            real_root, real = os.path.realpath(root), os.path.realpath(path)
            if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
                return root
            return None
    return None


def read_file(path: str | os.PathLike, limit: int, what: str = "file", reason: str = "unreadable file") -> bytes:
    """A data file's bytes, only if it is a regular file of at most `limit` bytes inside its dataset folder.

    Opened with O_NOFOLLOW|O_NONBLOCK (a FIFO or device never blocks the run) and checked with fstat on the open
    descriptor before reading; never more than `limit` + 1 bytes are read. Problems are DataErrors naming the file.
    """
    name = os.fspath(path)
    root = _outside(name)
    if root is not None:
        raise DataError(f"{what} {name} is a link to {os.path.realpath(name)}, outside the dataset folder {root}; "
                        "refused", "path outside the dataset", hint="set GEOBENCH_FOLLOW_LINKS=1 to follow such links")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if _under_root(name):  # open the checked, resolved path itself, refusing a link swapped in meanwhile
        name, flags = os.path.realpath(name), flags | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise DataError(f"{what} not found: {name}", f"missing {what}") from None
    except OSError as e:
        raise DataError(f"cannot read {what} {name}: {e.strerror or e}", reason) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{what} {name} is not a regular file (a FIFO, device or folder); refused",
                            f"{what} not a regular file")
        if st.st_size > limit:
            raise DataError(f"{what} {name} is {st.st_size} bytes, over the {limit} byte limit",
                            f"{what} too large")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise DataError(f"{what} {name} grew over the {limit} byte limit while read", f"{what} too large")
        return b"".join(chunks)
    except OSError as e:
        raise DataError(f"cannot read {what} {name}: {e.strerror or e}", reason) from None
    finally:
        os.close(fd)


def _under_root(path: str) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in _ROOTS)


def read_csv(path: Path, required: Iterable[str], delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV with a header; missing file/columns, bad encoding or no rows are one-line errors."""
    text = read_text(path)
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2 ** 31 - 1)))  # long fields: bad rows below
    # newline="" keeps quoted multi-line fields whole; str.splitlines would also split on U+2028 and friends.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    absent = [c for c in required if c not in columns]
    if absent:
        raise GeobenchError(f"{path}: missing column(s) {', '.join(absent)}; found {', '.join(columns) or 'none'}")
    rows = []
    for row in reader:
        if None in row:
            skip(DataError(f"{path}:{reader.line_num}: more fields than the header has columns", "bad row"))
            continue
        if any(v is not None and len(v) > MAX_FIELD for v in row.values()):
            skip(DataError(f"{path}:{reader.line_num}: a field longer than {MAX_FIELD} characters", "bad row"))
            continue
        rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()})
    if not rows:
        raise GeobenchError(f"{path}: no data rows")
    return rows


def read_jsonl(path: Path, required: Iterable[str]) -> list[dict]:
    """Objects of a JSONL file; a bad line, a missing key or no rows are one-line errors naming the line."""
    rows = []
    for n, line in enumerate(read_text(path).split("\n"), 1):  # JSON strings may hold U+2028: split on \n only
        if not line.strip():
            continue
        try:
            rows.append(_json_row(line, path, n, required))
        except DataError as e:
            skip(e)
    if not rows:
        raise GeobenchError(f"{path}: no data rows")
    return rows


def _json_row(line: str, path: Path, n: int, required: Iterable[str]) -> dict:
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise DataError(f"{path}:{n}: not valid JSON ({e.msg})", "bad row") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}:{n}: expected a JSON object", "bad row")
    absent = [k for k in required if k not in obj]
    if absent:
        raise DataError(f"{path}:{n}: missing key(s) {', '.join(absent)}", "bad row")
    return obj


def lat_lon(value_lat, value_lon, where: str) -> tuple[float, float]:
    """Ground-truth coordinates as floats; NaN or out-of-range values are one-line errors naming the row."""
    try:
        lat, lon = float(value_lat), float(value_lon)
    except (TypeError, ValueError):
        raise DataError(f"{where}: latitude/longitude not numbers: {value_lat!r}, {value_lon!r}",
                        "bad coordinates") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise DataError(f"{where}: latitude/longitude out of range: {lat}, {lon}", "bad coordinates")
    return lat, lon


def read_text(path: Path) -> str:
    """A file's text (UTF-8, BOM tolerated); missing, unreadable or non-UTF-8 files are one-line errors.

    When skipping bad samples, a file whose header line is UTF-8 keeps its UTF-8 lines and skips the others.
    """
    try:
        raw = read_file(path, max_table_bytes())
    except DataError as e:  # a whole file: never skippable
        if e.reason == "missing file":
            raise GeobenchError(f"file not found: {path}") from None
        raise GeobenchError(str(e).removeprefix("cannot read file ").removeprefix("file "), e.hint) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        error = DataError(f"{path}: not UTF-8 (byte {e.start}); re-encode the file as UTF-8", "not UTF-8")
        header_end = raw.find(b"\n")
        if not skipping() or header_end < 0 or e.start <= header_end:  # a broken header breaks the whole file
            raise error from None
    lines = []
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8-sig"))
        except UnicodeDecodeError:
            skip(error)
    return "\n".join(lines)
