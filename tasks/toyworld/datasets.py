"""Toy-world datasets on disk: built once, atomically, under a file lock, in the real benchmarks' layouts.

Each task family registers an exporter `export(folder: Path, splits: dict[str, int], seed: int) -> None` that
writes its dataset (images + metadata) in the published layout its real-benchmark loader reads, so the toy
tasks run the real loading code. `ensure(name)` returns the folder, building it on first use; a killed build
leaves nothing behind and two processes never build the same folder at once.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

TOY_VERSION = "v1"
DEFAULT_SPLITS = {"test": 200, "train": 1000}
DEFAULT_SEED = 0
COMPLETE = ".complete"

Exporter = Callable[[Path, dict[str, int], int], None]
EXPORTERS: dict[str, Exporter] = {}
VERSIONS: dict[str, str] = {}


def register_exporter(name: str, export: Exporter, version: str = "1") -> None:
    """Register a family's exporter. Bump `version` whenever its output changes: the default datasets under
    $GEOBENCH_HOME live in `<name>-<version>/`, so stale data is never reused."""
    EXPORTERS[name] = export
    VERSIONS[name] = version


def toy_root() -> Path:
    home = Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))
    return home / "data" / f"toyworld-{TOY_VERSION}"


def build(name: str, folder: str | os.PathLike, splits: dict[str, int] | None = None,
          seed: int = DEFAULT_SEED) -> Path:
    """Write dataset `name` into `folder` (must not exist yet): into a temp sibling, then rename."""
    from geobench.results import atomic_dir

    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        EXPORTERS[name](tmp, dict(splits or DEFAULT_SPLITS), seed)
        (tmp / COMPLETE).write_text(f"{name} seed={seed} splits={splits or DEFAULT_SPLITS}\n")
    return folder


def ensure(name: str) -> Path:
    """The default toy dataset `name` under $GEOBENCH_HOME, built on first use."""
    from filelock import FileLock

    folder = toy_root() / f"{name}-{VERSIONS[name]}"
    if (folder / COMPLETE).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock"), timeout=600):
        if not (folder / COMPLETE).exists():
            if folder.exists():
                shutil.rmtree(folder)  # an incomplete folder from an older, interrupted layout
            build(name, folder)
    return folder
