"""A run's folder on disk: `results/<run>/results.json` and `samples_<task>.jsonl`.

`results.json` follows lm-eval's results schema (`results[task]["metric,none"]`, `versions`, `n-samples`,
`config`, `higher_is_better`, `task_hashes`, ...) plus geobench's `backend`, `checkpoint_step` and `timing`;
`samples_<task>.jsonl` holds one line per doc, journalled as samples finish. Every file is written to a temp
file and renamed into place (geobench.atomic). The cross-run table lives in geobench.tables (re-exported here).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geobench.atomic import atomic_dir, atomic_write  # noqa: F401 - re-exported
from geobench.errors import GeobenchError
from geobench.tables import (  # noqa: F401 - the table API, re-exported for `geobench.results` users
    TABLE_COLUMNS,
    compare_with_reference,
    export_table,
    filter_table,
    latest,
    load_table,
    rebuild_tables,
    reference_table,
    run_rows,
    tidy_ints,
    to_markdown,
    wide_table,
)


@dataclass
class RunInfo:
    """What the `geobench_results_written` hook receives."""

    folder: Path
    results: dict[str, Any]


def _json_default(o):
    if hasattr(o, "to_json"):
        return o.to_json()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, bytes):
        return f"<{len(o)} bytes>"
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON with NaN written as null (strict JSON readers choke on NaN)."""
    return json.dumps(_nan_to_none(obj), indent=indent, default=_json_default, ensure_ascii=False, allow_nan=False)


def _nan_to_none(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_nan_to_none(v) for v in o]
    return o


def check_output_dir(output: str | os.PathLike) -> Path:
    """Create the output folder or fail in one line if it is not writable."""
    out = Path(output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".probe.", delete=True)
        probe.close()
    except OSError as e:
        raise GeobenchError(f"output folder {str(out)!r} is not writable: {e.strerror or e}",
                            hint="pass --output DIR") from None
    return out


class SamplesJournal:
    """`samples_<task>.jsonl.partial` appended line by line as samples finish (tail -f it); `finish` writes
    `samples_<task>.jsonl` atomically in doc order and removes the journal."""

    def __init__(self, folder: Path, task: str):
        self.final = folder / f"samples_{task}.jsonl"
        self.partial = folder / f"samples_{task}.jsonl.partial"
        self._f = None

    def append(self, record: dict) -> None:
        if self._f is None:  # "w": a journal left by a killed run of the same folder is replaced, not extended
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.partial, "w", encoding="utf-8")
        self._f.write(dumps(record, indent=None) + "\n")
        self._f.flush()

    def finish(self, records: list[dict]) -> None:
        self.close()
        atomic_write(self.final, "".join(dumps(r, indent=None) + "\n" for r in records))
        if self.partial.exists():
            self.partial.unlink()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file, skipping a torn last line (a killed writer)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


# -------------------------------------------------------------------------------------------------- tables


def write_run(folder: Path, results: dict) -> None:
    atomic_write(folder / "results.json", dumps(results))


def make_run_dir(out: Path, run_name: str | None, display: str) -> Path:
    if run_name:
        if "/" in run_name or run_name.startswith("."):
            raise GeobenchError(f"bad --run-name {run_name!r}: use a plain folder name")
        folder = out / run_name
        if (folder / "results.json").exists():
            raise GeobenchError(f"run folder {folder} already holds a finished run",
                                hint="choose another --run-name or delete the folder")
        folder.mkdir(parents=True, exist_ok=True)  # a killed run's folder is reused: its journals are rewritten
        return folder
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(display).strip("/")).strip("_")[-60:] or "model"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = out / (f"{slug}__{stamp}" + (f"-{n}" if n else ""))
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise GeobenchError(f"cannot create a run folder under {out}")
