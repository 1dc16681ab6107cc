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

import math
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from geobench import geocode, pairing, parse
from geobench.api import BenchmarkTask, Doc, GenConfig, ImageRef, ScaffoldItem, Truth, mean_with_stderr, user
from geobench.errors import GeobenchError
from geobench.geo import haversine_km
from geobench.pairing import REWARD_SCHEMES, SHAPED_PARTIAL, attributes, similarity  # noqa: F401 - public here too
from geobench.parse import LETTERS, THINK_ANSWER

from .pool import Pool, distinct, seed_of, unique_queries

QUESTION = ("Which satellite image shows the place where the ground-level photo was taken? "
            "Answer with the letter of that satellite image.")


class CrossViewTask(BenchmarkTask):
    """Base of every cross-view pairing task: subclasses only read a `Pool` (`read_pool`) and say where the
    data is (`expected`, `source`, `source_note`).

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
    reward_metric = "acc"
    default_gen = GenConfig(max_new_tokens=1024)  # Geo-R1 writes ~380 tokens on average
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    source_note: ClassVar[str] = ""  # where to get the data, as the missing-data message says it
    question = QUESTION
    default_radius_km = 1.0
    default_min_km = 0.05
    id_window: int = 50  # radius, in ranks, of datasets whose tiles have only a listed order ("order" metric)

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
        super().__init__(Path(root).expanduser() if root is not None else None)
        if split is not None:
            self.split = split
        self._pools: dict[str, Pool] = {}

    # ---------------------------------------------------------------------------------- data location
    def source_text(self) -> str:
        return self.source_note or super().source_text()

    def read_pool(self, split: str) -> Pool:
        """The queries and tiles of `split`, read from root() in the dataset's layout."""
        raise NotImplementedError

    def data_status(self) -> str | None:
        return self.missing_text(self.split)

    def missing_text(self, split: str) -> str | None:
        """None if `split` is all there, else one line naming everything missing for it and for the other
        splits too (CV-Cities: the 6 test and the 10 training cities), so one download fetches it all."""
        root = self.root()

        def absent(s: str) -> list[str]:
            return [e for e in self.expected(s) if not (root / e).exists()]

        need = absent(split)
        if not need:
            return None
        text, seen = f"expected in {root}/: {', '.join(need)} (split {split!r})", set(need)
        for other in (s for s in self.splits if s != split):
            if more := [e for e in absent(other) if e not in seen]:
                seen.update(more)
                text += f"; split {other!r} also needs {', '.join(more)}"
        pull = self.pull_command()
        return f"{text} (get it from {self.source_text()}{f'; or run `{pull}`' if pull else ''})"

    def pool(self, split: str | None = None) -> Pool:
        split = split or self.split
        if split not in self._pools:
            reason = self.missing_text(split)
            if reason:
                raise GeobenchError(f"task {self.name!r}: {reason}")
            pool = unique_queries(self.read_pool(split), self.name)
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
    def load(self, split: str) -> Iterable[Doc]:
        return self.docs(split)

    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        split = split or self.split
        pool = self.pool(split)
        n = len(pool.queries) if limit is None else min(limit, len(pool.queries))
        for i in range(n):
            yield self.make_doc(pool, i, split)

    def _distances(self, pool: Pool, qi: int) -> tuple[np.ndarray, float, float, str | None]:
        """Distances from query qi to every tile, the radius and minimum in the same unit, and the unit."""
        if pool.metric == "haversine":
            lat, lon = pool.query_pos[qi]
            d = haversine_km(lat, lon, pool.tile_pos[:, 0], pool.tile_pos[:, 1])
            return np.asarray(d, dtype=np.float64), self.radius_km, self.min_km, "km"
        if pool.metric == "planar":
            d = np.hypot(*(pool.tile_pos - pool.query_pos[qi]).T)
            return d, self.radius_km, self.min_km, "km"
        if pool.metric == "order":
            d = np.abs(pool.tile_pos[:, 0] - pool.query_pos[qi, 0]).astype(np.float64)
            return d, float(self.id_window), 0.0, "ranks"
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
        rng = random.Random(seed_of(self.seed, split, q.id, "negatives"))
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
            chosen = distinct(order, values, need, {values[q.tile]})
        beyond = 0
        if len(chosen) < need:  # a sparse neighbourhood: the nearest qualifying tiles outside the radius
            outside = sorted(np.flatnonzero(ok & (d > radius)).tolist(), key=lambda i: (d[i], pool.tiles[i].id))
            extra = outside[:need - len(chosen)] if values is None else \
                distinct(outside, values, need - len(chosen), {values[t] for t in [q.tile, *chosen]})
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
        random.Random(seed_of(self.seed, split, block, "letters")).shuffle(order)
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
            return float(self.id_window), "ranks"
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
        pick = pairing.picked(completion, doc.fields["candidates"], int(doc.fields["k"]))
        return pick["letter"] if pick else None

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
        return pairing.picked(completion, doc.fields["candidates"], int(doc.fields["k"]))

    def reward(self, doc: Doc, completion: str, scheme: str = "binary",  # type: ignore[override]
               partial: float = SHAPED_PARTIAL) -> float:
        """The accuracy reward of one completion under `scheme` (binary, signed or shaped: see
        `geobench.pairing.reward`, the one rule the GRPO reward functions use too)."""
        if scheme not in REWARD_SCHEMES:  # checked before parsing, as before
            raise GeobenchError(f"unknown reward scheme {scheme!r}; known: {', '.join(REWARD_SCHEMES)}")
        return pairing.reward(self.picked(doc, completion), scheme, partial)

    def aggregate(self, per_sample: list[dict[str, float]]) -> dict[str, float]:
        return mean_with_stderr(per_sample)

    # ------------------------------------------------------------------------------------ scaffolding
    def scaffold_items(self, split: str = "train", limit: int | None = None, *,
                       need_template: bool = True) -> list[ScaffoldItem]:
        """Each doc with its true tile's attributes, the query's point (where the pool has lat/lon) and what
        is known there; the templates need per-candidate attributes (`need_template`)."""
        docs = list(self.docs(split, limit))
        if not docs:
            return []
        if need_template and any(not c.get("attributes") for d in docs for c in d.fields["candidates"]):
            raise GeobenchError(f"task {self.name!r}: its metadata has no per-candidate visual attributes, which "
                                "the templates need (only toy-world-style data has them)",
                                hint="use a teacher: --teacher-model M --teacher-backend B")
        pool = self.pool(split)
        index = {q.id: i for i, q in enumerate(pool.queries)}
        points = []
        for d in docs:
            qi = index.get(d.fields["query_id"])
            ok = pool.metric == "haversine" and qi is not None and pool.query_pos is not None
            points.append((float(pool.query_pos[qi][0]), float(pool.query_pos[qi][1])) if ok else None)
        items = []
        for d, pt, area in zip(docs, points, self.scaffold_areas(points), strict=True):
            cands = {c["letter"]: c.get("attributes") for c in d.fields["candidates"]}
            true = next(c for c in d.fields["candidates"] if c["true"])
            facts: dict[str, Any] = {"attrs": dict(true.get("attributes") or {})}
            if pt:
                facts["lat"], facts["lon"] = pt
            truth = Truth("crossview", d.fields["answer"], n_letters=int(d.fields["k"]), candidates=cands,
                          lat=pt[0] if pt else None, lon=pt[1] if pt else None,
                          climate=facts["attrs"].get("climate"))
            self.scaffold_place(facts, truth, pt, area)
            items.append(ScaffoldItem(d, facts, truth, f"tile {d.fields['answer']}"))
        return items

    def scaffold_areas(self, points: list[tuple[float, float] | None]) -> list[dict | None]:
        """Per query point (None: unknown), its country and nearest place names, or None."""
        have = [i for i, p in enumerate(points) if p]
        areas: list[dict | None] = [None] * len(points)
        for i, a in zip(have, geocode.area_names([points[i][0] for i in have], [points[i][1] for i in have]), strict=True):
            areas[i] = a
        return areas

    def scaffold_place(self, facts: dict[str, Any], truth: Truth, point: tuple[float, float] | None,
                       area: dict | None) -> None:
        """Add what is known at the query's point to its facts and truth (real data: the country name)."""
        if area:
            truth.country = area["country"]


