"""Model presets: the settings a known checkpoint needs to be evaluated the way its authors ran it.

A plugin registers a preset through `geobench_register_models`: `register(name, preset=ModelPreset(...))`.
It applies when `--model` is that name (case-insensitive), or to any model with `preset=NAME` (a local copy,
a fine-tuned checkpoint). A preset only sets defaults: the user's `--gen-kwargs` and `--model-args` win, and
it can never switch on `trust_remote_code` (that stays the user's explicit choice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from geobench.api import GenConfig
from geobench.errors import GeobenchError

# Model args a preset may set: what the weight-loading backends (hf, vllm) share.
PRESET_MODEL_ARGS = ("dtype", "min_pixels", "max_pixels", "attn_implementation")


@dataclass(frozen=True)
class ModelPreset:
    """Defaults for one model. `gen_kwargs` go over each task's generation defaults; `model_args` are used
    by backends that load weights (hf, vllm); `prompt_suffix` ends every prompt unless the prompt has it;
    `pipeline_check` marks a model whose outputs mean nothing (the random-weight tiny model): its run prints
    what the numbers mean instead of warnings about completions that are cut off."""

    description: str = ""
    prompt_suffix: str = ""
    gen_kwargs: Mapping[str, Any] = field(default_factory=dict)
    model_args: Mapping[str, Any] = field(default_factory=dict)
    pipeline_check: bool = False  # a model that only proves the pipeline runs (random weights): see PIPELINE_CHECK

    def __post_init__(self):
        GenConfig().updated(**self.gen_kwargs)  # unknown names or bad values: one line, at registration
        bad = sorted(set(self.model_args) - set(PRESET_MODEL_ARGS))
        if bad:
            raise GeobenchError(f"a model preset may not set {', '.join(bad)}; allowed: {', '.join(PRESET_MODEL_ARGS)}")

    def describe(self) -> dict[str, Any]:
        """What results.json records under config.preset_settings."""
        out = {"prompt_suffix": self.prompt_suffix, "gen_kwargs": dict(self.gen_kwargs),
               "model_args": dict(self.model_args)}
        return {**out, "pipeline_check": True} if self.pipeline_check else out


# What a pipeline-check model's numbers mean, said once after its run instead of its expected warnings.
PIPELINE_CHECK = ("{model} is a pipeline check (random weights): its numbers only show that data, prompts, "
                  "generation and scoring ran end to end; zero or chance-level scores and completions cut off at "
                  "max_new_tokens are expected")


def find(presets: Mapping[str, ModelPreset], model: str) -> str | None:
    """The registered name matching `model` (hub ids are case-insensitive), else None."""
    low = str(model).strip().lower()
    return next((name for name in presets if name.lower() == low), None)


def with_suffix(messages: list[dict], suffix: str) -> list[dict]:
    """The chat with `suffix` after the last text of the last user turn, unless that text already holds it."""
    if not suffix:
        return messages
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m.get("role") != "user":
            continue
        content = m["content"]
        if isinstance(content, str):
            m["content"] = content if suffix in content else f"{content} {suffix}"
            return out
        parts = list(content)
        for i in range(len(parts) - 1, -1, -1):
            if parts[i].get("type") == "text":
                text = parts[i]["text"]
                if suffix not in text:
                    parts[i] = {**parts[i], "text": f"{text} {suffix}"}
                m["content"] = parts
                return out
        m["content"] = [*parts, {"type": "text", "text": suffix}]
        return out
    return out
