"""Toy datasets on disk: built once, atomically, under a file lock, in the real benchmarks' layouts.

Task plugins register each toy dataset through `geobench_register_toy_datasets`: `register(name, export,
version)`, where `export(folder, splits, seed)` writes images and metadata in the published layout of the
real benchmark its toy task reads, so the toy tasks run the real loading code. `ensure(name)` returns the
folder, building it on first use; a killed build leaves nothing behind and two processes never build the
same folder at once.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from geobench.atomic import atomic_dir

TOY_VERSION = "v1"
DEFAULT_SPLITS = {"test": 200, "train": 1000}
DEFAULT_SEED = 0
COMPLETE = ".complete"


def _registry():
    from geobench import plugin_manager

    return plugin_manager.registry()


def names() -> list[str]:
    """Every registered toy dataset."""
    return sorted(_registry().toy_datasets)


def toy_root() -> Path:
    home = Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))
    return home / "data" / f"toyworld-{TOY_VERSION}"


def build(name: str, folder: str | os.PathLike, splits: dict[str, int] | None = None,
          seed: int = DEFAULT_SEED) -> Path:
    """Write dataset `name` into `folder` (must not exist yet): into a temp sibling, then rename."""
    export, _ = _registry().toy_dataset(name)
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        export(tmp, dict(splits or DEFAULT_SPLITS), seed)
        (tmp / COMPLETE).write_text(f"{name} seed={seed} splits={splits or DEFAULT_SPLITS}\n")
    return folder


def ensure(name: str) -> Path:
    """The default toy dataset `name` under $GEOBENCH_HOME, built on first use."""
    from filelock import FileLock

    _, version = _registry().toy_dataset(name)
    folder = toy_root() / f"{name}-{version}"
    if (folder / COMPLETE).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock"), timeout=600):
        if not (folder / COMPLETE).exists():
            if folder.exists():
                shutil.rmtree(folder)  # an incomplete folder from an older, interrupted layout
            build(name, folder)
    return folder


def is_built(name: str) -> bool:
    """Whether the default toy dataset `name` is already on disk (no build)."""
    _, version = _registry().toy_dataset(name)
    return (toy_root() / f"{name}-{version}" / COMPLETE).exists()
