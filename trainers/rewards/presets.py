"""The registered rewards (one instance each, named as TRL logs them: `rewards/accuracy/mean`, ...) and the
reward presets: (registered name, weight) lists for `GRPOTrainer(reward_funcs=...)` and `reward_weights`."""

from __future__ import annotations

from geobench.errors import GeobenchError
from geobench.trainers.rewards.base import RewardFunction
from geobench.trainers.rewards.geo_r1 import FormatReward, make_accuracy, make_length, make_repetition
from geobench.trainers.rewards.shaped import GeoscoreReward, make_shaped_pairing

# One module attribute per registered reward: the entry point registers them as "module:attr" references.
FORMAT = FormatReward("format")
ACCURACY = make_accuracy("binary")
ACCURACY_SIGNED = make_accuracy("signed")
ACCURACY_RELEASED = make_accuracy("binary", parser="released")
LENGTH = make_length("cosine")
LENGTH_MONOTONE = make_length("monotone")
REPETITION = make_repetition()
SHAPED_PAIRING = make_shaped_pairing()
GEOSCORE = GeoscoreReward("geoscore")

REWARDS: dict[str, RewardFunction] = {r.__name__: r for r in (
    FORMAT, ACCURACY, ACCURACY_SIGNED, ACCURACY_RELEASED, LENGTH, LENGTH_MONOTONE, REPETITION, SHAPED_PAIRING,
    GEOSCORE)}

REWARD_PRESETS: dict[str, list[tuple[str, float]]] = {
    # The released launch script: --reward_funcs accuracy format length repetition, unweighted sum; accuracy
    # with geobench's parser (= the tasks' acc metric). Per-rollout total in [-0.5, 3.0].
    "geo-r1": [("accuracy", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)],
    # The same with the released mcq parser too: the closest replication of the released code.
    "geo-r1-released": [("accuracy_released", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)],
    # The paper's r_acc in {-1, +1}; the paper's weights lambda are unknown (1.0 here).
    "geo-r1-paper": [("accuracy_signed", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)],
    # geo-r1 with the monotone length fix (no reward for running on to 2048 tokens).
    "geo-r1-monotone": [("accuracy", 1.0), ("format", 1.0), ("length_monotone", 1.0), ("repetition", 1.0)],
    # A tiny CPU model on the toy cross-view task: learnability2's winning reward (1 / partial / 0 + 0.1 format).
    "tiny": [("shaped_pairing", 1.0), ("format", 0.1)],
    # Geolocation (geobench's choice, not from Geo-R1): distance-shaped reward plus a small format term.
    "geolocation": [("geoscore", 1.0), ("format", 0.1)],
}


def preset(name: str) -> tuple[list[RewardFunction], list[float]]:
    """(reward functions, weights) of a preset, ready for GRPOTrainer(reward_funcs=..) and reward_weights."""
    if name not in REWARD_PRESETS:
        raise GeobenchError(f"unknown reward preset {name!r}", hint=f"known: {', '.join(REWARD_PRESETS)}")
    pairs = REWARD_PRESETS[name]
    return [REWARDS[n] for n, _ in pairs], [float(w) for _, w in pairs]
