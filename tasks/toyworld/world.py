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

import math

import numpy as np

from geobench.geo import haversine_km

from .build import _build, _cell, _destination, _fbm, _noise, _seed
from .palette import COUNTRY_PALETTE
from .places import (  # noqa: F401 - re-exported: `from geobench.tasks.toyworld.world import RES, Place, ...`
    BIG_CITY_KM,
    CLIMATES,
    COAST_KM,
    CONTINENT_BANDS,
    CONTINENTAL_INLAND_KM,
    DESERT_INLAND_KM,
    GEOCHAIN_FACTS,
    KM_PER_CELL,
    NLAT,
    NLON,
    RES,
    SETTLEMENTS,
    TOWN_KM,
    City,
    Country,
    Place,
)

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
