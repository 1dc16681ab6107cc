"""Building a toy planet from its seed: noise, sphere geometry, land, countries and cities (cached per seed)."""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from geobench.geo import EARTH_RADIUS_KM

from . import names
from .palette import COUNTRY_PALETTE, ROOF_TINTS, SIGN_SHAPES
from .places import (
    CONTINENT_BANDS,
    ISLAND_MAX_CELLS,
    KM_PER_CELL,
    LAND_THRESHOLD,
    MOUNTAIN_QUANTILE,
    N_ISLAND_BLOBS,
    NLAT,
    NLON,
    RES,
    City,
    Country,
)

# ----------------------------------------------------------------------------------------------------- noise


def _seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's hash() is salted per process, so not that)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


def _hash01(iy: np.ndarray, ix: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) per integer lattice point (splitmix64): noise needing no stored lattice."""
    x = (iy.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (ix.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    x ^= np.uint64(salt)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _noise(lat: np.ndarray, lon: np.ndarray, spacing: float, salt: int) -> np.ndarray:
    """Smooth value noise in [0, 1] on a lat/lon lattice of `spacing` degrees, wrapping in longitude.

    Defined at every point (not only grid cells), so the cached grid and a single Place agree exactly.
    """
    y = (np.asarray(lat, dtype=np.float64) + 90.0) / spacing
    x = (np.asarray(lon, dtype=np.float64) + 180.0) / spacing
    nlon = int(round(360.0 / spacing))
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64) % nlon
    x1 = (x0 + 1) % nlon
    top = _hash01(y0, x0, salt) * (1 - fx) + _hash01(y0, x1, salt) * fx
    bot = _hash01(y0 + 1, x0, salt) * (1 - fx) + _hash01(y0 + 1, x1, salt) * fx
    return top * (1 - fy) + bot * fy


def _fbm(lat, lon, spacing: float, salt: int, octaves: int = 3) -> np.ndarray:
    """Fractal value noise in [0, 1]: octaves at halving spacing."""
    total, amp, norm = 0.0, 1.0, 0.0
    for o in range(octaves):
        total = total + amp * _noise(lat, lon, spacing / 2 ** o, salt + o)
        norm += amp
        amp /= 2
    return total / norm


# ---------------------------------------------------------------------------------------------- geometry


def _unit(lat, lon) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    c = np.cos(la)
    return np.stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)], axis=-1)


def _destination(lat, lon, bearing_deg, dist_km):
    """Point reached from (lat, lon) going dist_km along bearing (degrees clockwise from north); broadcasts."""
    p1, l1 = np.radians(lat), np.radians(lon)
    th, de = np.radians(bearing_deg), np.asarray(dist_km) / EARTH_RADIUS_KM
    p2 = np.arcsin(np.clip(np.sin(p1) * np.cos(de) + np.cos(p1) * np.sin(de) * np.cos(th), -1, 1))
    l2 = l1 + np.arctan2(np.sin(th) * np.sin(de) * np.cos(p1), np.cos(de) - np.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 180.0) % 360.0 - 180.0


def _cell(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    i = np.clip(np.floor((np.asarray(lat) + 90.0) / RES).astype(np.int64), 0, NLAT - 1)
    j = np.floor((np.asarray(lon) + 180.0) / RES).astype(np.int64) % NLON
    return i, j


def _shift(a: np.ndarray, di: int, dj: int, fill) -> np.ndarray:
    """a shifted by (di, dj) cells: wraps in longitude, pads with `fill` beyond the poles."""
    out = np.roll(a, dj, axis=1)
    if di:
        out = np.roll(out, di, axis=0)
        if di > 0:
            out[:di] = fill
        else:
            out[di:] = fill
    return out


# ------------------------------------------------------------------------------------------------ building


@dataclass(frozen=True)
class _Map:
    """The cached, read-only state of one world seed."""

    land: np.ndarray  # (NLAT, NLON) bool
    country: np.ndarray  # (NLAT, NLON) int16 index into countries, -1 at sea
    island: np.ndarray  # (NLAT, NLON) bool
    inland_km: np.ndarray  # (NLAT, NLON) float32, approximate distance to the sea
    elevation_m: np.ndarray  # (NLAT, NLON) float32, 0 at sea
    mountain_m: float
    continents: tuple[str, ...]
    countries: tuple[Country, ...]
    country_cells: tuple[np.ndarray, ...]  # flat cell indices per country
    city_lat: np.ndarray
    city_lon: np.ndarray
    city_big: np.ndarray  # bool per city
    cities: tuple[City, ...]


def _grid_latlon() -> tuple[np.ndarray, np.ndarray]:
    lat = np.arange(NLAT) * RES - 90.0 + RES / 2
    lon = np.arange(NLON) * RES - 180.0 + RES / 2
    return np.meshgrid(lat, lon, indexing="ij")


def _components(land: np.ndarray) -> np.ndarray:
    """Size of the 4-connected landmass each land cell belongs to (0 at sea); wraps in longitude."""
    size = np.zeros(land.shape, dtype=np.int32)
    seen = ~land.copy()
    for start in zip(*np.nonzero(land), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        queue, members = deque([start]), [start]
        while queue:
            i, j = queue.popleft()
            for ni, nj in ((i - 1, j), (i + 1, j), (i, (j - 1) % NLON), (i, (j + 1) % NLON)):
                if 0 <= ni < NLAT and not seen[ni, nj]:
                    seen[ni, nj] = True
                    queue.append((ni, nj))
                    members.append((ni, nj))
        ii, jj = np.array(members).T
        size[ii, jj] = len(members)
    return size


def _inland_km(land: np.ndarray) -> np.ndarray:
    """Approximate distance to the sea, by growing the sea one cell (8-neighbourhood) at a time."""
    dist = np.where(land, np.inf, 0.0)
    reached = ~land
    step = 0
    while not reached.all() and step < 200:
        step += 1
        grown = reached.copy()
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di or dj:
                    grown |= _shift(reached, di, dj, False)
        dist[grown & ~reached] = step * KM_PER_CELL
        reached = grown
    return np.where(np.isinf(dist), step * KM_PER_CELL, dist).astype(np.float32)


def _farthest_points(cells: np.ndarray, xyz: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n cells spread out over a region (greedy farthest-point sampling): even-sized Voronoi cells."""
    pts = xyz[cells]
    chosen = [int(rng.integers(len(cells)))]
    d = pts @ pts[chosen[0]]  # cosine: larger is closer
    for _ in range(n - 1):
        i = int(np.argmin(d))
        chosen.append(i)
        d = np.maximum(d, pts @ pts[i])
    return cells[np.array(chosen)]


