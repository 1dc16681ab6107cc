"""The toy world's constants and records: City, Country and Place (everything true about one spot)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from geobench.geo import EARTH_RADIUS_KM

from .palette import RGB

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

