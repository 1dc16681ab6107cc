"""Reading benchmark data from disk safely: where it lives, path containment, CSV/JSONL with clear errors.

Every loader goes through these helpers so that every data problem (missing folder or file, missing column,
non-UTF-8 bytes, an empty file, a path escaping the dataset root) is one line that names the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from geobench.errors import GeobenchError


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


def missing(folder: Path, expected: Iterable[str], source: str) -> str | None:
    """None if every expected file/folder exists under `folder`, else a one-line reason with the source."""
    absent = [e for e in expected if not (folder / e).exists()]
    if not absent:
        return None
    return f"expected {', '.join(str(folder / e) for e in absent)} (get it from {source})"


def safe_join(root: Path, relative: str) -> Path:
    """root/relative, refusing absolute paths and `..` parts that would leave the dataset root.

    The check is on the name's text (no filesystem calls), so it costs microseconds per row on 200k-row
    metadata; links placed inside the dataset folder by its owner are followed as they are.
    """
    if not relative or "\x00" in relative:
        raise GeobenchError(f"bad file name {relative!r} in the data under {root}")
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or PureWindowsPath(relative).drive:
        raise GeobenchError(f"file name {relative!r} escapes the dataset root {root}; refused")
    return Path(root) / parts


def read_csv(path: Path, required: Iterable[str], delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV with a header; missing file/columns, bad encoding or no rows are one-line errors."""
    text = read_text(path)
    # newline="" keeps quoted multi-line fields whole; str.splitlines would also split on U+2028 and friends.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    absent = [c for c in required if c not in columns]
    if absent:
        raise GeobenchError(f"{path}: missing column(s) {', '.join(absent)}; found {', '.join(columns) or 'none'}")
    rows = []
    for row in reader:
        if None in row:
            raise GeobenchError(f"{path}:{reader.line_num}: more fields than the header has columns")
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
            obj = json.loads(line)
        except ValueError as e:
            raise GeobenchError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise GeobenchError(f"{path}:{n}: expected a JSON object")
        absent = [k for k in required if k not in obj]
        if absent:
            raise GeobenchError(f"{path}:{n}: missing key(s) {', '.join(absent)}")
        rows.append(obj)
    if not rows:
        raise GeobenchError(f"{path}: no data rows")
    return rows


def lat_lon(value_lat, value_lon, where: str) -> tuple[float, float]:
    """Ground-truth coordinates as floats; NaN or out-of-range values are one-line errors naming the row."""
    try:
        lat, lon = float(value_lat), float(value_lon)
    except (TypeError, ValueError):
        raise GeobenchError(f"{where}: latitude/longitude not numbers: {value_lat!r}, {value_lon!r}") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise GeobenchError(f"{where}: latitude/longitude out of range: {lat}, {lon}")
    return lat, lon


def read_text(path: Path) -> str:
    """A file's text (UTF-8, BOM tolerated); missing, unreadable or non-UTF-8 files are one-line errors."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise GeobenchError(f"file not found: {path}") from None
    except OSError as e:
        raise GeobenchError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GeobenchError(f"{path}: not UTF-8 (byte {e.start}); re-encode the file as UTF-8") from None
