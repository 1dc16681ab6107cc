"""Cross-view pairing, Geo-R1's RL proxy: one ground image, k satellite tiles A, B, C..., name the true tile.

Geo-R1 (arXiv 2510.00072) trains its GRPO stage on this task: 1 true tile plus k-1 hard negatives "from the
same spatio-temporal neighbourhood", so that nothing but the ground view tells the tiles apart; the reward is
the chosen letter. Here the same task reads five published cross-view datasets in their own layouts
(CV-Cities, the paper's source; CVUSA; CVACT; VIGOR; University-1652) and a toy version rendered from the
toy world in the CV-Cities layout, so the toy runs the CV-Cities loading code.

How a document is made (the same for every dataset, in `CrossViewTask`):
- a loader turns the data into a `Pool`: queries (a ground image and the index of its true tile) and tiles
  (a satellite image with a position: lat/lon, planar km, or only its listed order);
- negatives are k-1 tiles within `radius_km` of the query (never the truth, never closer than `min_km`, never
  a tile the dataset marks as also showing the query, e.g. VIGOR's semi-positives; where tiles carry visual
  attributes, never one that looks the same as the truth). If fewer qualify, the nearest remaining tiles
  fill up and `beyond_radius` counts them, so a sparse area never fails but always says so;
- the true tile's letter is balanced: within each block of k consecutive documents every letter is true
  exactly once (block order seeded by the task seed), so a model that always answers "A" scores exactly
  chance; the negatives and their order are seeded by (task seed, split, doc id).
Everything a shaped GRPO reward needs is in `doc.fields["candidates"]`: per letter the tile id, whether it is
true, its distance to the query and, where tiles carry attributes (the toy world), its attribute similarity
to the truth. `reward(doc, completion, scheme)` turns that into the binary (released code), signed (paper)
or shaped (learnability2: 1 true, partial credit for a similar tile) reward.

Not implemented: the retrieval variant (Recall@1/5/10 over a whole gallery, for embedding models); it needs
an embedding backend interface that geobench does not have.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geobench import data, parse
from geobench.api import Doc, GenConfig, ImageRef, Task, mean_with_stderr, user
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
THINK_ANSWER = ("First output the thinking process in <think> </think> tags and then output the final answer in "
                "<answer> </answer> tags.")
QUESTION = ("Which satellite image shows the place where the ground-level photo was taken? "
            "Answer with the letter of that satellite image.")
REWARD_SCHEMES = ("binary", "signed", "shaped")
SHAPED_PARTIAL = 0.5  # shaped reward of a wrong tile = SHAPED_PARTIAL * its attribute similarity to the truth
_ATTRS = re.compile(r"^[A-Za-z_][\w]*=[^;=]*(;[A-Za-z_][\w]*=[^;=]*)*$")


def _seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


# ------------------------------------------------------------------------------------------------ the pool


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


def _distinct(order: list[int], values: list, need: int, used: set) -> list[int]:
    """The first `need` tiles of `order` whose values differ from `used` and from each other."""
    out = []
    for i in order:
        if len(out) == need:
            break
        if values[i] is not None and values[i] not in used:
            out.append(i)
            used.add(values[i])
    return out


def attributes(text: str) -> dict[str, str] | None:
    """`climate=dry;road=1` -> {"climate": "dry", "road": "1"}; anything else -> None."""
    text = (text or "").strip()
    if not _ATTRS.match(text):
        return None
    return dict(part.split("=", 1) for part in text.split(";"))


def similarity(a: dict[str, str] | None, b: dict[str, str] | None) -> float | None:
    """Share of the truth's attributes a tile has too (1.0 = looks the same); None without attributes."""
    if not a or not b:
        return None
    return sum(b.get(k) == v for k, v in a.items()) / len(a)


def read_rows(path: Path, min_cols: int, delimiter: str | None = ",") -> list[list[str]]:
    """Rows of a header-less CSV (delimiter=None: any whitespace), each with at least min_cols fields.

    The published cross-view lists (CV-Cities img_info.csv, CVUSA splits, VIGOR splits) have no header, so
    `geobench.data.read_csv` does not fit; errors are the same one-liners naming the file and line.
    """
    text = data.read_text(path)
    lines = text.splitlines()
    rows = list(csv.reader(lines, delimiter=delimiter)) if delimiter else [ln.split() for ln in lines]
    out = []
    for n, row in enumerate(rows, 1):
        row = [c.strip() for c in row]
        if not any(row):
            continue
        if len(row) < min_cols:
            data.skip(data.DataError(f"{path}:{n}: expected at least {min_cols} fields, found {len(row)}", "bad row"))
            continue
        out.append(row)
    if not out:
        raise GeobenchError(f"{path}: no data rows")
    return out


