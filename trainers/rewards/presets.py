"""The registered rewards (one instance each, named as TRL logs them: `rewards/accuracy/mean`, ...), and `preset`:
a reward preset (`REWARD_PRESETS`, registered by the package) as functions and weights for `GRPOTrainer`."""

from __future__ import annotations

from geobench.errors import GeobenchError
from geobench.rewards import RewardFunction
from geobench.trainers.rewards import REWARD_PRESETS
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

def preset(name: str) -> tuple[list[RewardFunction], list[float]]:
    """(reward functions, weights) of a preset, ready for GRPOTrainer(reward_funcs=..) and reward_weights."""
    if name not in REWARD_PRESETS:
        raise GeobenchError(f"unknown reward preset {name!r}", hint=f"known: {', '.join(REWARD_PRESETS)}")
    pairs = REWARD_PRESETS[name]
    return [REWARDS[n] for n, _ in pairs], [float(w) for _, w in pairs]
