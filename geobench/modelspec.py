"""What `--model` means, decided once: a registered name, a local folder, a hub id, or a served model name.

`resolve(...)` turns the user's model string (or an already-built Backend) into a `ModelSpec`: what the
backend is built from, which preset applies, the name shown in tables and run folders, and the checkpoint
step. The evaluator, the backend and the results writer all read the spec; nothing else re-interprets the
string.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from geobench.api import Backend
from geobench.args import batch_size as parse_batch_size
from geobench.plugin_manager import Registry
from geobench.presets import ModelPreset, find

NO_PRESET = ("", "none", "off")


@dataclass(frozen=True)
class ModelSpec:
    """The resolved `--model`."""

    given: str  # what the user passed (or the in-memory backend's model id)
    kind: str  # "registered" (e.g. tiny), "folder", "hub" (an id for a weight-loading backend), "name" (served)
    source: str  # what the backend is built from: a folder for registered names, else `given`
    display: str  # shown in tables, summaries and run-folder names
    checkpoint_step: int | None
    preset_name: str | None = None
    preset: ModelPreset | None = None
    backend: Backend | None = None  # a Backend passed in ready-made (trainers evaluating in memory)
    pipeline_check: bool = False  # the model only proves the pipeline runs (its own preset says so)

    @property
    def gen_defaults(self) -> dict[str, Any]:
        return dict(self.preset.gen_kwargs) if self.preset else {}

    @property
    def prompt_suffix(self) -> str:
        return self.preset.prompt_suffix if self.preset else ""


def checkpoint_step_of(model: str) -> int | None:
    """500 for '.../checkpoint-500' (a trainer's checkpoint folder), else None."""
    m = re.search(r"checkpoint-(\d+)/?$", str(model))
    return int(m.group(1)) if m else None


def choose_preset(reg: Registry, model: str | Backend, preset: str | None) -> tuple[str | None, ModelPreset | None]:
    """(name, ModelPreset) to apply, or (None, None): the one named by `preset`, else the one registered
    under the model's name; preset='none' turns presets off."""
    if preset is not None and str(preset).strip().lower() in NO_PRESET:
        return None, None
    if preset is not None:
        return reg.preset(str(preset))
    name = find(reg.presets, model) if isinstance(model, str) else None
    return (name, reg.presets[name]) if name else (None, None)


def resolve(reg: Registry, model: str | Backend, backend: str = "hf", *, preset: str | None = None,
            model_name: str | None = None, checkpoint_step: int | None = None) -> ModelSpec:
    """The one interpretation of a model string for `backend`. Registered names resolve to their folder only
    for weight-loading backends, and only when the spec is used (`build_backend`)."""
    preset_name, chosen = choose_preset(reg, model, preset)
    if isinstance(model, Backend):
        given = str(getattr(model, "model_id", type(model).__name__))
        display = model_name or given
        step = checkpoint_step if checkpoint_step is not None else checkpoint_step_of(display)
        return ModelSpec(given, "name", given, display, step, preset_name, chosen, backend=model)
    model = str(model)
    own = find(reg.presets, model)  # the model's own preset marks a pipeline check even under another preset
    check = bool(getattr(chosen, "pipeline_check", False) or (own and reg.presets[own].pipeline_check))
    loads_weights = bool(getattr(reg.backend(backend), "loads_weights", False))
    if loads_weights and model in reg.models:
        kind = "registered"
    elif loads_weights and (model.startswith(("/", ".", "~")) or os.path.exists(os.path.expanduser(model))):
        kind = "folder"
    elif loads_weights:
        kind = "hub"
    else:
        kind = "name"
    display = model_name or model
    step = checkpoint_step if checkpoint_step is not None else checkpoint_step_of(display)
    return ModelSpec(model, kind, model, display, step, preset_name, chosen, pipeline_check=check)


def model_args_with_preset(spec: ModelSpec, reg: Registry, backend: str, model_args: dict) -> dict:
    """The backend's model args: the preset's (for weight-loading backends) under the user's."""
    if spec.preset is None or spec.backend is not None or not getattr(reg.backend(backend), "loads_weights", False):
        return dict(model_args)
    return {**spec.preset.model_args, **model_args}


def build_backend(reg: Registry, spec: ModelSpec, backend: str, batch_size, model_args: dict) -> Backend:
    """The backend for a spec: the ready-made one, or `BackendClass(source, batch_size=..., **model_args)`."""
    if spec.backend is not None:
        return spec.backend
    cls = reg.backend(backend)
    if "batch_size" in model_args:  # lm-eval habit: --model-args ...,batch_size=8 wins over --batch-size
        model_args = dict(model_args)
        batch_size = parse_batch_size(model_args.pop("batch_size"))
    source = spec.source
    if spec.kind == "registered":
        resolve_folder, _ = reg.model(spec.given)
        source = str(resolve_folder())
    return cls(source, batch_size=batch_size, **model_args)


def resolve_registered(reg: Registry, model: str) -> str:
    """A registered model name (e.g. 'tiny') becomes its local folder; anything else passes through."""
    if model in reg.models:
        resolve_folder, _ = reg.model(model)
        return str(resolve_folder())
    return model
