"""Built-in model presets: Geo-R1 and the Qwen2.5-VL-Instruct models it is compared with.

Registered through `geobench_register_models` (entry point `model_presets`).
What each sets, and why (sources in notes/geo-r1.md):
- prompt suffix: Geo-R1's think/answer instruction, the one its GRPO training used (the built-in tasks
  already end with it, so it is added only to prompts that lack it, e.g. a third-party task's);
- max_new_tokens: Geo-R1 reasons at length (378.8 tokens on average, up to the 2,048 of its training cap), so
  2,048; the Instruct baselines answer briefly (the 7B's mean is 204.6), so 1,024;
- pixel budget: min_pixels 3,136 / max_pixels 12,845,056, the budget Geo-R1 was trained with (also the
  Qwen2.5-VL processors' defaults); lower max_pixels with --model-args if memory is short;
- dtype: bfloat16, as the checkpoints are published.
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl
from geobench.parse import THINK_ANSWER
from geobench.presets import ModelPreset

__all__ = ["PIXELS", "PRESETS", "THINK_ANSWER", "geobench_register_models"]
PIXELS = {"min_pixels": 3136, "max_pixels": 12845056}

PRESETS = {
    "miniHui/Geo-R1": ModelPreset(
        description="Geo-R1 (Qwen2.5-VL-7B after scaffolding SFT + cross-view GRPO), ~17 GB in bfloat16",
        prompt_suffix=THINK_ANSWER, gen_kwargs={"max_new_tokens": 2048},
        model_args={"dtype": "bfloat16", **PIXELS}),
    "Qwen/Qwen2.5-VL-7B-Instruct": ModelPreset(
        description="Qwen2.5-VL-7B-Instruct, Geo-R1's base model, ~17 GB in bfloat16",
        gen_kwargs={"max_new_tokens": 1024}, model_args={"dtype": "bfloat16", **PIXELS}),
    "Qwen/Qwen2.5-VL-3B-Instruct": ModelPreset(
        description="Qwen2.5-VL-3B-Instruct, ~7.5 GB in bfloat16",
        gen_kwargs={"max_new_tokens": 1024}, model_args={"dtype": "bfloat16", **PIXELS}),
}


@hookimpl
def geobench_register_models(register):
    for name, preset in PRESETS.items():
        register(name, preset=preset, description=preset.description)
