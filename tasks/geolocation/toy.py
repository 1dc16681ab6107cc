"""`geoloc_toy`: geolocation on the offline toy world, and the exporter that renders its dataset in the
IM2GPS3K layout (so the IM2GPS3K loader reads it)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from geobench import data, geo, toydata
from geobench.api import GenConfig, ScaffoldItem
from geobench.errors import GeobenchError
from geobench.tasks.toyworld import knowledge
from geobench.tasks.toyworld.render import render_ground
from geobench.tasks.toyworld.world import NLAT, NLON, RES, World

from . import TOY_EXPORT_VERSION  # noqa: F401 - the version the dataset is registered with
from .loaders import Im2gps3k
from .task import scaffold_item

TOY_CSV = {"test": "im2gps3k_places365.csv", "train": "mp16_places365.csv"}
TOY_META = ("country", "country_code", "city", "continent", "climate", "settlement", "land", "near_coast",
            "island", "desert", "mountainous", "driving_side")
TOY_SPLIT_SEED = {"test": 1, "train": 2}
TOY_WORLD_SEED = 0  # one planet for every toy dataset; `seed` only changes which places are sampled
COUNTRY_GRID = "country_grid.npy"  # the planet's country per grid cell (-1 at sea), read by scoring


@dataclasses.dataclass(frozen=True)
class AreaMap:
    """What scoring needs of the toy planet: its country grid and its cities. Read from the dataset folder
    (`world.json` + `country_grid.npy`, milliseconds) or, for a folder written before they were, built."""

    grid: np.ndarray  # int16 [lat cell, lon cell] -> index into countries, -1 at sea
    countries: list[tuple[str, str]]  # (code, name)
    cities: list[str]
    city_lat: np.ndarray
    city_lon: np.ndarray

    @classmethod
    def of_world(cls, world: World) -> AreaMap:
        return cls(world.country_grid, [(c.code, c.name) for c in world.countries], [c.name for c in world.cities],
                   np.array([c.lat for c in world.cities]), np.array([c.lon for c in world.cities]))

    @classmethod
    def read(cls, root: Path, meta: dict) -> AreaMap:
        """The map saved in `root` (raises GeobenchError, one line, if it is damaged)."""
        path = root / COUNTRY_GRID
        try:
            grid = np.load(path, allow_pickle=False)
            countries = [(str(code), str(name)) for code, name in meta["countries"]]
            cities = [(str(name), float(lat), float(lon)) for name, lat, lon in meta["cities"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise GeobenchError(f"{path}: unreadable toy-world map ({e}); delete the folder to rebuild it") from None
        expected = (NLAT, NLON)
        if grid.shape != expected or grid.dtype.kind != "i" or not -1 <= int(grid.min()) <= int(grid.max()) < len(
                countries) or not cities:
            raise GeobenchError(f"{path}: not a toy-world country grid (shape {grid.shape}, expected {expected}); "
                                "delete the folder to rebuild it")
        return cls(grid, countries, [c[0] for c in cities], np.array([c[1] for c in cities]),
                   np.array([c[2] for c in cities]))


def export(folder: Path, splits: dict[str, int], seed: int) -> None:
    """Write the toy geolocation dataset in the IM2GPS3K layout (so `Im2gps3k`'s loader reads it).

    - `im2gps3k_places365.csv` (test) and `mp16_places365.csv` (train: MP-16 is the im2gps lineage's training
      set, same columns): IMG_ID, AUTHOR, LAT, LON, then toy metadata columns (country, country_code, city =
      nearest toy city, continent, climate, settlement, ...);
    - `images/<IMG_ID>`: 96 px street views rendered by `render_ground`;
    - `places.jsonl`: every `Place.facts()` with its IMG_ID and split (for the scaffolding stage);
    - `world.json`: the planet's seed (always TOY_WORLD_SEED), the sampling seed, its countries and cities, and
      `country_grid.npy` its country per grid cell: what scoring needs, without rebuilding the planet.
    Deterministic: the same (splits, seed) gives the same bytes.
    """
    world = World(TOY_WORLD_SEED)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "world.json").write_text(json.dumps({"world_seed": TOY_WORLD_SEED, "sample_seed": seed,
                                                   "n_countries": len(world.countries),
                                                   "countries": [[c.code, c.name] for c in world.countries],
                                                   "cities": [[c.name, c.lat, c.lon] for c in world.cities],
                                                   "toy_version": toydata.TOY_VERSION}, sort_keys=True) + "\n")
    np.save(folder / COUNTRY_GRID, world.country_grid, allow_pickle=False)
    with open(folder / "places.jsonl", "w", encoding="utf-8") as facts_out:
        for split in ("test", "train"):
            n = int(splits.get(split, 0))
            places = world.sample_places(n, seed=seed * 1000 + TOY_SPLIT_SEED[split]) if n else []
            with open(folder / TOY_CSV[split], "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["IMG_ID", "AUTHOR", "LAT", "LON", *TOY_META])
                for i, p in enumerate(places):
                    img_id = f"toy_{i:05d}.png" if split == "test" else f"toy_{split}_{i:05d}.png"
                    render_ground(world, p, seed=i).save(folder / "images" / img_id, format="PNG", optimize=False)
                    w.writerow([img_id, "toyworld", f"{p.lat:.6f}", f"{p.lon:.6f}", p.country_name or "",
                                p.country_code or "", p.nearest_city, p.continent or "", p.climate, p.settlement,
                                int(p.land), int(p.near_coast), int(p.island), int(p.desert), int(p.mountainous),
                                p.driving_side or ""])
                    facts_out.write(json.dumps({"IMG_ID": img_id, "split": split, **p.facts()}, sort_keys=True) + "\n")


class GeolocToy(Im2gps3k):
    """Geolocation on the toy world (offline, deterministic): the IM2GPS3K loader on a rendered dataset.

    Country / city accuracy use the toy planet's own countries and cities (its geography is not Earth's).
    """

    name = "geoloc_toy"
    version = f"2.0-{geo.DISTANCE_IMPL}"
    default_gen = GenConfig(max_new_tokens=64)  # run by the tiny CPU model in tests and the demo
    splits = ("test", "train")
    source = None
    source_note = "built in: the toy world (geobench.tasks.toyworld), rendered on first use"
    description = "toy-world geolocation: predict (lat, lon) from a rendered street view"
    layout = dataclasses.replace(Im2gps3k.layout, files=TOY_CSV, image_dirs=("images",), extra=TOY_META)
    _world_for: Path | None = None  # the folder the cached planet was read for
    _map_for: Path | None = None  # the folder the cached area map was read for

    def root(self) -> Path:
        return self.folder if self.folder is not None else toydata.ensure("geolocation")

    def data_status(self) -> str | None:
        if self.folder is None:
            return None  # built on first use
        return data.missing(self.folder, [*TOY_CSV.values(), "images", "world.json"], self.source_text())

    def _meta(self, root: Path) -> dict:
        try:
            meta = json.loads((root / "world.json").read_text())
            int(meta["world_seed"]), int(meta["n_countries"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise GeobenchError(f"{root / 'world.json'}: unreadable toy-world metadata ({e})") from None
        return meta

    def _world(self) -> World:
        """The planet itself (built: about half a second)."""
        root = self.root()
        if self._world_for != root:
            meta = self._meta(root)
            self._world_cache = World(int(meta["world_seed"]), int(meta["n_countries"]))
            self._world_for = root
        return self._world_cache

    def _areas(self) -> AreaMap:
        root = self.root()
        if self._map_for != root:
            meta = self._meta(root)
            saved = (root / COUNTRY_GRID).exists() and "cities" in meta
            self._map = AreaMap.read(root, meta) if saved else AreaMap.of_world(self._world())
            self._map_for = root
        return self._map

    def locate(self, lats, lons) -> list[dict[str, Any]]:
        """The toy country (grid cell, None at sea) and nearest toy city of each point: what `World.places`
        says (a test checks it), without computing every other fact, so a GRPO reward costs microseconds."""
        areas = self._areas()
        lat = np.clip(np.asarray(lats, dtype=np.float64).ravel(), -90.0, 90.0)
        lon = (np.asarray(lons, dtype=np.float64).ravel() + 180.0) % 360.0 - 180.0
        grid = areas.grid
        i = np.clip(np.floor((lat + 90.0) / RES).astype(np.int64), 0, grid.shape[0] - 1)
        j = np.floor((lon + 180.0) / RES).astype(np.int64) % grid.shape[1]
        cidx = grid[i, j]
        nearest = np.argmin(geo.haversine_km(lat[:, None], lon[:, None], areas.city_lat[None, :],
                                             areas.city_lon[None, :]), axis=1)
        out = []
        for k in range(len(lat)):
            code, name = areas.countries[int(cidx[k])] if cidx[k] >= 0 else (None, None)
            city = areas.cities[int(nearest[k])]
            out.append({"country_key": code, "city_key": city, "country_name": name, "city_name": city})
        return out

    def area_impl(self) -> str:
        return "toyworld-country-grid-nearest-city"

    def scaffold_items(self, split: str = "train", limit: int | None = None, *,
                       need_template: bool = True) -> list[ScaffoldItem]:
        """Each doc's point with everything the toy world knows there (places.jsonl, its country's signs)."""
        docs = list(self.docs(split, limit))
        world = knowledge.toy_world()
        places: dict[str, dict] = {}
        path = self.root() / "places.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    places[row["IMG_ID"]] = row
        items = []
        for d in docs:
            facts: dict[str, Any] = {"lat": float(d.fields["lat"]), "lon": float(d.fields["lon"])}
            p = places.get(d.id, {})
            facts.update({k: v for k, v in d.fields.items() if k not in ("lat", "lon") and v not in ("", None)})
            for k in ("road", "vehicles", "boats", "traffic_lights", "flag", "sea_bearing", "island"):
                if k in p:
                    facts[k] = p[k]
            facts["city_km"] = p.get("nearest_city_km")
            facts.update({k: v for k, v in knowledge.country_facts(world, d.fields.get("country_code")).items()
                          if k not in ("country", "continent")})
            facts.setdefault("country", p.get("country_name"))
            items.append(scaffold_item(d, facts, city=facts.get("city"), vocab=knowledge.vocab(world)))
        return items
