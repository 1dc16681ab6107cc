"""`geobench train grpo`: TRL GRPOTrainer on a task's split (Geo-R1's "elevating" stage).

Dataset, one row per doc of `dataset.task` / `dataset.split`:
- `prompt`: the task's own chat (`task.to_messages(doc)`) with every image part replaced by an empty
  `{"type": "image"}` placeholder, so text and images stay interleaved as the task wrote them (cross-view:
  "Ground-level photo:", <img>, "A:", <img>, ...). TRL 1.16's `prepare_multimodal_messages` fills the placeholders
  in order from the `images` column (it only prepends placeholders when content is a plain string).
- `images`: the doc's images (a list; 5 for 4-candidate cross-view), decoded by `datasets.Image`.
- reward columns: `doc_id` plus every doc field (`answer`, `k`, `candidates`, `lat`, `lon`, ...). Nested values
  (lists of dicts such as `candidates`, dicts) are stored as JSON strings: Arrow cannot hold the per-tile
  attribute dicts of differing keys as one struct type, and `trainers.rewards` accepts JSON for them.

Rewards: `rewards: <preset>` (a registered reward preset, see `geobench_register_reward_presets`) or a list of registered reward names with
weights; the entry `task` (or `task:<metric>`) is the task's own `score` as a reward (`geobench.rewards.task_reward`).
Weights become `GRPOConfig.reward_weights` (TRL sums the weighted rewards).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from geobench import messages as chat
from geobench import plugin_manager
from geobench.api import Trainer, message_images
from geobench.errors import GeobenchError
from geobench.rewards import task_reward
from geobench.selection import task_from_spec
from geobench.trainers.training.checkpoints import check_output_dir
from geobench.trainers.training.config import (
    Problems,
    TrainConfig,
    collect,
    raise_plain,
    reward_spec,
)
from geobench.trainers.training.config_checks import check_trl_keys
from geobench.trainers.training.run import (
    as_config,
    callbacks,
    check_eval_tasks,
    common_args,
    finished_summary,
    peft_config,
    quiet_libraries,
    resolve_model_path,
    run_trainer,
)

RESERVED = {"prompt", "images", "image", "doc_id"}


def _placeholder_messages(messages: list[dict]) -> list[dict]:
    """The chat with every image part replaced by an empty placeholder, every content a list of parts."""
    return chat.convert(messages, image=lambda _ref, _k: {"type": "image", "text": None},
                        text=lambda s: {"type": "text", "text": s}, keep_strings=False, where="grpo")


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple) and not (
            isinstance(value, list | tuple) and all(isinstance(v, str | int | float | bool) for v in value)):
        return json.dumps(value, default=str)
    return value


def _image(ref) -> dict:
    if getattr(ref, "path", None):
        return {"path": str(ref.path), "bytes": None}
    return {"path": None, "bytes": ref.read_bytes()}


def resolve_task(cfg: TrainConfig, registry=None):
    return task_from_spec(registry or plugin_manager.registry(), cfg.dataset.task, cfg.dataset.task_args or None)


def grpo_dataset(task, split: str = "train", limit: int | None = None):
    """A `datasets.Dataset` for GRPOTrainer from a task split (see the module docstring)."""
    import datasets  # heavy and in the [train] extra: `geobench train list` loads this module

    rows: dict[str, list] = {"prompt": [], "images": [], "doc_id": []}
    field_names: list[str] = []
    docs = list(task.docs(split, limit=limit))
    if not docs:
        raise GeobenchError(f"task {task.name!r} has no documents in split {split!r}")
    for doc in docs:
        for k in doc.fields:
            if k not in field_names and k not in RESERVED:
                field_names.append(k)
    for name in field_names:
        rows[name] = []
    for doc in docs:
        messages = task.to_messages(doc)
        refs = message_images(messages)
        rows["prompt"].append(_placeholder_messages(messages))
        rows["images"].append([_image(r) for r in refs])
        rows["doc_id"].append(str(doc.id))
        for name in field_names:
            rows[name].append(_cell(doc.fields.get(name)))
    # A column whose values mix types (e.g. radius None / float / str) is stored as JSON text.
    for name in field_names:
        kinds = {type(v) for v in rows[name] if v is not None}
        if len(kinds) > 1 and not kinds <= {int, float}:
            rows[name] = [None if v is None else json.dumps(v) for v in rows[name]]
    ds = datasets.Dataset.from_dict(rows)
    seq = getattr(datasets, "List", None) or datasets.Sequence
    return ds.cast_column("images", seq(datasets.Image()))


def build_rewards(cfg: TrainConfig, task, registry=None) -> tuple[list, list[float]]:
    preset, pairs = reward_spec(cfg.rewards)
    reg = registry or plugin_manager.registry()
    if preset is not None:
        pairs = reg.reward_preset(preset)
    funcs, weights = [], []
    for name, w in pairs:
        if name == "task" or name.startswith("task:"):
            metric = name.partition(":")[2] or None
            funcs.append(task_reward(task, metric=metric, split=cfg.dataset.split))
        else:
            funcs.append(reg.reward(name))
        weights.append(w)
    return funcs, weights


def train_grpo(config: TrainConfig | str | os.PathLike | dict, overrides=(), resume: bool = False) -> dict[str, Any]:
    """Run GRPO; returns a summary (steps, checkpoints, evaluated checkpoints, seconds)."""
    started = time.perf_counter()
    cfg = as_config(config, "grpo", overrides)
    p = Problems("config")  # every start-up check, reported together
    check_trl_keys(cfg, p)
    collect(p, check_output_dir, cfg, resume)
    collect(p, check_eval_tasks, cfg)
    task = collect(p, resolve_task, cfg)
    rewards = collect(p, build_rewards, cfg, task) if task is not None else None
    model_path = collect(p, resolve_model_path, cfg)
    raise_plain(p)
    reward_funcs, weights = rewards
    if (done := finished_summary(cfg, model_path, resume, started)) is not None:
        return done
    dataset = grpo_dataset(task, cfg.dataset.split, cfg.dataset.limit)

    from trl import GRPOConfig, GRPOTrainer

    with quiet_libraries():
        args = GRPOConfig(**common_args(cfg), num_generations=cfg.num_generations, beta=float(cfg.beta),
                          max_completion_length=cfg.max_completion_length, temperature=float(cfg.temperature),
                          reward_weights=weights)
    return run_trainer(lambda model, processor: GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=args, train_dataset=dataset, processing_class=processor,
        peft_config=peft_config(cfg), callbacks=callbacks(cfg, processor, model_path)), cfg, model_path, resume, started)


class GRPO(Trainer):
    """The `grpo` trainer (registered through `geobench_register_trainers`)."""

    name = "grpo"
    description = "TRL GRPOTrainer on a task split with verifiable rewards (Geo-R1's RL stage)"

    @staticmethod  # registered as the class: `reg.trainer("grpo").train(...)`
    def train(config, overrides=(), resume: bool = False) -> dict[str, Any]:
        return train_grpo(config, overrides, resume)
