"""An offline land mask for world maps, from the `global-land-mask` package (MIT; NOAA's GLOBE 1 km data).

The package holds a 21600 x 43200 boolean grid (1/120 degree) and loads all of it (~1 GB) on import, so it is
not imported: its compressed file is streamed and every `step`-th row and column kept, and the small grid is
cached under $GEOBENCH_HOME. Without the package, `land_mask()` returns None and maps fall back to a
latitude/longitude grid.
"""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile
from pathlib import Path

SOURCE = "land: NOAA GLOBE 1 km land mask via the global-land-mask package (MIT)"
FULL = 120  # cells per degree in the package's grid


def _home() -> Path:
    return Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))


def land_mask(cells_per_degree: int = 4):
    """(mask, extent): mask[i, j] is True on land, row 0 at 90N, column 0 at 180W; extent is
    (lon0, lon1, lat0, lat1) for matplotlib's imshow. None if global-land-mask is not installed."""
    import numpy as np

    step = FULL // cells_per_degree
    cached = _home() / f"landmask_{cells_per_degree}perdeg.npy"
    extent = (-180.0, 180.0, -90.0, 90.0)
    if cached.is_file():
        try:
            return np.load(cached), extent
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "globe_combined_mask_compressed.npz"
    if not path.is_file():
        return None
    mask = _subsample(path, step)
    from geobench.atomic import atomic_write

    buf = io.BytesIO()
    np.save(buf, mask)
    try:
        atomic_write(cached, buf.getvalue())
    except OSError:
        pass  # an unwritable home only costs the next report a few seconds
    return mask, extent


def _subsample(path: Path, step: int):
    """Every step-th row and column of the package's water mask, read as a stream, returned as land."""
    import numpy as np
    from numpy.lib import format as npformat

    with zipfile.ZipFile(path) as z, z.open("mask.npy") as f:
        version = npformat.read_magic(f)
        read_header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        (n_rows, n_cols), fortran, dtype = read_header(f)
        if fortran or dtype != np.bool_:
            raise ValueError(f"unexpected land mask layout in {path}")
        rows = []
        for i in range(n_rows):
            row = f.read(n_cols)
            if i % step == 0:
                rows.append(np.frombuffer(row, dtype=np.bool_)[::step])
    return ~np.array(rows)  # the file marks water
