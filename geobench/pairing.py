"""The cross-view pairing reward rule, shared by the cross-view task and the GRPO reward functions.

A pairing document lists its candidates (`{"letter", "true", "similarity", ...}`); the reward of a completion
depends only on which candidate it picked. Written once here so the number a task scores and the number a
trainer rewards can never drift apart.
"""

from __future__ import annotations

import math
import re
from typing import Any

from geobench import parse
from geobench.errors import GeobenchError

REWARD_SCHEMES = ("binary", "signed", "shaped")
SHAPED_PARTIAL = 0.5  # shaped reward of a wrong tile = SHAPED_PARTIAL * its attribute similarity to the truth
_ATTRS = re.compile(r"^[A-Za-z_][\w]*=[^;=]*(;[A-Za-z_][\w]*=[^;=]*)*$")


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


def picked(text: Any, candidates: list[dict], k: int | None = None) -> dict | None:
    """The candidate record whose letter the completion chose (among k, default all), or None."""
    try:
        chosen = parse.choice(text if isinstance(text, str) else "", k or len(candidates))
    except Exception:  # noqa: BLE001 - scoring must never raise on what a model wrote
        return None
    return next((c for c in candidates if c.get("letter") == chosen), None) if chosen else None


def reward(pick: dict | None, scheme: str = "binary", partial: float = SHAPED_PARTIAL) -> float:
    """The accuracy reward of a pick.

    binary: 1 if the chosen tile is true else 0 (Geo-R1's released `mcq` reward); signed: +1 / -1 (the paper's
    r_acc; no answer is -1); shaped: 1 for the true tile, `partial` x attribute similarity for a wrong tile that
    carries attributes, 0 for no answer or a wrong tile without attributes (learnability2.md: 1 / 0.5 / 0).
    """
    if scheme not in REWARD_SCHEMES:
        raise GeobenchError(f"unknown reward scheme {scheme!r}; known: {', '.join(REWARD_SCHEMES)}")
    right = bool(pick and pick.get("true"))
    if scheme == "binary":
        return float(right)
    if scheme == "signed":
        return 1.0 if right else -1.0
    if right:
        return 1.0
    if not pick:
        return 0.0
    try:
        sim = float(pick.get("similarity") or 0.0)
    except (TypeError, ValueError):
        sim = 0.0
    return float(partial * sim) if math.isfinite(sim) else 0.0