def _lloyd(cells: np.ndarray, xyz: np.ndarray, seeds: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Move each seed to the centre of its Voronoi cell a few times: countries of similar size."""
    pts = xyz[cells]
    for _ in range(rounds):
        nearest = np.argmax(pts @ xyz[seeds].T, axis=1)
        for s in range(len(seeds)):
            mine = pts[nearest == s]
            if len(mine):
                seeds[s] = cells[int(np.argmax(pts @ mine.mean(0)))]
    return seeds


def _build_land(seed: int, lat: np.ndarray, lon: np.ndarray, xyz: np.ndarray):
    """Land mask and the continent each cell belongs to (its strongest blob), from seeded blobs plus noise."""
    rng = np.random.default_rng(_seed(seed, "continents"))
    bands = rng.permutation(len(CONTINENT_BANDS))
    lon0 = rng.uniform(-180, 180)
    centres = []
    for k, b in enumerate(bands):
        lo, hi = CONTINENT_BANDS[b]
        centres.append((rng.uniform(lo, hi), (lon0 + k * 360 / len(bands) + rng.uniform(-15, 15) + 180) % 360 - 180))
    strength = np.zeros(lat.shape)
    owner = np.zeros(lat.shape, dtype=np.int8)

    def add_blob(clat, clon, radius_deg, idx):
        nonlocal strength
        chord2 = 2.0 - 2.0 * (xyz @ _unit(clat, clon))  # ~ (angle in radians)^2 for small angles
        s = np.exp(-chord2 / np.radians(radius_deg) ** 2)
        better = s > strength
        owner[better] = idx
        strength = np.maximum(strength, s)

    for idx, (clat, clon) in enumerate(centres):
        # A polar continent has smaller lobes, or it would swallow the whole cap.
        scale = 0.75 if abs(clat) > 58 else 1.0
        for _ in range(int(rng.integers(6, 10))):
            blat, blon = _destination(clat, clon, rng.uniform(0, 360), rng.uniform(0, 2600) * scale)
            add_blob(float(blat), float(blon), rng.uniform(8, 15) * scale, idx)
    cxyz = _unit(np.array([c[0] for c in centres]), np.array([c[1] for c in centres]))
    for _ in range(N_ISLAND_BLOBS):
        blat = math.degrees(math.asin(rng.uniform(-0.92, 0.92)))
        blon = rng.uniform(-180, 180)
        add_blob(blat, blon, rng.uniform(1.2, 2.6), int(np.argmax(cxyz @ _unit(blat, blon))))
    field = strength + 0.55 * (_fbm(lat, lon, 14.0, _seed(seed, "coastnoise")) - 0.5)
    return field > LAND_THRESHOLD, owner


def _build_elevation(seed: int, lat, lon, land: np.ndarray) -> tuple[np.ndarray, float]:
    ridge = 1.0 - np.abs(2.0 * _fbm(lat, lon, 16.0, _seed(seed, "ridges")) - 1.0)
    base = _fbm(lat, lon, 24.0, _seed(seed, "uplift"))
    raw = 0.7 * ridge ** 3 + 0.3 * base
    lo, hi = raw[land].min(), raw[land].max()
    elev = np.where(land, 50.0 + 4800.0 * (raw - lo) / (hi - lo), 0.0).astype(np.float32)
    return elev, float(np.quantile(elev[land], MOUNTAIN_QUANTILE))


@functools.lru_cache(maxsize=8)
def _build(seed: int, n_countries: int) -> _Map:
    lat, lon = _grid_latlon()
    xyz = _unit(lat, lon)
    land, owner = _build_land(seed, lat, lon, xyz)
    island = land & (_components(land) < ISLAND_MAX_CELLS)
    inland = _inland_km(land)
    elevation, mountain_m = _build_elevation(seed, lat, lon, land)

    rng_names = random.Random(_seed(seed, "names"))
    taken: set[str] = set()
    n_cont = len(CONTINENT_BANDS)
    continents = tuple(names.continent_name(rng_names, taken) for _ in range(n_cont))

    # Countries: seats per continent proportional to land area (at least one), then Voronoi per continent.
    rng = np.random.default_rng(_seed(seed, "countries"))
    flat_xyz = xyz.reshape(-1, 3)
    flat_land = land.ravel()
    flat_owner = owner.ravel()
    cont_cells = [np.flatnonzero(flat_land & (flat_owner == c)) for c in range(n_cont)]
    cell_km2 = KM_PER_CELL ** 2 * np.cos(np.radians(lat.ravel()))  # cells shrink towards the poles
    area = np.array([cell_km2[c].sum() for c in cont_cells])
    has_land = area > 0
    seats = np.where(has_land, np.maximum(1, np.floor(area / area.sum() * n_countries)), 0).astype(int)
    while seats.sum() < n_countries:
        seats[np.argmax(np.where(has_land, area / np.maximum(seats, 1), -1))] += 1
    while seats.sum() > n_countries:
        seats[np.argmax(np.where(seats > 1, seats / area, -1))] -= 1
    country = np.full(land.size, -1, dtype=np.int16)
    seed_cont: list[int] = []
    for c in range(n_cont):
        cells = cont_cells[c]
        if seats[c] == 0:
            continue
        mainland = cells[~island.ravel()[cells]]
        mainland = mainland if len(mainland) else cells
        k = min(int(seats[c]), len(mainland))
        seeds = _lloyd(mainland, flat_xyz, _farthest_points(mainland, flat_xyz, k, rng))
        nearest = np.argmax(flat_xyz[cells] @ flat_xyz[seeds].T, axis=1)
        country[cells] = len(seed_cont) + nearest
        seed_cont += [c] * k
    country = country.reshape(land.shape)
    n = len(seed_cont)

    # Visual identity. Palette colours are all distinct; roofs avoid those of bordering countries.
    palette_order = rng.permutation(len(COUNTRY_PALETTE))[:n]
    shapes = [SIGN_SHAPES[i % len(SIGN_SHAPES)] for i in rng.permutation(n)]
    left = rng.random(n) < 0.35
    if n > 1 and (left.all() or not left.any()):  # both driving sides must exist
        left[int(rng.integers(n))] = not left[0]
    adjacent = [set() for _ in range(n)]
    for di, dj in ((1, 0), (0, 1)):
        other = _shift(country, di, dj, -1)
        border = (country >= 0) & (other >= 0) & (country != other)
        for pair in np.unique(country[border].astype(np.int64) * 1024 + other[border]):
            a, b = divmod(int(pair), 1024)
            adjacent[a].add(b)
            adjacent[b].add(a)
    roof_idx: list[int] = []
    use = np.zeros(len(ROOF_TINTS))
    tint_order = rng.permutation(len(ROOF_TINTS))
    for i in range(n):
        banned = {roof_idx[j] for j in adjacent[i] if j < i}
        t = min((t for t in tint_order if t not in banned), key=lambda t: use[t], default=int(tint_order[0]))
        roof_idx.append(int(t))
        use[t] += 1

    codes: set[str] = set()
    countries, cells_per, cities = [], [], []
    flat_country = country.ravel()
    coastal = (inland.ravel() <= KM_PER_CELL * 1.01) & flat_land  # cells touching the sea
    for i in range(n):
        cells = np.flatnonzero(flat_country == i)
        cname = names.country_name(rng_names, taken)
        code = names.country_code(cname, codes)
        mean = flat_xyz[cells].mean(0)
        clat = float(np.degrees(np.arcsin(mean[2] / np.linalg.norm(mean))))
        clon = float(np.degrees(np.arctan2(mean[1], mean[0])))
        own = _place_cities(cells, coastal, rng, rng_names, taken, code)
        cities += own
        countries.append(Country(
            code=code, name=cname, continent=continents[seed_cont[i]],
            palette=COUNTRY_PALETTE[palette_order[i]], roof=ROOF_TINTS[roof_idx[i]], sign_shape=shapes[i],
            sign_text=code[:2], driving_side="left" if left[i] else "right", cities=tuple(own),
            lat=clat, lon=clon, area_km2=float(cell_km2[cells].sum())))
        cells_per.append(cells)

    arrays = dict(land=land, country=country, island=island, inland_km=inland,
                  elevation_m=elevation)
    for a in arrays.values():
        a.flags.writeable = False
    return _Map(**arrays, mountain_m=mountain_m, continents=tuple(continents[c] for c in sorted(set(seed_cont))),
                countries=tuple(countries),
                country_cells=tuple(cells_per), city_lat=np.array([c.lat for c in cities]),
                city_lon=np.array([c.lon for c in cities]),
                city_big=np.array([c.kind == "big_city" for c in cities]), cities=tuple(cities))


def _place_cities(cells, coastal, rng, rng_names, taken, code) -> list[City]:
    """One big city (on the coast half the time, as in real life) and up to 3 small towns, spread apart."""
    on_coast = cells[coastal[cells]]
    pool = on_coast if len(on_coast) and rng.random() < 0.5 else cells
    picked = [int(rng.choice(pool))]
    for cand in rng.permutation(cells):
        if len(picked) == 4:
            break
        ci, cj = divmod(int(cand), NLON)
        far = (abs(ci - pi) + min(abs(cj - pj), NLON - abs(cj - pj)) >= 3 for pi, pj in (divmod(p, NLON) for p in picked))
        if all(far):
            picked.append(int(cand))
    out = []
    for k, cell in enumerate(picked):
        ci, cj = divmod(cell, NLON)
        clat = -90.0 + (ci + 0.5) * RES + rng.uniform(-0.35, 0.35) * RES
        clon = -180.0 + (cj + 0.5) * RES + rng.uniform(-0.35, 0.35) * RES
        big = k == 0
        pop = int(10 ** rng.uniform(5.8, 7.2)) if big else int(10 ** rng.uniform(3.6, 4.9))
        out.append(City(name=names.city_name(rng_names, taken), lat=round(clat, 5), lon=round(clon, 5),
                        population=pop, kind="big_city" if big else "small_town", country_code=code))
    return out

