"""Geolocation tables: rows of a CSV/JSONL as docs, and `CsvBenchmark`, the one loader every CSV benchmark
declares itself to (file per split, column names, image folder) instead of writing its own."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from geobench import data
from geobench.api import Doc, ImageRef
from geobench.errors import GeobenchError

from .task import GeolocationTask

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def pick(columns: Iterable[str], candidates: Iterable[str], path: Path, what: str) -> str:
    """The first candidate column present; a one-line error naming the file if none is."""
    cols = list(columns)
    for c in candidates:
        if c in cols:
            return c
    raise GeobenchError(f"{path}: no {what} column (looked for {', '.join(candidates)}); found {', '.join(cols)}")


def check_unique(ids: list[str], path: Path) -> list[bool]:
    """Which ids to keep: the first of each; a repeat is a bad sample (skipped with on_error="skip")."""
    seen: dict[str, int] = {}
    keep = []
    for i, x in enumerate(ids, 1):
        if x in seen:
            data.skip(data.DataError(f"{path}: duplicate image id {x!r} (rows {seen[x]} and {i})", "duplicated id"))
            keep.append(False)
            continue
        seen[x] = i
        keep.append(True)
    return keep


def image_index(folder: Path) -> dict[str, str]:
    """Every image under `folder` by file stem and by file name -> path relative to `folder`."""
    index: dict[str, str] = {}
    for dirpath, _, files in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS):
                rel = f if rel_dir == "." else os.path.join(rel_dir, f)
                index.setdefault(f, rel)
                index.setdefault(os.path.splitext(f)[0], rel)
    return index


def rows_to_docs(rows: list[dict], path: Path, image_root: Path, *, id_col: str | None, image_col: str,
                 lat_col: str, lon_col: str, country_col: str | None = None, city_col: str | None = None,
                 default_ext: str = "", index: dict[str, str] | None = None, swap_lat_lon: bool = False,
                 extra: Iterable[str] = ()) -> list[Doc]:
    """Docs from table rows: image files joined safely under `image_root` (or looked up in `index`),
    ground truth validated (NaN / out of range is a one-line error naming the row), ids unique."""
    docs: list[Doc] = []
    for i, row in enumerate(rows, 1):
        try:
            docs.append(_row_doc(row, f"{path} row {i}", image_root, id_col=id_col, image_col=image_col,
                                 lat_col=lat_col, lon_col=lon_col, country_col=country_col, city_col=city_col,
                                 default_ext=default_ext, index=index, swap_lat_lon=swap_lat_lon, extra=extra))
        except data.DataError as e:
            data.skip(e)
    return [d for d, keep in zip(docs, check_unique([d.id for d in docs], path), strict=True) if keep]


def _row_doc(row: dict, where: str, image_root: Path, *, id_col, image_col, lat_col, lon_col, country_col,
             city_col, default_ext, index, swap_lat_lon, extra) -> Doc:
    """One table row as a Doc; a bad row is a DataError naming it."""
    name = str(row.get(image_col) or "").strip()
    if not name:
        raise data.DataError(f"{where}: empty {image_col}", "bad row")
    if index is not None:
        rel = index.get(name) or index.get(os.path.splitext(name)[0])
        if rel is None:
            raise data.DataError(f"{where}: no image for {name!r} under {image_root}", "missing image")
        name = rel
    elif default_ext and not os.path.splitext(name)[1]:
        name += default_ext
    try:
        image = data.safe_join(image_root, name)
    except data.DataError as e:
        raise data.DataError(f"{where}: {e}", e.reason) from None
    a, b = (lon_col, lat_col) if swap_lat_lon else (lat_col, lon_col)
    lat, lon = data.lat_lon(row.get(a), row.get(b), where)
    fields: dict[str, Any] = {"lat": lat, "lon": lon}
    if country_col:
        fields["country"] = str(row.get(country_col) or "").strip()
    if city_col:
        fields["city"] = str(row.get(city_col) or "").strip()
    for k in extra:
        if k in row:
            fields[k] = row[k]
    doc_id = str(row.get(id_col) if id_col else row.get(image_col)).strip()
    return Doc(id=doc_id, fields=fields, images=[ImageRef(path=str(image))])


def first_existing(root: Path, candidates: Iterable[str]) -> str | None:
    return next((c for c in candidates if (root / c).is_dir()), None)


# ---------------------------------------------------------------------------------- CSV benchmarks


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV benchmark is laid out: the CSV of each split, the image folder (the first of `image_dirs`
    that exists) and the columns. Each column is a tuple of accepted names, the first present is read.

    required: columns the CSV must have (checked before anything else, a one-line error naming them);
    id_col: the doc id column (None: the image column); default_ext: added to image names without one;
    by_stem: find images by file stem anywhere under the image folder; lon_lat_header: a header under which
    the coordinate columns are known to be swapped (read as lat, lon, with a warning); extra: columns copied
    into the doc fields as they are.
    """

    files: dict[str, str]
    image_dirs: tuple[str, ...]
    image_col: tuple[str, ...]
    lat_col: tuple[str, ...]
    lon_col: tuple[str, ...]
    required: tuple[str, ...] = ()
    id_col: str | None = None
    country_col: tuple[str, ...] = ()
    city_col: tuple[str, ...] = ()
    default_ext: str = ""
    by_stem: bool = False
    lon_lat_header: tuple[str, ...] = ()
    extra: tuple[str, ...] = field(default=())


class CsvBenchmark(GeolocationTask):
    """A geolocation benchmark published as one CSV per split plus an image folder: set `layout`."""

    layout: ClassVar[CsvLayout]

    def image_dir(self) -> str:
        """The image folder in use, relative to root(): the first of `layout.image_dirs` that exists."""
        return first_existing(self.root(), self.layout.image_dirs) or self.layout.image_dirs[0]

    def expected(self, split: str) -> list[str]:
        return [self.layout.files[split], self.image_dir()]

    def load(self, split: str) -> list[Doc]:
        lay = self.layout
        root = self.root()
        path = data.safe_join(root, lay.files[split])  # also marks root as the dataset folder (links checked)
        rows = data.read_csv(path, required=lay.required)
        cols = list(rows[0])
        swap = bool(lay.lon_lat_header) and cols[:len(lay.lon_lat_header)] == list(lay.lon_lat_header)
        if swap:
            warnings.warn(f"{path}: header says LON,LAT but GeoEstimation's values are lat, lon; reading them as "
                          "lat, lon", stacklevel=2)
        image_root = root / self.image_dir()
        return rows_to_docs(rows, path, image_root, id_col=lay.id_col,
                            image_col=pick(cols, lay.image_col, path, "image id"),
                            lat_col=pick(cols, lay.lat_col, path, "latitude"),
                            lon_col=pick(cols, lay.lon_col, path, "longitude"),
                            country_col=pick(cols, lay.country_col, path, "country") if lay.country_col else None,
                            city_col=pick(cols, lay.city_col, path, "city") if lay.city_col else None,
                            default_ext=lay.default_ext, index=image_index(image_root) if lay.by_stem else None,
                            swap_lat_lon=swap, extra=lay.extra)
