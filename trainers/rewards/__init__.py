"""GRPO reward functions: Geo-R1's released rewards, geobench's fixes and shaped rewards, and any task as a reward.

The parts: `base` (the TRL calling convention), `geo_r1` (format, accuracy, length, repetition), `shaped`
(shaped pairing, geoscore), `task` (`task_reward`: any Task as a reward), `presets` (the registered instances
and `REWARD_PRESETS`; TRL sums rewards with `GRPOConfig.reward_weights`, so there is no `combine`).

This module is the plugin's entry point: it registers each reward as a "module:attr" reference (imported on
first lookup), and the public names below are imported from their modules on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

from geobench.hookspecs import hookimpl

# registered name -> attribute of geobench.trainers.rewards.presets (tests check this equals presets.REWARDS)
BUILTIN = {"format": "FORMAT", "accuracy": "ACCURACY", "accuracy_signed": "ACCURACY_SIGNED",
           "accuracy_released": "ACCURACY_RELEASED", "length": "LENGTH", "length_monotone": "LENGTH_MONOTONE",
           "repetition": "REPETITION", "shaped_pairing": "SHAPED_PAIRING", "geoscore": "GEOSCORE"}

_PUBLIC = {  # name -> the module (under geobench.trainers.rewards) that defines it
    "completion_text": "base", "RewardFunction": "base", "DEFAULT_K": "base",
    "think_answer_format": "geo_r1", "FormatReward": "geo_r1", "released_answer": "geo_r1",
    "extract_choice": "geo_r1", "AccuracyReward": "geo_r1", "make_accuracy": "geo_r1", "cosine_length": "geo_r1",
    "monotone_length": "geo_r1", "LengthReward": "geo_r1", "make_length": "geo_r1", "repetition_penalty": "geo_r1",
    "RepetitionReward": "geo_r1", "make_repetition": "geo_r1", "CHARS_PER_TOKEN": "geo_r1",
    "LENGTH_PERIOD": "geo_r1", "REPETITION_NGRAM": "geo_r1", "_bbox_array": "geo_r1",
    "shaped_value": "shaped", "ShapedPairingReward": "shaped", "make_shaped_pairing": "shaped",
    "geoscore_value": "shaped", "GeoscoreReward": "shaped", "SHAPED_PARTIAL": "shaped",
    "default_metric": "task", "TaskReward": "task", "task_reward": "task",
    "REWARDS": "presets", "REWARD_PRESETS": "presets", "preset": "presets",
}

__all__ = sorted(n for n in _PUBLIC if not n.startswith("_"))


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def geobench_register_rewards(register):
    for name, attr in BUILTIN.items():
        register(f"{__name__}.presets:{attr}", name=name)
