"""The shuffled (uninformative) cross-view reward: the control arm of `geobench study transfer`.

`shuffled_pairing` is the shaped pairing reward (`geobench.pairing.reward(..., "shaped")`) computed as if a
*random* candidate were the true tile; `shuffled_accuracy` is the binary one. The pseudo-truth is drawn once
per prompt per reward call (all rollouts of one prompt in one GRPO step share it, as they share the real truth),
uniformly among the doc's k candidates, from a seeded generator that never sees the real answer. So:
- the reward has the same form, range and within-group structure as the real one (one tile per prompt is
  "right", tiles that look like it get partial credit), and GRPO takes steps of the same kind and size;
- it carries no information about the true tile: for any policy its expectation is the chance level
  (binary: exactly 1/k for a completion that names a letter; shaped: the mean over candidates of their
  similarity-based credit, which is what a uniformly random answer earns under the real reward).
The format bonus of the preset stays informative (format is not what the control removes).
Registered as rewards `shuffled_pairing` and `shuffled_accuracy`; `SHUFFLED_TINY` / `SHUFFLED_GEO_R1` are the
`tiny` / `geo-r1-released` presets with the accuracy term swapped, as reward lists for a GRPO config.
"""

from __future__ import annotations

import json
import random
from typing import Any

from geobench import pairing
from geobench.rewards import RewardFunction, column, column_k

SEED = 20261207


def _candidates(value: Any) -> list[dict] | None:
    """The `candidates` column of one row (a list of dicts, or its JSON text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, dict) and isinstance(value.get("letter"), list | tuple):  # dict of lists (Arrow)
        keys = list(value)
        value = [dict(zip(keys, row, strict=False)) for row in zip(*(value[k] for k in keys), strict=False)]
    if not isinstance(value, list | tuple):
        return None
    return [c for c in value if isinstance(c, dict)]


def pseudo_candidates(candidates: list[dict], fake: int) -> list[dict]:
    """The candidates relabelled as if candidate `fake` were the true tile: `true` and `similarity` (to the
    fake truth, from the tiles' attributes; None where tiles carry none) recomputed; nothing else read."""
    truth = candidates[fake].get("attributes") or None
    out = []
    for i, c in enumerate(candidates):
        sim = 1.0 if i == fake else pairing.similarity(truth, c.get("attributes") or None)
        out.append({**c, "true": i == fake, "similarity": sim})
    return out


class ShuffledPairingReward(RewardFunction):
    """See the module docstring. `scheme`: "shaped" or "binary"."""

    def __init__(self, name: str, scheme: str = "shaped", seed: int = SEED):
        super().__init__(name)
        self.scheme = scheme
        self._rng = random.Random(seed)
        self._call: dict[str, int] = {}  # per call: prompt key -> its pseudo-truth

    def __call__(self, completions: Any = None, **columns: Any) -> list[float | None]:
        self._call = {}  # a new draw per prompt per call (= per GRPO step)
        return super().__call__(completions, **columns)

    def one(self, text: str, i: int, columns: dict) -> float | None:
        cands = _candidates(column(columns, "candidates", i))
        if not cands:
            return None
        k = column(columns, "k", i)
        k = min(column_k(k) if k is not None else len(cands), len(cands))
        key = str(column(columns, "doc_id", i))
        if key not in self._call:
            self._call[key] = self._rng.randrange(k)
        fake = pseudo_candidates(cands[:k], self._call[key])
        return pairing.reward(pairing.picked(text, fake, k), self.scheme)


SHUFFLED_PAIRING = ShuffledPairingReward("shuffled_pairing", "shaped")
SHUFFLED_ACCURACY = ShuffledPairingReward("shuffled_accuracy", "binary")

# The `tiny` and `geo-r1-released` presets with their accuracy term replaced (GRPO config `rewards:` lists; not
# registered presets, so the registry's presets stay the rewards plugin's own).
SHUFFLED_TINY = [{"shuffled_pairing": 1.0}, {"format": 0.1}]
SHUFFLED_GEO_R1 = [{"shuffled_accuracy": 1.0}, {"format": 1.0}, {"length": 1.0}, {"repetition": 1.0}]
