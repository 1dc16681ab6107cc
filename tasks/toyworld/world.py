"""The toy world: a deterministic, seeded planet with continents, countries, cities, climates and coasts.

Why a toy planet: every geobench task family needs ground truth that is exact, cheap and offline. Here the
truth about any spot is a pure function of (world seed, lat, lon), so geolocation targets, cross-view hard
negatives and GeoChain-style scene facts all come from one source, and the chain-of-thought generator can
check every claim against `Place.facts()`.

How it is built (once per seed, cached in memory; about 0.6 s on one core):
- a 0.5-degree lat/lon grid; continents are unions of seeded Gaussian blobs on the sphere (one per latitude
  band, so every climate occurs) plus small island blobs and value noise, thresholded into land and sea;
- ~30 countries are Voronoi cells over each continent's land (seeds spread by farthest-point sampling);
- elevation is ridge noise, mountains are its top 15 % on land; islands are landmasses under ~1 M km^2;
- climate follows latitude, shifted by noise, altitude, distance inland and moisture noise.
Fine-scale attributes (roads outside towns, tree cover) come from hashed value noise at ~20 km, so places
a few tens of km apart differ, which is what cross-view hard negatives need.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from geobench.geo import EARTH_RADIUS_KM, haversine_km

from . import names
from .palette import COUNTRY_PALETTE, RGB, ROOF_TINTS, SIGN_SHAPES

RES = 0.5  # grid resolution in degrees
NLAT, NLON = int(180 / RES), int(360 / RES)
KM_PER_CELL = RES * math.pi * EARTH_RADIUS_KM / 180  # north-south size of a cell (~55.6 km)

CLIMATES = ("polar", "continental", "temperate", "dry", "tropical")
SETTLEMENTS = ("big_city", "small_town", "rural")
# The 13 binary, verifiable GeoChain questions, in GeoChain's order.
GEOCHAIN_FACTS = ("boats", "vehicles", "traffic_lights", "flag", "near_equator", "near_poles",
                  "northern_hemisphere", "near_coast", "island", "desert", "mountainous", "big_city", "small_town")

COAST_KM = 50.0  # land within this distance of the sea is "near the coast"
BIG_CITY_KM = 25.0  # radius of a big city's built-up area
TOWN_KM = 8.0  # radius of a small town
ISLAND_MAX_CELLS = 350  # landmasses smaller than this (~1 M km^2 at the equator) are islands
DESERT_INLAND_KM = 150.0  # dry land at least this far from the sea is desert
CONTINENTAL_INLAND_KM = 250.0  # cold-temperate land this far inland has a continental climate
MOUNTAIN_QUANTILE = 0.85  # the highest 15 % of land is mountainous
NEAR_EQUATOR_DEG = 10.0
NEAR_POLES_DEG = 66.5

# One continent per latitude band (degrees), so polar, temperate, dry and tropical land all exist.
CONTINENT_BANDS = ((-74.0, -60.0), (-42.0, -16.0), (-10.0, 10.0), (14.0, 36.0), (38.0, 56.0), (60.0, 74.0))
N_ISLAND_BLOBS = 18
LAND_THRESHOLD = 0.5


# ------------------------------------------------------------------------------------------------ dataclasses


@dataclass(frozen=True)
class City:
    """A settlement: one "big_city" per country and a few "small_town"s."""

    name: str
    lat: float
    lon: float
    population: int
    kind: str  # "big_city" | "small_town"
    country_code: str


@dataclass(frozen=True)
class Country:
    """A Voronoi cell of land with the visual identity the renderers draw (palette, roofs, signs, driving)."""

    code: str
    name: str
    continent: str
    palette: RGB  # sign and flag colour; pairwise distinct (>= 92 apart in RGB)
    roof: RGB  # architecture tint: roofs in both views
    sign_shape: str  # road-sign glyph shape, one of palette.SIGN_SHAPES
    sign_text: str  # letters on the sign
    driving_side: str  # "left" | "right"
    cities: tuple[City, ...]
    lat: float  # centroid of the country's land
    lon: float
    area_km2: float

    @property
    def capital(self) -> City:
        return next(c for c in self.cities if c.kind == "big_city")


@dataclass(frozen=True)
class Place:
    """Everything true about one spot of the toy world. Sea spots have land=False and no country."""

    lat: float
    lon: float
    land: bool
    country_code: str | None
    country_name: str | None
    continent: str | None
    climate: str  # one of CLIMATES
    elevation_m: float
    near_coast: bool  # land within COAST_KM of the sea (for a sea spot: land within COAST_KM)
    sea_bearing: float | None  # direction to the nearby sea, degrees clockwise from north; None if none near
    sea_share: float  # share of 16 directions with sea within COAST_KM (1.0 = surrounded by sea)
    island: bool
    desert: bool
    mountainous: bool
    settlement: str  # one of SETTLEMENTS; sea spots are "rural" (unsettled)
    nearest_city: str
    nearest_city_km: float
    driving_side: str | None
    road: bool  # a road passes here (always in settlements)
    tree_cover: float  # 0..1

    # The GeoChain facts that are not fields already.
    @property
    def boats(self) -> bool:
        return self.near_coast or not self.land

    @property
    def vehicles(self) -> bool:
        return self.road

    @property
    def traffic_lights(self) -> bool:
        return self.settlement == "big_city"

    @property
    def flag(self) -> bool:
        return self.settlement != "rural"

    @property
    def near_equator(self) -> bool:
        return abs(self.lat) < NEAR_EQUATOR_DEG

    @property
    def near_poles(self) -> bool:
        return abs(self.lat) > NEAR_POLES_DEG

    @property
    def northern_hemisphere(self) -> bool:
        return self.lat >= 0

    @property
    def big_city(self) -> bool:
        return self.settlement == "big_city"

    @property
    def small_town(self) -> bool:
        return self.settlement == "small_town"

    def geochain(self) -> dict[str, bool]:
        """The 13 binary GeoChain facts, in GeoChain's order."""
        return {name: bool(getattr(self, name)) for name in GEOCHAIN_FACTS}

    def facts(self) -> dict[str, Any]:
        """All fields plus the GeoChain facts, JSON-serialisable: ground-truth metadata for tasks and CoT."""
        return {**dataclasses.asdict(self), **self.geochain()}

    def visual_key(self) -> tuple:
        """The attributes both the street view and the satellite tile show; used to pick hard negatives."""
        return (self.climate, self.desert, self.near_coast, self.mountainous, self.settlement, self.road)


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


