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
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geobench.atomic import atomic_dir, atomic_write, current_umask, space_for  # noqa: F401 - re-exported
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
    tables_agree,
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
        with space_for(self.partial):  # a full disk: one line naming the journal (a torn last line is skipped)
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
            f, self._f = self._f, None
            with space_for(self.partial):
                f.close()


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
    """results.json, atomically; then the run's lock goes (a finished folder holds only its results)."""
    atomic_write(folder / "results.json", dumps(results))
    (folder / ".run.lock").unlink(missing_ok=True)
    _release(folder)


def drop_run_dir(folder: Path) -> None:
    """After a failed run: release the folder, and remove it when nothing was written into it (a run that
    stopped before its first sample leaves no trace); a folder with journals stays for the next run to reuse."""
    _release(folder)
    try:
        if [p.name for p in folder.iterdir()] == [".run.lock"]:
            (folder / ".run.lock").unlink()
            folder.rmdir()
    except OSError:
        pass


# A run holds an advisory lock on `<run>/.run.lock` while it runs (released by the kernel when the process dies,
# however it dies): a folder without results.json whose lock is free was abandoned by a killed run.
_HELD: dict[Path, int] = {}


def _lock(folder: Path) -> bool:
    """Hold `folder`'s run lock for this process; False if another live process holds it."""
    folder = folder.resolve()
    if folder in _HELD:
        return True
    try:
        import fcntl
    except ImportError:  # no advisory locks here: every folder counts as free
        return True
    fd = os.open(folder / ".run.lock", os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _HELD[folder] = fd
    return True


def _release(folder: Path) -> None:
    fd = _HELD.pop(folder.resolve(), None)
    if fd is not None:
        os.close(fd)


def finished_run(out: Path, run_name: str | None) -> dict | None:
    """The results of `--run-name`'s folder when it already holds a finished run that the tables do not show
    yet (a run killed between its results.json and the tables): the tables are rebuilt and the rerun is done.
    None when there is no finished run there; one line when there is one and the tables already show it."""
    if not run_name:
        return None
    folder = _named_folder(out, run_name)
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        results = None
    if isinstance(results, dict) and not tables_agree(out):
        rebuild_tables(out)
        print(f"geobench: run folder {folder} already held this finished run; rebuilt {out / 'table.csv'} "
              "from the run folders", file=sys.stderr)
        results["run_dir"] = str(folder)
        return results
    raise GeobenchError(f"run folder {folder} already holds a finished run",
                        hint="choose another --run-name or delete the folder")


def _named_folder(out: Path, run_name: str) -> Path:
    if "/" in run_name or "\\" in run_name or run_name.startswith(".") or len(run_name) > 200:
        raise GeobenchError(f"bad --run-name {run_name!r}: use a plain folder name")
    return out / run_name


def make_run_dir(out: Path, run_name: str | None, display: str) -> Path:
    """The run's folder, locked for this process. A named one is reused after a kill (its journals are
    rewritten); an unnamed one reuses a folder of the same model that a killed run abandoned (no results.json,
    lock free), so killed runs do not pile up `.partial` journals."""
    if run_name:
        folder = _named_folder(out, run_name)
        if (folder / "results.json").exists():
            raise GeobenchError(f"run folder {folder} already holds a finished run",
                                hint="choose another --run-name or delete the folder")
        folder.mkdir(parents=True, exist_ok=True)
        if not _lock(folder):
            raise GeobenchError(f"run folder {folder} is in use by another geobench run",
                                hint="wait for it to finish or choose another --run-name")
        return folder
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(display).strip("/")).strip("_")[-60:] or "model"
    for old in sorted(out.glob(f"{glob_escape(slug)}__*")):
        if old.is_dir() and not (old / "results.json").exists() and any(old.glob("*.partial")) and _lock(old):
            for journal in old.glob("*.partial"):  # rewritten by this run
                journal.unlink(missing_ok=True)
            return old
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = out / (f"{slug}__{stamp}" + (f"-{n}" if n else ""))
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        _lock(folder)
        return folder
    raise GeobenchError(f"cannot create a run folder under {out}")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
