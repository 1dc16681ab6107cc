"""`crossview_toy`: cross-view pairing on the toy world, and the exporter that renders its dataset in the
CV-Cities layout (clusters of look-different neighbours, so only the ground view tells the tiles apart)."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np

from geobench import toydata
from geobench.api import GenConfig
from geobench.errors import GeobenchError
from geobench.geo import haversine_km
from geobench.tasks.toyworld import knowledge
from geobench.tasks.toyworld.render import render_ground, render_satellite
from geobench.tasks.toyworld.world import World

from .loaders import CVCities
from .pool import seed_of

TOY_CLUSTER = 4  # places per neighbourhood cluster (all docs; each is every other one's negative)
TOY_SPREAD_KM = 30.0  # cluster members lie within this distance of the cluster's anchor
TOY_RADIUS_KM = 2 * TOY_SPREAD_KM  # so any two members are within the hard radius of each other
TOY_ISOLATION_KM = TOY_RADIUS_KM + 1.0  # places of different clusters are further apart: clusters never mix
TOY_IMAGE_PX = 56  # 4 LLM tokens per image for a Qwen2.5-VL (14-px patches, 2x2 merge): learnability.md
TOY_WORLD_SEED = 0
VISUAL_ATTRS = ("climate", "desert", "near_coast", "mountainous", "settlement", "road")  # = Place.visual_key()


def _toy_attrs(place) -> str:
    return ";".join(f"{k}={int(v) if isinstance(v, bool) else v}"
                    for k, v in zip(VISUAL_ATTRS, place.visual_key(), strict=True))


def _toy_clusters(world, n_clusters: int, seed: int) -> list[list]:
    """n_clusters groups of TOY_CLUSTER land places: pairwise different visual attributes, within
    TOY_SPREAD_KM of an anchor, and more than TOY_ISOLATION_KM from every place of every other cluster.
    Deterministic in (world, seed)."""
    clusters: list[list] = []
    taken = np.empty((0, 2))  # lat, lon of every accepted place

    def isolated(places) -> bool:
        if not len(taken):
            return True
        lat, lon = np.array([[q.lat, q.lon] for q in places]).T
        return float(np.min(haversine_km(lat[:, None], lon[:, None], taken[None, :, 0], taken[None, :, 1]))) \
            > TOY_ISOLATION_KM

    batch = 0
    while len(clusters) < n_clusters:
        if batch > 200:
            raise GeobenchError(f"toy world: could not place {n_clusters} isolated cross-view clusters")
        for j, p in enumerate(world.sample_places(max(64, 3 * n_clusters), seed=seed_of(seed, batch))):
            if len(clusters) == n_clusters:
                break
            if not isolated([p]):
                continue
            members = [p]
            for want in (2 * TOY_CLUSTER, TOY_CLUSTER - 1):  # a wide pick first: more keys to choose from
                try:
                    near, _ = world.neighbours_with_radius(p, k=want, radius_km=TOY_SPREAD_KM,
                                                           seed=seed_of(seed, batch, j), distinct=True,
                                                           max_doublings=0)
                except ValueError:
                    continue
                members = [p]
                for q in near:
                    if len(members) < TOY_CLUSTER and all(q.visual_key() != m.visual_key() for m in members):
                        members.append(q)
                if len(members) == TOY_CLUSTER:
                    break
            if len(members) == TOY_CLUSTER and isolated(members):
                clusters.append(members)
                taken = np.concatenate([taken, [[q.lat, q.lon] for q in members]])
        batch += 1
    return clusters


def export_toy(folder: Path, splits: dict[str, int], seed: int) -> None:
    """Write the toy cross-view dataset in the CV-Cities layout: one "city" per split, `toyworld_<split>`.

    Each split of n rows is ceil(n / TOY_CLUSTER) clusters of TOY_CLUSTER places (so n is rounded up to a
    whole number of clusters): in a cluster every pair differs in at least one attribute both views show
    (`Place.visual_key`), all lie within TOY_RADIUS_KM of each other and no place of another cluster does.
    With k = TOY_CLUSTER each doc's candidates are exactly its cluster, and each cluster's tile set appears
    once with every member as the truth: the tiles alone carry no information about the answer (Geo-R1's
    I(Y; N(S)) = 0), so only matching the ground view beats chance. The clusters of all splits are drawn
    together and dealt out at random, so the splits share one distribution (towns and cities are scarce:
    each hosts at most one cluster) and no test place lies within TOY_ISOLATION_KM of a training place.
    The 7th column holds the attributes.
    """
    world = World(TOY_WORLD_SEED)
    sizes = {split: max(1, math.ceil(n / TOY_CLUSTER)) for split, n in splits.items()}
    clusters = _toy_clusters(world, sum(sizes.values()), seed_of(seed, "clusters"))
    random.Random(seed_of(seed, "deal")).shuffle(clusters)
    start = 0
    for split, size in sizes.items():
        city = f"toyworld_{split}"
        (folder / city / "satellite").mkdir(parents=True)
        (folder / city / "panorama").mkdir(parents=True)
        places = [p for c in clusters[start:start + size] for p in c]
        start += size
        random.Random(seed_of(seed, split, "order")).shuffle(places)  # --limit takes a spread, not a few clusters
        rows = []
        for i, p in enumerate(places):
            name = f"{split}_{i:05d}"
            sat, pano = f"{city}/satellite/{name}.png", f"{city}/panorama/{name}.png"
            render_satellite(world, p, seed=seed, size=TOY_IMAGE_PX).save(folder / sat, optimize=False)
            render_ground(world, p, seed=seed, size=TOY_IMAGE_PX).save(folder / pano, optimize=False)
            rows.append([name, f"{p.lon:.6f}", f"{p.lat:.6f}", city, sat, pano, _toy_attrs(p)])
        with open(folder / city / "img_info.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)


class CrossViewToy(CVCities):
    """`crossview_toy`: cross-view pairing on the toy world, read by the CV-Cities loader.

    difficulty "hard" (default): negatives are the other places of the query's cluster, same neighbourhood
    (radius 60 km), each differing from the truth in at least one attribute both views show (mostly road,
    then coast, mountains, settlement, climate, desert); the tile set alone is uninformative. Measured on
    the default data: matching on road alone scores ~50 % (2x chance at k=4), road + coast ~75 %, three
    attributes ~90 %, all six 100 %, so a small model has a ladder to climb.
    "easy": negatives from anywhere in the split (other climates and countries: roofs, land cover).
    `min_diff=2` asks for negatives that differ in two attributes (they then come from other clusters).
    Built on first use under $GEOBENCH_HOME (toyworld datasets, "crossview"); `root=` reads another copy.
    """

    name = "crossview_toy"
    description = "toy-world cross-view pairing: ground view vs k rendered satellite tiles (hard negatives)"
    default_gen = GenConfig(max_new_tokens=64)
    source = None
    source_note = "the toy world (built on first use)"
    default_min_km = 0.0
    DIFFICULTY = {"hard": TOY_RADIUS_KM, "easy": math.inf}

    def __init__(self, k: int = 4, radius_km: float | None = None, seed: int = 0, difficulty: str = "hard",
                 **kwargs):
        if difficulty not in self.DIFFICULTY:
            raise GeobenchError(f"crossview_toy: difficulty must be one of {', '.join(self.DIFFICULTY)}")
        self.difficulty = difficulty
        radius = self.DIFFICULTY[difficulty] if radius_km is None else radius_km
        super().__init__(k=k, radius_km=radius, seed=seed,
                         cities={"train": ("toyworld_train",), "test": ("toyworld_test",)}, **kwargs)

    def root(self) -> Path:
        return self._root if self._root is not None else toydata.ensure("crossview")

    def data_status(self):
        if self._root is None:
            return None  # built on first use
        return super().data_status()

    def config(self):
        return {**super().config(), "difficulty": self.difficulty}

    def scaffold_areas(self, points):
        return [None] * len(points)  # the toy world's own countries and cities, not Earth's

    def scaffold_place(self, facts, truth, point, area):
        """The toy world's country, continent, nearest city and its closed name lists at the query's point."""
        if point:
            world = knowledge.toy_world()
            place = world.place(*point)
            facts.update(knowledge.country_facts(world, place.country_code))
            truth.country, truth.continent = facts.get("country"), facts.get("continent")
            truth.city = place.nearest_city
            truth.vocab = knowledge.vocab(world)