# --------------------------------------------------------------------------------------------------- world


class World:
    """A deterministic planet: `World(seed)` is the same planet in every process; building it is cached."""

    def __init__(self, seed: int = 0, n_countries: int = 30):
        if not len(CONTINENT_BANDS) <= n_countries <= len(COUNTRY_PALETTE):
            raise ValueError(f"n_countries must be in {len(CONTINENT_BANDS)}..{len(COUNTRY_PALETTE)}")
        self.seed = int(seed)
        self._m = _build(self.seed, int(n_countries))
        self.countries: tuple[Country, ...] = self._m.countries
        self.cities: tuple[City, ...] = self._m.cities
        self.continents: tuple[str, ...] = self._m.continents
        self._by_code = {c.code: c for c in self.countries}

    def __repr__(self) -> str:
        return f"World(seed={self.seed}, countries={len(self.countries)}, cities={len(self.cities)})"

    # The grids, read-only (index [i, j] for lat -90 + (i + 0.5) * RES, lon -180 + (j + 0.5) * RES).
    @property
    def land_grid(self) -> np.ndarray:
        return self._m.land

    @property
    def country_grid(self) -> np.ndarray:
        """Index into `countries` per cell, -1 at sea."""
        return self._m.country

    @property
    def elevation_grid(self) -> np.ndarray:
        return self._m.elevation_m

    def country(self, code: str) -> Country:
        return self._by_code[code]

    def country_of(self, place: Place) -> Country | None:
        return self._by_code.get(place.country_code) if place.country_code else None

    # ------------------------------------------------------------------------------------- places

    def place(self, lat: float, lon: float) -> Place:
        """Everything true about (lat, lon) in degrees."""
        return self.places([lat], [lon])[0]

    def places(self, lats, lons) -> list[Place]:
        """`place` for many points at once (vectorised: use it for anything over a handful of points)."""
        a = self._evaluate(np.asarray(lats, dtype=np.float64).ravel(), np.asarray(lons, dtype=np.float64).ravel())
        return [self._to_place(a, i) for i in range(len(a["lat"]))]

    def _evaluate(self, lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
        m = self._m
        lon = (lon + 180.0) % 360.0 - 180.0
        lat = np.clip(lat, -90.0, 90.0)
        i, j = _cell(lat, lon)
        land = m.land[i, j]
        cidx = np.where(land, m.country[i, j], -1)
        elev = np.where(land, m.elevation_m[i, j], 0.0).astype(np.float64)
        inland = m.inland_km[i, j].astype(np.float64)

        # Coast: look for the opposite surface on two rings (COAST_KM/2, COAST_KM) in 16 directions.
        bearings = np.arange(16) * 22.5
        rlat, rlon = _destination(lat[:, None, None], lon[:, None, None], bearings[None, None, :],
                                  np.array([COAST_KM / 2, COAST_KM])[None, :, None])
        ri, rj = _cell(rlat, rlon)
        other = m.land[ri, rj] != land[:, None, None]  # (N, 2, 16)
        hit = other.any(axis=1)
        near_coast = hit.any(axis=1)
        weight = hit + other[:, 0, :]  # the inner ring counts double
        sx = (weight * np.sin(np.radians(bearings))).sum(1)
        sy = (weight * np.cos(np.radians(bearings))).sum(1)
        sea_bearing = np.where(near_coast & land, np.degrees(np.arctan2(sx, sy)) % 360.0, np.nan)
        sea_share = np.where(land, hit.mean(axis=1), 1.0)

        # Climate: latitude, shifted by noise (+-7 deg), altitude (+6 deg per km above the mountain line),
        # distance inland (continental) and moisture (dry belts get wet spots, the tropics dry ones).
        temp = np.abs(lat) + 14.0 * (_fbm(lat, lon, 12.0, _seed(self.seed, "temp")) - 0.5)
        temp += 6.0 * np.maximum(0.0, elev - m.mountain_m) / 1000.0
        moist = _fbm(lat, lon, 15.0, _seed(self.seed, "moist"))
        climate = np.select(
            [temp >= 62, (temp >= 46) & (inland >= CONTINENTAL_INLAND_KM), temp >= 33,
             (temp >= 17) & (moist < 0.66), temp >= 17, moist < 0.3],
            ["polar", "continental", "temperate", "dry", "temperate", "dry"], "tropical")
        desert = land & (climate == "dry") & (inland >= DESERT_INLAND_KM)
        mountainous = land & (elev >= m.mountain_m)

        # Settlements and the nearest city.
        d = haversine_km(lat[:, None], lon[:, None], m.city_lat[None, :], m.city_lon[None, :])
        nearest = np.argmin(d, axis=1)
        d_big = np.where(m.city_big[None, :], d, np.inf).min(axis=1)
        d_town = np.where(~m.city_big[None, :], d, np.inf).min(axis=1)
        settlement = np.where(land & (d_big <= BIG_CITY_KM), "big_city",
                              np.where(land & (d_town <= TOWN_KM), "small_town", "rural"))

        # Fine-scale (~20 km) attributes, so that neighbouring places differ.
        road = land & ((settlement != "rural") | (_noise(lat, lon, 0.2, _seed(self.seed, "road")) > 0.5))
        base_trees = np.select([desert, climate == "tropical", climate == "continental", climate == "temperate",
                                climate == "dry"], [0.0, 0.9, 0.75, 0.6, 0.15], 0.0)
        trees = base_trees * (0.25 + 0.75 * _noise(lat, lon, 0.2, _seed(self.seed, "trees")))
        trees *= np.where(mountainous, 0.5, 1.0) * np.where(settlement == "big_city", 0.4, 1.0) * land
        return dict(lat=lat, lon=lon, land=land, cidx=cidx, climate=climate, elev=elev, near_coast=near_coast,
                    sea_bearing=sea_bearing, sea_share=sea_share, island=land & m.island[i, j], desert=desert,
                    mountainous=mountainous, settlement=settlement, nearest=nearest,
                    nearest_km=d[np.arange(len(lat)), nearest], road=road, trees=trees)

    def _to_place(self, a: dict[str, np.ndarray], k: int) -> Place:
        ci = int(a["cidx"][k])
        country = self.countries[ci] if ci >= 0 else None
        bearing = float(a["sea_bearing"][k])
        return Place(
            lat=float(a["lat"][k]), lon=float(a["lon"][k]), land=bool(a["land"][k]),
            country_code=country.code if country else None, country_name=country.name if country else None,
            continent=country.continent if country else None, climate=str(a["climate"][k]),
            elevation_m=round(float(a["elev"][k]), 1), near_coast=bool(a["near_coast"][k]),
            sea_bearing=None if math.isnan(bearing) else round(bearing, 1),
            sea_share=round(float(a["sea_share"][k]), 4), island=bool(a["island"][k]),
            desert=bool(a["desert"][k]), mountainous=bool(a["mountainous"][k]),
            settlement=str(a["settlement"][k]), nearest_city=self.cities[int(a["nearest"][k])].name,
            nearest_city_km=round(float(a["nearest_km"][k]), 3),
            driving_side=country.driving_side if country else None, road=bool(a["road"][k]),
            tree_cover=round(float(a["trees"][k]), 4))

    # ------------------------------------------------------------------------------------ sampling

    def sample_places(self, n: int, seed: int = 0, land_only: bool = True) -> list[Place]:
        """n places, deterministic in (world seed, seed), spread evenly over countries (round robin).

        Street views need somewhere to stand: each sample is a big city (25 %), a small town (35 %) or
        rural land of the country (40 %; a quarter of it coastal and some on islands, so every GeoChain fact
        occurs). With land_only=False about 15 % are open sea instead.
        """
        rng = np.random.default_rng(_seed(self.seed, seed, "sample"))
        tries = 8
        lat = np.empty((n, tries))
        lon = np.empty((n, tries))
        want_sea = np.zeros(n, dtype=bool)
        order: list[int] = []
        for s in range(n):
            if not order:
                order = [int(i) for i in rng.permutation(len(self.countries))]
            ci = order.pop()
            country, cells = self.countries[ci], self._m.country_cells[ci]
            kind = rng.choice(3, p=[0.25, 0.35, 0.40])
            towns = [c for c in country.cities if c.kind == "small_town"]
            islands = cells[self._m.island.ravel()[cells]]
            coastal = cells[self._m.inland_km.ravel()[cells] <= KM_PER_CELL * 1.01]
            at_sea = want_sea[s] = not land_only and rng.random() < 0.15
            for t in range(tries):
                if at_sea:
                    lat[s, t] = math.degrees(math.asin(rng.uniform(-0.95, 0.95)))
                    lon[s, t] = rng.uniform(-180, 180)
                elif kind < 2 and (kind == 0 or towns) and t < tries - 1:
                    city = country.capital if kind == 0 else towns[int(rng.integers(len(towns)))]
                    radius = 0.9 * (BIG_CITY_KM if kind == 0 else TOWN_KM)
                    la, lo = _destination(city.lat, city.lon, rng.uniform(0, 360), radius * math.sqrt(rng.random()))
                    lat[s, t], lon[s, t] = float(la), float(lo)
                else:  # rural: inside one of the country's cells (always its land); coasts and islands boosted
                    u = rng.random()
                    pool = islands if u < 0.15 and len(islands) else coastal if u < 0.4 and len(coastal) else cells
                    gi, gj = divmod(int(rng.choice(pool)), NLON)
                    lat[s, t] = -90.0 + (gi + rng.uniform(0.02, 0.98)) * RES
                    lon[s, t] = -180.0 + (gj + rng.uniform(0.02, 0.98)) * RES
        a = self._evaluate(lat.ravel(), lon.ravel())
        ok = a["land"].reshape(n, tries) != want_sea[:, None]
        first = np.where(ok.any(axis=1), np.argmax(ok, axis=1), tries - 1)  # the last try is rural land
        return [self._to_place(a, s * tries + int(first[s])) for s in range(n)]

    def neighbours(self, place: Place, k: int = 3, radius_km: float = 50.0, seed: int = 0,
                   distinct: bool = True) -> list[Place]:
        """k other land places within radius_km of `place`: hard negatives for cross-view pairing.

        If fewer than k qualify, the radius is doubled until enough do (so a returned place may lie up to
        radius_km * 2**6 away); `neighbours_with_radius` also returns the radius used. Details there.
        """
        return self.neighbours_with_radius(place, k, radius_km, seed, distinct)[0]

    def neighbours_with_radius(self, place: Place, k: int = 3, radius_km: float = 50.0, seed: int = 0,
                               distinct: bool = True, max_doublings: int = 6) -> tuple[list[Place], float]:
        """k distinct land places within radius_km of `place`, and the radius finally used.

        Same neighbourhood, so usually the same country and climate: that is what makes them hard. With
        distinct=True each one differs from `place` in at least one attribute both views show
        (`Place.visual_key`: climate, desert, coast, mountains, settlement, road), otherwise no model could
        tell the true tile apart; among themselves they prefer different keys. Candidates are uniform in the
        disc plus points in the towns and cities inside it. If fewer than k qualify, the radius is doubled
        (up to max_doublings times, so at most radius_km * 2**max_doublings) and the search repeats; the
        radius actually used is returned. Deterministic in (world seed, place, seed).
        """
        rng = np.random.default_rng(_seed(self.seed, round(place.lat, 6), round(place.lon, 6), seed, "nb"))
        key = place.visual_key()
        radius = float(radius_km)
        for _ in range(max_doublings + 1):
            n = 96
            b = rng.uniform(0, 360, n)
            r = radius * np.sqrt(rng.uniform(0.01, 1.0, n))
            lat, lon = _destination(place.lat, place.lon, b, r)
            dc = haversine_km(place.lat, place.lon, self._m.city_lat, self._m.city_lon)
            near_cities = np.flatnonzero(dc <= radius)
            if len(near_cities):
                idx = np.repeat(near_cities, 3)
                rad = np.where(self._m.city_big[idx], BIG_CITY_KM, TOWN_KM) * np.sqrt(rng.uniform(0, 0.8, len(idx)))
                clat, clon = _destination(self._m.city_lat[idx], self._m.city_lon[idx], rng.uniform(0, 360, len(idx)), rad)
                lat, lon = np.concatenate([lat, clat]), np.concatenate([lon, clon])
            dist = haversine_km(place.lat, place.lon, lat, lon)
            keep = (dist <= radius) & (dist >= min(1.0, radius / 20))
            lat, lon = lat[keep], lon[keep]
            a = self._evaluate(lat, lon)
            keys = list(zip(*(a[f].tolist() for f in ("climate", "desert", "near_coast", "mountainous",
                                                      "settlement", "road")), strict=True))
            cands = [i for i in rng.permutation(len(lat)) if a["land"][i] and not (distinct and keys[i] == key)]
            chosen: list[int] = []
            for fresh_only in (True, False):  # first one per key, then fill up
                for i in cands:
                    if len(chosen) == k:
                        break
                    if i in chosen or (fresh_only and keys[i] in {keys[j] for j in chosen}):
                        continue
                    if all(float(haversine_km(lat[i], lon[i], lat[j], lon[j])) >= 0.5 for j in chosen):
                        chosen.append(i)
            if len(chosen) == k:
                return [self._to_place(a, i) for i in chosen], radius
            radius *= 2
        raise ValueError(f"fewer than {k} neighbours within {radius / 2:.0f} km of ({place.lat:.3f}, {place.lon:.3f})")
