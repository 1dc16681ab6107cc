"""`geobench train sft`: TRL SFTTrainer on a scaffold folder (Geo-R1's "scaffolding" stage).

Data: the folder's train.jsonl -> columns `messages` (user content with `{"type": "image"}` placeholders in
place, assistant text) and `images` (decoded). `max_length=None` so image tokens are never truncated;
`assistant_only_loss=True` trains on the answer only. Full fine-tune, or LoRA with `lora:`.

trl and datasets are imported where they are used: `geobench train list` loads this module.
"""

from __future__ import annotations

import os
import time
from typing import Any

from geobench import sftdata
from geobench.api import Trainer
from geobench.errors import GeobenchError
from geobench.trainers.training.checkpoints import check_output_dir
from geobench.trainers.training.config import Problems, TrainConfig, collect, raise_plain
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

load_folder = sftdata.load  # the folder contract lives in the core (geobench.sftdata)


def sft_dataset(cfg: TrainConfig):
    ds = load_folder(cfg.dataset.path, split=cfg.dataset.split)
    if cfg.dataset.limit:
        ds = ds.select(range(min(cfg.dataset.limit, len(ds))))
    missing = {"messages", "images"} - set(ds.column_names)
    if missing:
        raise GeobenchError(f"dataset {cfg.dataset.path!r} lacks column(s) {', '.join(sorted(missing))}")
    return ds.select_columns(["messages", "images"])


def train_sft(config: TrainConfig | str | os.PathLike | dict, overrides=(), resume: bool = False) -> dict[str, Any]:
    """Run SFT; returns a summary (steps, checkpoints, evaluated checkpoints, seconds)."""
    started = time.perf_counter()
    cfg = as_config(config, "sft", overrides)
    p = Problems("config")  # every start-up check, reported together
    check_trl_keys(cfg, p)
    collect(p, check_output_dir, cfg, resume)
    collect(p, check_eval_tasks, cfg)
    model_path = collect(p, resolve_model_path, cfg)
    raise_plain(p)
    if (done := finished_summary(cfg, model_path, resume, started)) is not None:
        return done
    dataset = sft_dataset(cfg)

    from trl import SFTConfig, SFTTrainer

    with quiet_libraries():
        args = SFTConfig(**common_args(cfg), max_length=cfg.max_length, assistant_only_loss=cfg.assistant_only_loss)
    return run_trainer(lambda model, processor: SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=processor, peft_config=peft_config(cfg),
        callbacks=callbacks(cfg, processor, model_path)), cfg, model_path, resume, started)


class SFT(Trainer):
    """The `sft` trainer (registered through `geobench_register_trainers`)."""

    name = "sft"
    description = "TRL SFTTrainer on a scaffold folder (chain-of-thought exemplars), full or LoRA"

    @staticmethod  # registered as the class: `reg.trainer("sft").train(...)`
    def train(config, overrides=(), resume: bool = False) -> dict[str, Any]:
        return train_sft(config, overrides, resume)
