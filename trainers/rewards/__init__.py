"""GRPO reward functions: Geo-R1's released rewards, geobench's fixes and shaped rewards, and any task as a reward.

The parts: `base` (the TRL calling convention), `geo_r1` (format, accuracy, length, repetition), `shaped`
(shaped pairing, geoscore), `presets` (the registered instances). The TRL calling convention and `task_reward`
(any Task as a reward) are core (`geobench.rewards`); the presets below are registered as reward presets (TRL
sums rewards with `GRPOConfig.reward_weights`, so there is no `combine`).

This module is the plugin's entry point: it registers each reward as a "module:attr" reference (imported on
first lookup), and the public names below are imported from their modules on first use (PEP 562).
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl
from geobench.lazy import reexport

# registered name -> attribute of geobench.trainers.rewards.presets (tests check this equals presets.REWARDS)
BUILTIN = {"format": "FORMAT", "accuracy": "ACCURACY", "accuracy_signed": "ACCURACY_SIGNED",
           "accuracy_released": "ACCURACY_RELEASED", "length": "LENGTH", "length_monotone": "LENGTH_MONOTONE",
           "repetition": "REPETITION", "shaped_pairing": "SHAPED_PAIRING", "geoscore": "GEOSCORE"}

# The reward presets, registered through geobench_register_reward_presets: (registered reward name, weight).
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

_PUBLIC = {  # name -> the module (under geobench.trainers.rewards) that defines it
    "completion_text": "geobench.rewards", "RewardFunction": "geobench.rewards", "DEFAULT_K": "geobench.rewards",
    "think_answer_format": "geo_r1", "FormatReward": "geo_r1", "released_answer": "geo_r1",
    "extract_choice": "geo_r1", "AccuracyReward": "geo_r1", "make_accuracy": "geo_r1", "cosine_length": "geo_r1",
    "monotone_length": "geo_r1", "LengthReward": "geo_r1", "make_length": "geo_r1", "repetition_penalty": "geo_r1",
    "RepetitionReward": "geo_r1", "make_repetition": "geo_r1", "CHARS_PER_TOKEN": "geo_r1",
    "LENGTH_PERIOD": "geo_r1", "REPETITION_NGRAM": "geo_r1", "_bbox_array": "geo_r1",
    "shaped_value": "shaped", "ShapedPairingReward": "shaped", "make_shaped_pairing": "shaped",
    "geoscore_value": "shaped", "GeoscoreReward": "shaped", "SHAPED_PARTIAL": "shaped",
    "default_metric": "geobench.rewards", "TaskReward": "geobench.rewards", "task_reward": "geobench.rewards",
    "REWARDS": "presets", "preset": "presets",
}

__all__ = sorted(n for n in _PUBLIC if not n.startswith("_"))


__getattr__, __dir__ = reexport(__name__, _PUBLIC)


@hookimpl
def geobench_register_rewards(register):
    for name, attr in BUILTIN.items():
        register(f"{__name__}.presets:{attr}", name=name)


@hookimpl
def geobench_register_reward_presets(register):
    for name, pairs in REWARD_PRESETS.items():
        register(name, pairs)