# ------------------------------------------------------------------------------------------------ the task


class CrossViewTask(Task):
    """Base of every cross-view pairing task: subclasses only load a `Pool` (`_load`) and say where data is.

    Parameters (all tasks): k candidates (2..26), radius_km of the neighbourhood negatives come from, seed,
    min_km (negatives at least this far from the query: near-duplicates are not negatives), min_diff (where
    tiles carry attributes: each negative differs from the truth in at least this many), differ_in (an
    attribute, e.g. "climate": the truth and every negative each have a different value of it, so that one
    cue alone identifies the truth; `geobench demo` uses it), negatives ("random" among the qualifying tiles,
    Geo-R1's sampling; or "nearest", the hardest by distance).
    """

    group = "crossview"
    version = "1.0"
    higher_is_better = {"acc": True, "chance": True, "parse_rate": True, "format_rate": True}
    default_gen = GenConfig(max_new_tokens=1024)  # Geo-R1 writes ~380 tokens on average
    source = ""  # where to get the data (shown when it is missing)
    question = QUESTION
    default_radius_km = 1.0
    default_min_km = 0.05

    def __init__(self, k: int = 4, radius_km: float | None = None, seed: int = 0, min_km: float | None = None,
                 min_diff: int = 1, negatives: str = "random", root: str | os.PathLike | None = None,
                 split: str | None = None, differ_in: str | None = None):
        if not 2 <= int(k) <= len(LETTERS):
            raise GeobenchError(f"{self.name}: k must be in 2..{len(LETTERS)}, got {k}")
        if negatives not in ("random", "nearest"):
            raise GeobenchError(f"{self.name}: negatives must be 'random' or 'nearest', got {negatives!r}")
        self.k = int(k)
        self.radius_km = float(self.default_radius_km if radius_km is None else radius_km)
        self.min_km = float(self.default_min_km if min_km is None else min_km)
        if self.radius_km <= 0 or self.min_km < 0:
            raise GeobenchError(f"{self.name}: radius_km must be > 0 and min_km >= 0")
        self.seed = int(seed)
        self.min_diff = int(min_diff)
        self.negatives = negatives
        self.differ_in = differ_in or None
        self._root = Path(root).expanduser() if root is not None else None
        if split is not None:
            self.split = split
        self._pools: dict[str, Pool] = {}

    # ---------------------------------------------------------------------------------- data location
    def root(self) -> Path:
        return self._root if self._root is not None else data.benchmark_dir(self.name)

    def expected(self, split: str) -> list[str]:
        """Files/folders under root() that must exist for `split`."""
        return []

    def data_status(self) -> str | None:
        return data.missing(self.root(), self.expected(self.split), self.source)

    def _load(self, split: str) -> Pool:
        raise NotImplementedError

    def pool(self, split: str | None = None) -> Pool:
        split = split or self.split
        if split not in self._pools:
            reason = data.missing(self.root(), self.expected(split), self.source)
            if reason:
                raise GeobenchError(f"task {self.name!r}: {reason}")
            pool = _unique_queries(self._load(split), self.name)
            if len(pool.tiles) < self.k:
                raise GeobenchError(f"task {self.name!r}: split {split!r} has {len(pool.tiles)} satellite tiles; "
                                    f"k={self.k} candidates need at least {self.k}")
            self._pools[split] = pool
        return self._pools[split]

    def config(self) -> dict[str, Any]:
        radius = self.radius_km if math.isfinite(self.radius_km) else None  # JSON has no infinity
        return {**super().config(), "k": self.k, "radius_km": radius, "min_km": self.min_km,
                "min_diff": self.min_diff, "negatives": self.negatives, "seed": self.seed,
                **({"differ_in": self.differ_in} if self.differ_in else {})}

    # -------------------------------------------------------------------------------------- documents
    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        split = split or self.split
        pool = self.pool(split)
        n = len(pool.queries) if limit is None else min(limit, len(pool.queries))
        for i in range(n):
            yield self.make_doc(pool, i, split)

    def _distances(self, pool: Pool, qi: int) -> tuple[np.ndarray, float, float, str | None]:
        """Distances from query qi to every tile, the radius and minimum in the same unit, and the unit."""
        if pool.metric == "haversine":
            from geobench.geo import haversine_km

            lat, lon = pool.query_pos[qi]
            d = haversine_km(lat, lon, pool.tile_pos[:, 0], pool.tile_pos[:, 1])
            return np.asarray(d, dtype=np.float64), self.radius_km, self.min_km, "km"
        if pool.metric == "planar":
            d = np.hypot(*(pool.tile_pos - pool.query_pos[qi]).T)
            return d, self.radius_km, self.min_km, "km"
        if pool.metric == "order":
            d = np.abs(pool.tile_pos[:, 0] - pool.query_pos[qi, 0]).astype(np.float64)
            return d, float(getattr(self, "id_window", 50)), 0.0, "ranks"
        return np.zeros(len(pool.tiles)), math.inf, 0.0, None

    def negatives_for(self, pool: Pool, qi: int, split: str) -> tuple[list[int], np.ndarray, int]:
        """k-1 negative tile indices for query qi, the distance array, and how many lie beyond the radius."""
        q = pool.queries[qi]
        d, radius, min_d, _ = self._distances(pool, qi)
        ok = d >= min_d
        ok[q.tile] = False
        for t in q.exclude:
            ok[t] = False
        for t in pool.same_id.get(q.tile, ()):  # a tile listed twice (e.g. a skipped duplicate row)
            ok[t] = False
        if pool.tiles[q.tile].attrs:  # visual attributes known: a negative must look different from the truth
            ok &= pool.n_different(q.tile) >= self.min_diff
        need = self.k - 1
        inside = np.flatnonzero(ok & (d <= radius))
        rng = random.Random(_seed(self.seed, split, q.id, "negatives"))
        values = self._differ_values(pool)
        if values is None:
            if self.negatives == "nearest" or len(inside) <= need:
                chosen = sorted(inside.tolist(), key=lambda i: (d[i], pool.tiles[i].id))[:need]
            else:
                chosen = rng.sample(inside.tolist(), need)
        else:  # one tile per value of `differ_in`, none with the truth's value
            order = sorted(inside.tolist(), key=lambda i: (d[i], pool.tiles[i].id))
            if self.negatives == "random":
                rng.shuffle(order)
            chosen = _distinct(order, values, need, {values[q.tile]})
        beyond = 0
        if len(chosen) < need:  # a sparse neighbourhood: the nearest qualifying tiles outside the radius
            outside = sorted(np.flatnonzero(ok & (d > radius)).tolist(), key=lambda i: (d[i], pool.tiles[i].id))
            extra = outside[:need - len(chosen)] if values is None else \
                _distinct(outside, values, need - len(chosen), {values[t] for t in [q.tile, *chosen]})
            beyond = len(extra)
            chosen += extra
        if len(chosen) < need:
            raise GeobenchError(f"task {self.name!r}: only {len(chosen)} usable negative tiles for {q.id!r} in "
                                f"split {split!r}; k={self.k} needs {need}")
        rng.shuffle(chosen)
        return chosen, d, beyond

    def _differ_values(self, pool: Pool) -> list | None:
        """Per tile, its value of the `differ_in` attribute (None: no such constraint)."""
        if not self.differ_in:
            return None
        if not any(t.attrs and self.differ_in in t.attrs for t in pool.tiles):
            known = sorted({a for t in pool.tiles if t.attrs for a in t.attrs})
            raise GeobenchError(f"task {self.name!r}: differ_in={self.differ_in!r} is not a tile attribute here"
                                + (f" (known: {', '.join(known)})" if known else " (its tiles carry no attributes)"))
        return [t.attrs.get(self.differ_in) if t.attrs else None for t in pool.tiles]

    def true_position(self, index: int, split: str) -> int:
        """Balanced letters: in each block of k consecutive docs each position is true exactly once."""
        block, offset = divmod(index, self.k)
        order = list(range(self.k))
        random.Random(_seed(self.seed, split, block, "letters")).shuffle(order)
        return order[offset]

    def make_doc(self, pool: Pool, qi: int, split: str) -> Doc:
        q = pool.queries[qi]
        negs, d, beyond = self.negatives_for(pool, qi, split)
        pos = self.true_position(qi, split)
        order = negs[:pos] + [q.tile] + negs[pos:]
        radius, unit = self._radius_unit(pool)
        truth = pool.tiles[q.tile]
        candidates = []
        for letter, t in zip(LETTERS, order, strict=False):
            tile = pool.tiles[t]
            candidates.append({
                "letter": letter, "tile_id": tile.id, "true": t == q.tile,
                "distance": None if unit is None else round(float(d[t]), 6),
                "similarity": 1.0 if t == q.tile and truth.attrs else similarity(truth.attrs, tile.attrs),
                "attributes": dict(tile.attrs) if tile.attrs else None,
            })
        fields = {
            "answer": LETTERS[pos], "k": self.k, "letters": list(LETTERS[:self.k]), "query_id": q.id,
            "candidates": candidates, "radius": radius, "distance_unit": unit, "beyond_radius": beyond,
            "dataset": self.name, "split": split, "seed": self.seed,
        }
        images = [ImageRef(path=str(q.ground))] + [ImageRef(path=str(pool.tiles[t].path)) for t in order]
        return Doc(id=q.id, fields=fields, images=images)

    def _radius_unit(self, pool: Pool) -> tuple[float | None, str | None]:
        """The radius as recorded (None = unbounded) and its unit (None = no positions)."""
        if pool.metric in ("haversine", "planar"):
            return (self.radius_km if math.isfinite(self.radius_km) else None), "km"
        if pool.metric == "order":
            return float(getattr(self, "id_window", 50)), "ranks"
        return None, None

    # ---------------------------------------------------------------------------------- prompt, score
    def to_messages(self, doc: Doc) -> list[dict]:
        k = doc.fields["k"]
        parts: list = ["Ground-level photo:", doc.images[0], f"Satellite images ({k} candidates):"]
        for letter, img in zip(LETTERS[:k], doc.images[1:], strict=True):
            parts += [f"{letter}:", img]
        parts.append(f"{self.question} {THINK_ANSWER}")
        return user(*parts)

    @staticmethod
    def letter(doc: Doc, completion: Any) -> str | None:
        """The chosen letter (among the doc's k), or None."""
        text = completion if isinstance(completion, str) else ""
        try:
            return parse.choice(text, int(doc.fields["k"]))
        except Exception:  # noqa: BLE001 - scoring must never raise on what a model wrote
            return None

    def extract(self, doc: Doc, completion: str) -> str | None:
        return self.letter(doc, completion)

    def score(self, doc: Doc, completion: str) -> dict[str, float]:
        chosen = self.letter(doc, completion)
        text = completion if isinstance(completion, str) else ""
        return {"acc": float(chosen is not None and chosen == doc.fields["answer"]),
                "chance": 1.0 / doc.fields["k"],
                "parse_rate": float(chosen is not None),
                "format_rate": float(parse.is_think_answer(text))}

    def picked(self, doc: Doc, completion: str) -> dict | None:
        """The candidate record (letter, tile id, true, distance, similarity, attributes) the model chose."""
        chosen = self.letter(doc, completion)
        return next((c for c in doc.fields["candidates"] if c["letter"] == chosen), None)

    def reward(self, doc: Doc, completion: str, scheme: str = "binary", partial: float = SHAPED_PARTIAL) -> float:
        """The accuracy reward of one completion.

        binary: 1 if the chosen tile is true else 0 (Geo-R1's released `mcq` reward); signed: +1 / -1 (the
        paper's r_acc; no answer is -1); shaped: 1 for the true tile, `partial` x attribute similarity for a
        wrong tile that carries attributes (toy world: sharing most of what both views show earns the most),
        0 for no answer or a wrong tile without attributes (learnability2.md: 1 / 0.5 / 0).
        """
        if scheme not in REWARD_SCHEMES:
            raise GeobenchError(f"unknown reward scheme {scheme!r}; known: {', '.join(REWARD_SCHEMES)}")
        pick = self.picked(doc, completion)
        right = bool(pick and pick["true"])
        if scheme == "binary":
            return float(right)
        if scheme == "signed":
            return 1.0 if right else -1.0
        if right:
            return 1.0
        return float(partial * (pick.get("similarity") or 0.0)) if pick else 0.0

    def aggregate(self, per_sample: list[dict[str, float]]) -> dict[str, float]:
        return mean_with_stderr(per_sample)


