"""The cross-view data model: a `Pool` of queries (ground images) and tiles (satellite images) per split,
and the small readers the loaders share."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geobench import data
from geobench.errors import GeobenchError


def seed_of(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Tile:
    """A satellite image (its position is a row of `Pool.tile_pos`); `attrs`: visual attributes or None."""

    id: str
    path: Path
    attrs: dict[str, str] | None = None


@dataclass(frozen=True)
class Query:
    """A ground image, the index of its true tile, and tiles that show it too (never used as negatives)."""

    id: str
    ground: Path
    tile: int
    exclude: tuple[int, ...] = ()


@dataclass
class Pool:
    """One split of a dataset: queries, tiles and their positions in one metric.

    metric: "haversine" (positions are lat, lon in degrees), "planar" (x, y in km, e.g. UTM), "order" (the
    tile's listed order: distance = difference of ranks, radius = `id_window`), "none" (no positions: every
    tile is in the neighbourhood). `query_pos` has one row per query, `tile_pos` one per tile.
    """

    queries: list[Query]
    tiles: list[Tile]
    metric: str
    query_pos: np.ndarray | None = None
    tile_pos: np.ndarray | None = None
    codes: np.ndarray = dataclasses.field(init=False, repr=False)  # (tiles, attributes) value codes, -1 = none
    same_id: dict[int, list[int]] = dataclasses.field(init=False, repr=False)  # tile -> other tiles, same id

    def __post_init__(self):
        by_id: dict[str, list[int]] = {}
        for i, t in enumerate(self.tiles):
            by_id.setdefault(t.id, []).append(i)
        self.same_id = {i: [j for j in ids if j != i] for ids in by_id.values() if len(ids) > 1 for i in ids}
        names = sorted({a for t in self.tiles if t.attrs for a in t.attrs})
        values: dict[tuple[str, str], int] = {}
        self.codes = np.array([[values.setdefault((a, t.attrs[a]), len(values)) if t.attrs and a in t.attrs else -1
                                for a in names] for t in self.tiles], dtype=np.int64).reshape(len(self.tiles), -1)

    def n_different(self, truth: int) -> np.ndarray:
        """Per tile, in how many of the truth's attributes it differs (a missing one counts as different)."""
        mine = self.codes[truth]
        has = mine >= 0
        return (self.codes[:, has] != mine[has]).sum(axis=1)


def distinct(order: list[int], values: list, need: int, used: set) -> list[int]:
    """The first `need` tiles of `order` whose values differ from `used` and from each other."""
    out = []
    for i in order:
        if len(out) == need:
            break
        if values[i] is not None and values[i] not in used:
            out.append(i)
            used.add(values[i])
    return out


def unique_queries(pool: Pool, name: str) -> Pool:
    """The pool with unique query ids; a duplicated one is a one-line error, or (on_error="skip") left out."""
    seen: set[str] = set()
    keep = []
    for i, q in enumerate(pool.queries):
        if q.id in seen:
            data.skip(data.DataError(f"task {name!r}: duplicated item id {q.id!r} in the data", "duplicated id"))
            continue
        seen.add(q.id)
        keep.append(i)
    if len(keep) == len(pool.queries):
        return pool
    pos = None if pool.query_pos is None else pool.query_pos[keep]
    return dataclasses.replace(pool, queries=[pool.queries[i] for i in keep], query_pos=pos)


def read_rows(path: Path, min_cols: int, delimiter: str | None = ",") -> list[list[str]]:
    """Rows of a header-less CSV (delimiter=None: any whitespace), each with at least min_cols fields.

    The published cross-view lists (CV-Cities img_info.csv, CVUSA splits, VIGOR splits) have no header, so
    `geobench.data.read_csv` does not fit; errors are the same one-liners naming the file and line.
    """
    text = data.read_text(path)
    lines = text.splitlines()
    csv.field_size_limit(max(csv.field_size_limit(), 2 ** 31 - 1))  # a long field is a bad row below
    rows = list(csv.reader(lines, delimiter=delimiter)) if delimiter else [ln.split() for ln in lines]
    out = []
    for n, row in enumerate(rows, 1):
        row = [c.strip() for c in row]
        if not any(row):
            continue
        if len(row) < min_cols:
            data.skip(data.DataError(f"{path}:{n}: expected at least {min_cols} fields, found {len(row)}", "bad row"))
            continue
        if any(len(c) > data.MAX_FIELD for c in row):
            data.skip(data.DataError(f"{path}:{n}: a field longer than {data.MAX_FIELD} characters", "bad row"))
            continue
        out.append(row)
    if not out:
        raise GeobenchError(f"{path}: no data rows")
    return out


def is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def subdirs(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_dir())
    except OSError as e:
        raise GeobenchError(f"cannot list {folder}: {e.strerror or e}") from None


def images(folder: Path) -> list[str]:
    exts = (".jpg", ".jpeg", ".png", ".webp")
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(exts))
