"""geobench's dense rewards from dataset columns, without the task: cross-view shaped pairing and GeoScore.

shaped_pairing    1.0 for the true tile, 0.5 x the picked wrong tile's attribute similarity to the truth, 0.0 for
                  no answer or a wrong tile without attributes (learnability2.md §6), from the `candidates`
                  column; the rule is `geobench.pairing.reward(..., "shaped")`, the one the cross-view task uses.
geoscore          geolocation: exp(-d / 1492.7) in [0, 1], d = haversine km between `parse.coordinates` and the
                  `lat` / `lon` columns (GeoScore / 5000, OSV-5M's decay); 0.0 when no coordinates parse.
"""

from __future__ import annotations

import json
import math
from typing import Any

from geobench import geo, pairing, parse
from geobench.pairing import SHAPED_PARTIAL
from geobench.rewards import RewardFunction, column, column_k
from geobench.trainers.rewards.geo_r1 import think_answer_format


def _candidates(value: Any) -> list[dict] | None:
    """The `candidates` column of one row: a list of dicts; also accepts a JSON string and the dict-of-lists
    layout of a `datasets.Sequence` of structs."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, dict) and isinstance(value.get("letter"), list | tuple):
        keys = list(value)
        value = [dict(zip(keys, row, strict=False)) for row in zip(*(value[k] for k in keys), strict=False)]
    if not isinstance(value, list | tuple):
        return None
    return [c for c in value if isinstance(c, dict)]


def shaped_value(text: str, candidates: list[dict], k: int | None = None, partial: float = SHAPED_PARTIAL) -> float:
    """The cross-view task's shaped reward from the candidate records alone (`geobench.pairing`): 1.0 if the
    chosen letter's candidate is true, partial * its similarity (None counts 0) if it is wrong, 0.0 if nothing
    is chosen."""
    return pairing.reward(pairing.picked(text, candidates, k), "shaped", partial)


class ShapedPairingReward(RewardFunction):
    def __init__(self, name: str, partial: float = SHAPED_PARTIAL, format_bonus: float = 0.0):
        super().__init__(name)
        self.partial, self.format_bonus = float(partial), float(format_bonus)

    def one(self, text, i, columns):
        cands = _candidates(column(columns, "candidates", i))
        if not cands:
            return None
        k = column(columns, "k", i)
        value = shaped_value(text, cands, column_k(k) if k is not None else None, self.partial)
        if self.format_bonus:
            value += self.format_bonus * think_answer_format(text)
        return value


def make_shaped_pairing(partial: float = SHAPED_PARTIAL, format_bonus: float = 0.0,
                        name: str | None = None) -> ShapedPairingReward:
    """learnability2's shaped reward (see `shaped_value`); format_bonus adds that much for Geo-R1's format
    (learnability2 used +0.1: the `tiny` preset gets it as `format` with weight 0.1 instead)."""
    return ShapedPairingReward(name or "shaped_pairing", partial, format_bonus)


# ------------------------------------------------------------------------------------------ geoscore


def _truth_point(lat: Any, lon: Any) -> tuple[float, float] | None:
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180):
        return None
    return la, lo


def geoscore_value(text: str, lat: float, lon: float) -> float:
    """exp(-d / 1492.7) for the coordinates in `text` (0.0 if none parse): GeoScore / 5000, in [0, 1]."""
    point = parse.coordinates(text)
    if point is None:
        return 0.0
    d = float(geo.haversine_km(lat, lon, point[0], point[1]))
    return math.exp(-d / geo.GEOSCORE_DECAY_KM)


class GeoscoreReward(RewardFunction):
    def one(self, text, i, columns):
        truth = _truth_point(column(columns, "lat", i), column(columns, "lon", i))
        return None if truth is None else geoscore_value(text, *truth)