# ---------------------------------------------------------------------------------------------- CV-Cities


class CVCities(CrossViewTask):
    """CV-Cities (Gao et al., "CV-Cities: Advancing Cross-View Geo-Localization in Global Cities", IEEE JSTARS
    18:1592-1606, arXiv 2411.12431; https://github.com/GaoShuang98/CVCities, data on the Hugging Face hub at
    gaoshuang98/CV-Cities): 223,736 ground-satellite pairs in 16 cities. Geo-R1's RL data comes from it.

    Layout implemented (the authors' loader, `cvcities_base/dataset/cvcities.py`):
        <root>/<city>/img_info.csv   no header; columns: name, longitude, latitude, city, sat_dir, pano_dir
        <root>/<sat_dir>, <root>/<pano_dir>   image paths relative to <root>
    Splits are by city as in the authors' training script: train = barcelona, captown, losangeles, maynila,
    melbourne, mexico, newyork, paris, santiago, tokyo; test = taipei, singapore, london, seattle, rio,
    sydney (`cities=` overrides). Note longitude comes before latitude. Negatives: other rows of the same
    split within radius_km by GPS (haversine). A first row whose coordinates are not numbers is taken as a
    header; an optional 7th column `key=value;...` (geobench's extension, written by the toy exporter) gives
    visual attributes: negatives must then differ from the truth in >= min_diff of them.
    """

    name = "cvcities"
    description = "CV-Cities cross-view pairing: pick the satellite tile of a ground photo among k (16 cities)"
    source = "https://huggingface.co/datasets/gaoshuang98/CV-Cities (layout: github.com/GaoShuang98/CVCities)"
    TRAIN_CITIES = ("barcelona", "captown", "losangeles", "maynila", "melbourne", "mexico", "newyork", "paris",
                    "santiago", "tokyo")
    TEST_CITIES = ("taipei", "singapore", "london", "seattle", "rio", "sydney")

    def __init__(self, *args, cities: dict[str, Iterable[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cities = {"train": tuple(self.TRAIN_CITIES), "test": tuple(self.TEST_CITIES)}
        if cities:
            self.cities.update({s: tuple(c) for s, c in cities.items()})

    def _split_cities(self, split: str) -> tuple[str, ...]:
        if split not in self.cities:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: {', '.join(self.cities)}")
        return self.cities[split]

    def expected(self, split):
        return [f"{c}/img_info.csv" for c in self._split_cities(split)]

    def _load(self, split):
        root = self.root()
        queries, tiles, pos = [], [], []
        for city in self._split_cities(split):
            path = data.safe_join(root, f"{city}/img_info.csv")
            for n, row in enumerate(read_rows(path, 6), 1):
                name, lon, lat, _, sat_dir, pano_dir = row[:6]
                if n == 1 and not _is_number(lon):
                    continue  # a header line
                try:
                    la, lo = data.lat_lon(lat, lon, f"{path}:{n}")
                except data.DataError as e:
                    data.skip(e)
                    continue
                rid = f"{city}/{name}"
                tiles.append(Tile(rid, data.safe_join(root, sat_dir), attributes(row[6]) if len(row) > 6 else None))
                queries.append(Query(rid, data.safe_join(root, pano_dir), len(tiles) - 1))
                pos.append((la, lo))
        arr = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        return Pool(queries, tiles, "haversine", arr, arr)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _unique_queries(pool: Pool, name: str) -> Pool:
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


# -------------------------------------------------------------------------------------------------- CVUSA


class CVUSA(CrossViewTask):
    """CVUSA (Workman, Souvenir, Jacobs, "Wide-Area Image Geolocalization with Aerial Reference Imagery",
    ICCV 2015; https://mvrl.cse.wustl.edu/datasets/cvusa/) in the CVM-Net subset used by every cross-view
    paper since (Hu et al. CVPR 2018; Sample4Geo's `cvusa.py`): 35,532 train and 8,884 test pairs.

    Layout implemented:
        <root>/splits/train-19zl.csv, <root>/splits/val-19zl.csv   no header: sat, ground, annotation paths,
            e.g. bingmap/19/0000001.jpg,streetview/panos/0000001.jpg,streetview/annotations/0000001.png
        <root>/split_locations/all.csv   optional, no header: sat_lat, sat_lon, ground_lat, ground_lon, ...,
            row i-1 for image number i (the file Sample4Geo's GPS sampling reads)
    The test split is val-19zl.csv (the standard CVUSA test set). Negatives: with all.csv, tiles within
    radius_km by GPS (default 5 km: CVUSA is sparse); without it the subset has no coordinates, so the
    fallback is the tiles whose image numbers are nearest (within `id_window` ranks in number order) -
    a guess that numbering follows collection order; it is documented in each doc (distance_unit "ranks").
    """

    name = "cvusa"
    description = "CVUSA cross-view pairing (CVM-Net subset): panorama vs k Bing aerial tiles"
    source = "https://mvrl.cse.wustl.edu/datasets/cvusa/ (CVM-Net subset with splits/*-19zl.csv)"
    default_radius_km = 5.0
    SPLIT_FILES = {"train": "splits/train-19zl.csv", "test": "splits/val-19zl.csv"}

    def __init__(self, *args, id_window: int = 50, **kwargs):
        super().__init__(*args, **kwargs)
        self.id_window = int(id_window)

    def expected(self, split):
        if split not in self.SPLIT_FILES:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return [self.SPLIT_FILES[split]]

    def _load(self, split):
        root = self.root()
        path = data.safe_join(root, self.SPLIT_FILES[split])
        queries, tiles, nums = [], [], []
        for n, row in enumerate(read_rows(path, 2), 1):
            sat, ground = row[0], row[1]
            m = re.search(r"(\d+)\.\w+$", sat)
            if not m:
                raise GeobenchError(f"{path}:{n}: cannot read the image number from {sat!r}")
            num = int(m.group(1))
            tiles.append(Tile(str(num), data.safe_join(root, sat)))
            queries.append(Query(str(num), data.safe_join(root, ground), len(tiles) - 1))
            nums.append(num)
        locations = root / "split_locations" / "all.csv"
        if locations.exists():
            with data.no_skipping():  # read by position: a left-out row would shift every later image
                loc = read_rows(data.safe_join(root, "split_locations/all.csv"), 4)
            pos = []
            for num in nums:
                if not 1 <= num <= len(loc):
                    raise GeobenchError(f"{locations}: no row {num} (image number {num}; file has {len(loc)} rows)")
                r = loc[num - 1]
                pos.append(data.lat_lon(r[2], r[3], f"{locations}:{num}"))
            arr = np.asarray(pos, dtype=np.float64)
            return Pool(queries, tiles, "haversine", arr, arr)
        ranks = np.empty(len(nums), dtype=np.float64)
        ranks[np.argsort(nums, kind="stable")] = np.arange(len(nums))
        arr = np.stack([ranks, np.zeros_like(ranks)], axis=1)
        return Pool(queries, tiles, "order", arr, arr)


# -------------------------------------------------------------------------------------------------- CVACT


class CVACT(CrossViewTask):
    """CVACT (Liu & Li, "Lending Orientation to Neural Networks for Cross-view Geo-localization", CVPR 2019;
    https://github.com/Liumouliu/OriCNN): Canberra, street-view panoramas and satellite tiles with UTM
    coordinates. The standard evaluation set is CVACT_val (8,884 pairs); training uses 35,532.

    Layout implemented (as read by Sample4Geo / CVCities `cvact.py`):
        <root>/ACT_data.mat   panoIds (N), utm (N x 2, metres), trainSet.trainInd, valSet.valInd (1-based)
        <root>/ANU_data_small/streetview/<panoId>_grdView.jpg
        <root>/ANU_data_small/satview_polish/<panoId>_satView_polish.jpg
    Split "test" = valSet (CVACT_val), "train" = trainSet. As in those loaders, ids whose two images are
    missing are skipped. Negatives: tiles within radius_km by UTM (planar) distance. Needs scipy.
    """

    name = "cvact"
    description = "CVACT cross-view pairing (CVACT_val): Canberra panorama vs k satellite tiles"
    source = "https://github.com/Liumouliu/OriCNN (CVACT; ACT_data.mat + ANU_data_small/)"
    SETS = {"train": ("trainSet", "trainInd"), "test": ("valSet", "valInd")}

    def expected(self, split):
        if split not in self.SETS:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return ["ACT_data.mat", "ANU_data_small/streetview", "ANU_data_small/satview_polish"]

    def _load(self, split):
        root = self.root()
        mat_path = data.safe_join(root, "ACT_data.mat")
        try:
            import scipy.io
        except ImportError:
            raise GeobenchError("task 'cvact' reads ACT_data.mat with scipy: pip install scipy") from None
        try:
            mat = scipy.io.loadmat(str(mat_path))
        except Exception as e:  # noqa: BLE001 - scipy raises many types for a bad file
            raise GeobenchError(f"{mat_path}: cannot read as a MATLAB file ({type(e).__name__}: {e})") from None
        try:
            ids = [str(np.asarray(x).ravel()[0]).strip() if np.asarray(x).size else ""
                   for x in np.asarray(mat["panoIds"]).ravel()]
            utm = np.asarray(mat["utm"], dtype=np.float64).reshape(-1, 2)
            struct, field = self.SETS[split]
            s = mat[struct]
            inds = s[field][0, 0] if field in (s.dtype.names or ()) else s[0, 0][1]
            inds = np.asarray(inds, dtype=np.int64).ravel() - 1
        except (KeyError, IndexError, ValueError, TypeError, OSError, NotImplementedError) as e:
            raise GeobenchError(f"{mat_path}: not the CVACT ACT_data.mat layout ({type(e).__name__}: {e})") from None
        if len(ids) != len(utm) or (len(inds) and (inds.min() < 0 or inds.max() >= len(ids))):
            raise GeobenchError(f"{mat_path}: panoIds, utm and {struct}.{field} do not agree in size")
        queries, tiles, pos = [], [], []
        for i in inds:
            pid = ids[i]
            ground = data.safe_join(root, f"ANU_data_small/streetview/{pid}_grdView.jpg")
            sat = data.safe_join(root, f"ANU_data_small/satview_polish/{pid}_satView_polish.jpg")
            if not (ground.exists() and sat.exists()):
                continue
            tiles.append(Tile(pid, sat))
            queries.append(Query(pid, ground, len(tiles) - 1))
            pos.append(utm[i] / 1000.0)
        arr = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
        return Pool(queries, tiles, "planar", arr, arr)


# -------------------------------------------------------------------------------------------------- VIGOR


class VIGOR(CrossViewTask):
    """VIGOR (Zhu, Yang, Chen, "VIGOR: Cross-View Image Geo-localization beyond One-to-one Retrieval",
    CVPR 2021; https://github.com/Jeff-Zilence/VIGOR, data/DATASET.md): Chicago, NewYork, SanFrancisco,
    Seattle; GPS in every file name.

    Layout implemented (the authors' DATASET.md and dataloader.py):
        <root>/<City>/panorama/<prefix>,<lat>,<lon>,.jpg
        <root>/<City>/satellite/satellite_<lat>_<lon>.png
        <root>/splits/<City>/satellite_list.txt            one tile name per line
        <root>/splits/<City>/same_area_balanced_{train,test}.txt   (same-area protocol, all four cities)
        <root>/splits/<City>/pano_label_balanced.txt       (cross-area: train NewYork+Seattle, test
                                                            SanFrancisco+Chicago)
        split lines: pano positive dx dy semi1 dx dy semi2 dx dy semi3 dx dy (space separated)
    Negatives: tiles of the split's cities within radius_km of the panorama (haversine), never the positive
    nor its three semi-positives (they show the panorama's location too).
    """

    name = "vigor"
    description = "VIGOR cross-view pairing (same-area): panorama vs k satellite tiles, semi-positives excluded"
    source = "https://github.com/Jeff-Zilence/VIGOR (dataset on request, see data/DATASET.md)"
    CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
    CROSS = {"train": ("NewYork", "Seattle"), "test": ("SanFrancisco", "Chicago")}

    def __init__(self, *args, same_area: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.same_area = bool(same_area)

    def _cities(self, split):
        if split not in ("train", "test"):
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return self.CITIES if self.same_area else self.CROSS[split]

    def _label_file(self, split):
        return f"same_area_balanced_{split}.txt" if self.same_area else "pano_label_balanced.txt"

    def expected(self, split):
        out = []
        for c in self._cities(split):
            out += [f"splits/{c}/satellite_list.txt", f"splits/{c}/{self._label_file(split)}"]
        return out

    def config(self):
        return {**super().config(), "same_area": self.same_area}

    def _load(self, split):
        root = self.root()
        tiles, tile_pos, index = [], [], {}
        for city in self._cities(split):
            path = data.safe_join(root, f"splits/{city}/satellite_list.txt")
            for n, row in enumerate(read_rows(path, 1, delimiter=None), 1):
                name = row[0]
                m = re.search(r"satellite_(-?[\d.]+)_(-?[\d.]+)\.\w+$", name)
                if not m:
                    raise GeobenchError(f"{path}:{n}: tile name {name!r} is not satellite_<lat>_<lon>.<ext>")
                try:
                    tile_pos.append(data.lat_lon(m.group(1), m.group(2), f"{path}:{n}"))
                except data.DataError as e:
                    data.skip(e)
                    continue
                index[(city, name)] = len(tiles)
                tiles.append(Tile(f"{city}/{name}", data.safe_join(root, f"{city}/satellite/{name}")))
        queries, query_pos = [], []
        for city in self._cities(split):
            path = data.safe_join(root, f"splits/{city}/{self._label_file(split)}")
            for n, row in enumerate(read_rows(path, 11, delimiter=None), 1):
                pano, sats = row[0], [row[1], row[4], row[7], row[10]]
                m = re.match(r"^[^,]*,(-?[\d.]+),(-?[\d.]+),", pano)
                if not m:
                    raise GeobenchError(f"{path}:{n}: panorama name {pano!r} is not <prefix>,<lat>,<lon>,.jpg")
                missing_tiles = [s for s in sats if (city, s) not in index]
                if missing_tiles:
                    raise GeobenchError(f"{path}:{n}: tile {missing_tiles[0]!r} is not in satellite_list.txt")
                try:
                    where = data.lat_lon(m.group(1), m.group(2), f"{path}:{n}")
                except data.DataError as e:
                    data.skip(e)
                    continue
                ids = [index[(city, s)] for s in sats]
                queries.append(Query(f"{city}/{pano}", data.safe_join(root, f"{city}/panorama/{pano}"), ids[0],
                                     tuple(i for i in ids[1:] if i != ids[0])))
                query_pos.append(where)
        return Pool(queries, tiles, "haversine", np.asarray(query_pos, dtype=np.float64).reshape(-1, 2),
                    np.asarray(tile_pos, dtype=np.float64).reshape(-1, 2))


# ---------------------------------------------------------------------------------------- University-1652


class University1652(CrossViewTask):
    """University-1652 (Zheng, Wei, Yang, "University-1652: A Multi-view Multi-source Benchmark for
    Drone-based Geo-localization", ACM MM 2020, arXiv 2002.12186; https://github.com/layumi/University1652-Baseline),
    street -> satellite: 1,652 buildings of 72 universities.

    Layout implemented (the released University-Release folder):
        <root>/train/street/<building>/*.jpg, <root>/train/satellite/<building>/<building>.jpg
        <root>/test/query_street/<building>/*.jpg, <root>/test/gallery_satellite/<building>/*.jpg
    One document per street image; its tile is the building's satellite image (first file in name order).
    The release has no coordinates and does not say which university a building belongs to, so negatives are
    random other buildings of the split (including the test gallery's distractor buildings): a documented
    fallback, weaker than same-neighbourhood negatives.
    """

    name = "university1652"
    description = "University-1652 street->satellite pairing (no GPS: random negative buildings)"
    source = "https://github.com/layumi/University1652-Baseline (dataset on request)"
    FOLDERS = {"train": ("train/street", "train/satellite"), "test": ("test/query_street", "test/gallery_satellite")}

    def expected(self, split):
        if split not in self.FOLDERS:
            raise GeobenchError(f"task {self.name!r}: unknown split {split!r}; known: train, test")
        return list(self.FOLDERS[split])

    def _load(self, split):
        root = self.root()
        street_dir, sat_dir = self.FOLDERS[split]
        tiles, index = [], {}
        for building in _subdirs(root / sat_dir):
            files = _images(root / sat_dir / building)
            if files:
                index[building] = len(tiles)
                tiles.append(Tile(building, data.safe_join(root, f"{sat_dir}/{building}/{files[0]}")))
        queries = []
        for building in _subdirs(root / street_dir):
            if building not in index:
                continue
            for f in _images(root / street_dir / building):
                queries.append(Query(f"{building}/{f}", data.safe_join(root, f"{street_dir}/{building}/{f}"),
                                     index[building]))
        if not queries:
            raise GeobenchError(f"task {self.name!r}: no street image under {root / street_dir} has a satellite "
                                f"image under {root / sat_dir}")
        return Pool(queries, tiles, "none")


def _subdirs(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_dir())
    except OSError as e:
        raise GeobenchError(f"cannot list {folder}: {e.strerror or e}") from None


def _images(folder: Path) -> list[str]:
    exts = (".jpg", ".jpeg", ".png", ".webp")
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(exts))


# ----------------------------------------------------------------------------------------- the toy version

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
    from geobench.geo import haversine_km

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
        for j, p in enumerate(world.sample_places(max(64, 3 * n_clusters), seed=_seed(seed, batch))):
            if len(clusters) == n_clusters:
                break
            if not isolated([p]):
                continue
            members = [p]
            for want in (2 * TOY_CLUSTER, TOY_CLUSTER - 1):  # a wide pick first: more keys to choose from
                try:
                    near, _ = world.neighbours_with_radius(p, k=want, radius_km=TOY_SPREAD_KM,
                                                           seed=_seed(seed, batch, j), distinct=True,
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
    from geobench.tasks.toyworld import World, render_ground, render_satellite

    world = World(TOY_WORLD_SEED)
    sizes = {split: max(1, math.ceil(n / TOY_CLUSTER)) for split, n in splits.items()}
    clusters = _toy_clusters(world, sum(sizes.values()), _seed(seed, "clusters"))
    random.Random(_seed(seed, "deal")).shuffle(clusters)
    start = 0
    for split, size in sizes.items():
        city = f"toyworld_{split}"
        (folder / city / "satellite").mkdir(parents=True)
        (folder / city / "panorama").mkdir(parents=True)
        places = [p for c in clusters[start:start + size] for p in c]
        start += size
        random.Random(_seed(seed, split, "order")).shuffle(places)  # --limit takes a spread, not a few clusters
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
    source = "the toy world (built on first use)"
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
        if self._root is not None:
            return self._root
        from geobench import toydata

        return toydata.ensure("crossview")

    def data_status(self):
        if self._root is None:
            return None  # built on first use
        return super().data_status()

    def config(self):
        return {**super().config(), "difficulty": self.difficulty}


@hookimpl
def geobench_register_toy_datasets(register):
    register("crossview", export_toy)


@hookimpl
def geobench_register_tasks(register):
    for cls in (CrossViewToy, CVCities, CVUSA, CVACT, VIGOR, University1652):
        register(cls)
