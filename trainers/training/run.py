"""What the SFT and GRPO trainers share: model resolution, TrainingArguments fields, model loading, callbacks,
and `run_trainer`, the one path (processor, resume checkpoint, model, train, save) both take, so resume stays
right for both.

torch, transformers, peft and yaml are imported where they are used: the trainer modules that import this one
are loaded by `geobench train list`, which must not import them.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geobench import hfutil, plugin_manager
from geobench.atomic import DiskFull, atomic_write, disk_full, free_bytes, is_disk_full, space_for
from geobench.errors import GeobenchError
from geobench.evaluator import resolve_model
from geobench.selection import select_tasks
from geobench.trainers.training.checkpoints import checkpoints, finished, is_complete, resume_point
from geobench.trainers.training.config import TrainConfig, load_config


def resolve_model_path(cfg: TrainConfig, registry=None) -> str:
    """`tiny` (or any registered model name) -> its local folder; a folder must hold config.json."""
    reg = registry or plugin_manager.registry()
    path = resolve_model(reg, cfg.model)
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        raise GeobenchError(f"model folder {path!r} has no config.json")
    return path



# Warnings the training libraries print on every normal run that say nothing the user can act on (measured on
# transformers 5 / TRL 1.16 with the tiny model); matched by message, so every other warning still shows.
NOISY_WARNINGS: list[tuple[str, type[Warning]]] = [
    # transformers 5 renamed the field; TRL's configs still set the old name themselves
    (r"`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated", FutureWarning),
]


@contextmanager
def quiet_libraries():
    """Filter the known noisy library warnings (not all warnings) while a trainer is built and runs."""
    with warnings.catch_warnings():
        for message, category in NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def use_cpu() -> bool:
    import torch

    return not torch.cuda.is_available()


def common_args(cfg: TrainConfig) -> dict[str, Any]:
    """TrainingArguments fields shared by SFTConfig and GRPOConfig."""
    args = dict(
        output_dir=cfg.output_dir, run_name=cfg.name, learning_rate=float(cfg.lr), num_train_epochs=float(cfg.epochs),
        max_steps=cfg.max_steps, per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, save_strategy="steps",
        save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps,
        seed=cfg.seed, report_to=cfg.report_to, remove_unused_columns=False,
    )
    if use_cpu():
        # TRL's configs default to bf16=True; on a CPU without bf16 units autocast makes every matmul ~10-20x
        # slower (measured: SFT step 0.5 s -> 6 s on the tiny model). An explicit `trl: {bf16: true}` still wins.
        args.update(use_cpu=True, bf16=False)
    args.update({k: v for k, v in cfg.trl.items() if k != "model_init_kwargs"})  # we load the model ourselves
    return args


def load_model(path: str, cfg: TrainConfig, resume_from: str | None = None):
    """The model at `path`; with `resume_from` (a full fine-tune's checkpoint) holding that checkpoint's weights.

    Why: HF Trainer's resume reloads a checkpoint with a plain non-strict `load_state_dict`, but transformers 5
    saves Qwen2.5-VL under its legacy key names (`model.layers.*`, not `model.language_model.layers.*`), so
    only lm_head matched and a resumed run silently went on from the base weights (measured: loss 5.74 at the
    checkpoint, 6.31 one step after resuming). `from_pretrained` maps the names; the model keeps `path` as its
    name, because TRL's GRPO reference model is loaded from that name (it must stay the base).
    """
    import torch
    from transformers import AutoModelForImageTextToText

    dtype = torch.bfloat16 if cfg.trl.get("bf16") else torch.float16 if cfg.trl.get("fp16") else torch.float32
    kwargs = {"dtype": dtype, **(cfg.trl.get("model_init_kwargs") or {})}
    try:
        if resume_from and cfg.lora is None:
            model = AutoModelForImageTextToText.from_pretrained(resume_from, **kwargs)
            model.config._name_or_path = model.name_or_path = path  # TRL loads the reference model from this
            return model
        return AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except OSError as e:
        raise GeobenchError(f"cannot load model {path!r}: {str(e).splitlines()[0]}") from None


def peft_config(cfg: TrainConfig):
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")


def callbacks(cfg: TrainConfig, processor, model_path: str) -> list:
    # the callbacks subclass transformers' TrainerCallback: imported here for the reason in the docstring
    from geobench.trainers.training.callbacks import EvalOnSave, JsonlLogger, SaveProcessor

    cbs = [SaveProcessor(processor), JsonlLogger(Path(cfg.output_dir) / "train_log.jsonl")]
    if cfg.eval_tasks:
        cbs.append(EvalOnSave(cfg.eval_tasks, output=cfg.eval_output, run_name=cfg.name, limit=cfg.eval_limit,
                              gen_kwargs=cfg.eval_gen_kwargs, batch_size=cfg.eval_batch_size,
                              task_args=cfg.eval_task_args or None, mode=cfg.eval_mode,
                              base_model=model_path, processor=processor))
    return cbs


def check_eval_tasks(cfg: TrainConfig, registry=None) -> None:
    """Unknown eval task names fail before the model loads, not at the first checkpoint."""
    if not cfg.eval_tasks:
        return
    select_tasks(registry or plugin_manager.registry(), list(cfg.eval_tasks), cfg.eval_task_args or None)


def write_config(cfg: TrainConfig) -> None:
    import yaml

    out = Path(cfg.output_dir)
    with space_for(out):
        out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "train_config.yaml", yaml.safe_dump(cfg.as_dict(), sort_keys=False))


# Files of a checkpoint that are training state, not the model: not copied into output_dir as the final model.
TRAINING_STATE = ("optimizer", "scheduler", "rng_state", "scaler", "trainer_state.json", "global_step")


def finish(trainer, cfg: TrainConfig, processor, started: float) -> dict[str, Any]:
    """Final model + processor into output_dir (written into a temporary folder inside it, then each file renamed
    into place: a full disk leaves the previous files, never a half-written one); a summary dict."""
    out = Path(cfg.output_dir)
    tmp = out / ".final.partial"
    with space_for(out, _model_bytes(trainer.model), hint=RESUME_HINT):
        try:
            trainer.save_model(str(tmp))
            if trainer.is_world_process_zero():
                processor.save_pretrained(str(tmp))
                _move_into(tmp, out)
        finally:
            if trainer.is_world_process_zero():
                shutil.rmtree(tmp, ignore_errors=True)
    ckpts = checkpoints(out)
    evals = next((cb.evaluated for cb in trainer.callback_handler.callbacks if hasattr(cb, "evaluated")), [])
    return {"kind": cfg.kind, "output_dir": cfg.output_dir, "run_name": cfg.name,
            "global_step": trainer.state.global_step, "checkpoints": [str(p) for p in ckpts],
            "evaluated": [{k: e[k] for k in ("step", "checkpoint", "seconds", "results")} for e in evals],
            "seconds": round(time.perf_counter() - started, 3)}


def _move_into(src: Path, dst: Path) -> None:
    for f in sorted(src.iterdir()):
        if f.is_file():
            os.replace(f, dst / f.name)


def _model_bytes(model) -> int | None:
    """Bytes of the weights, plus Adam's two fp32 moments of every trainable parameter: about what a checkpoint
    needs on disk."""
    try:
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        moments = sum(p.numel() * 8 for p in model.parameters() if p.requires_grad)
        return weights + moments
    except Exception:  # noqa: BLE001 - an estimate for a message only
        return None


RESUME_HINT = "free some space on that disk, then rerun the same command with --resume"


def _train(trainer, cfg: TrainConfig, ckpt: str | None) -> None:
    """`trainer.train`, with a full disk during a checkpoint save (or the log) as one line naming the checkpoint
    and about the bytes it needs; the half-written checkpoint is removed (the next --resume starts from the last
    complete one)."""
    out = Path(cfg.output_dir)
    try:
        trainer.train(resume_from_checkpoint=ckpt)
    except DiskFull:
        raise  # already one line naming its file (an evaluation's results, the log)
    except Exception as e:
        needed = _model_bytes(trainer.model)
        if not (is_disk_full(e) or _torch_write_failed(e, out, needed)):
            raise
        ckpts = checkpoints(out)
        half = ckpts[-1] if ckpts and not is_complete(ckpts[-1]) else None
        if half is not None and trainer.is_world_process_zero():
            shutil.rmtree(half, ignore_errors=True)
        raise disk_full(half or out, needed, what="saving checkpoint" if half is not None else "writing to",
                        hint=RESUME_HINT) from None


def _torch_write_failed(e: BaseException, out: Path, needed: int | None) -> bool:
    """torch.save's zip writer reports a full disk without an errno (`[enforce fail at inline_container.cc] ...
    unexpected pos` or `PytorchStreamWriter failed writing file`): taken as a full disk when the output's file
    system has less free space than a checkpoint needs."""
    text = str(e)
    if not isinstance(e, RuntimeError) or not any(t in text for t in ("inline_container", "PytorchStreamWriter")):
        return False
    free = free_bytes(out)
    return free is not None and free < (needed or 1 << 20)


def finished_summary(cfg: TrainConfig, model_path: str, resume: bool, started: float) -> dict[str, Any] | None:
    """With --resume, a run that already reached its last step: `already_finished`'s summary; else None. The
    trainers ask before building their dataset, so the no-op costs no data loading."""
    if resume and (done := finished(cfg)) is not None:
        return already_finished(cfg, *done, model_path, started)
    return None


def already_finished(cfg: TrainConfig, last: Path, step: int, target: int, model_path: str,
                     started: float) -> dict[str, Any]:
    """`--resume` of a run that already reached its last step: train nothing. Only what a kill after the last
    save can have left undone is done: the final model copied into output_dir from the last checkpoint, and the
    checkpoints whose evaluation is missing evaluated."""
    import types

    out = Path(cfg.output_dir)
    main = os.environ.get("RANK", "0") == "0"
    if main and not any((out / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json",
                                                       "adapter_model.safetensors", "pytorch_model.bin")):
        tmp = out / ".final.partial"
        try:
            with space_for(out):
                tmp.mkdir(exist_ok=True)
                for f in last.iterdir():
                    if f.is_file() and not f.name.startswith(TRAINING_STATE):
                        shutil.copy2(f, tmp / f.name)
                _move_into(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    evaluated: list[dict] = []
    if cfg.eval_tasks:
        processor = hfutil.load_processor(model_path)
        args = types.SimpleNamespace(output_dir=cfg.output_dir)
        state = types.SimpleNamespace(is_world_process_zero=main, global_step=step)
        for cb in callbacks(cfg, processor, model_path):
            if hasattr(cb, "evaluated"):
                cb.on_train_begin(args, state, None)  # the checkpoints with no results.json yet
                cb.on_train_end(args, state, None)  # background evaluations finish first
                evaluated = cb.evaluated
    note = (f"{out} already finished at step {step} of {target}; nothing to train"
            + (f", evaluated {len(evaluated)} checkpoint(s) whose evaluation was missing" if evaluated else "")
            + " (raise max_steps or epochs to train further)")
    return {"kind": cfg.kind, "output_dir": cfg.output_dir, "run_name": cfg.name, "global_step": step,
            "checkpoints": [str(p) for p in checkpoints(out)], "already_finished": True, "note": note,
            "evaluated": [{k: e[k] for k in ("step", "checkpoint", "seconds", "results")} for e in evaluated],
            "seconds": round(time.perf_counter() - started, 3)}


def run_trainer(make, cfg: TrainConfig, model_path: str, resume: bool, started: float) -> dict[str, Any]:
    """Load the processor and the model (from the last complete checkpoint when resuming), build the TRL trainer
    with `make(model, processor)`, train, save; the summary. One path for both trainers, so resume stays right.
    Resuming a run that already reached its last step trains nothing (`already_finished`)."""
    if (done := finished_summary(cfg, model_path, resume, started)) is not None:
        return done
    processor = hfutil.load_processor(model_path)
    ckpt = resume_point(cfg, resume)
    model = load_model(model_path, cfg, resume_from=ckpt)
    write_config(cfg)
    with quiet_libraries():
        trainer = make(model, processor)
        _train(trainer, cfg, ckpt)
    return finish(trainer, cfg, processor, started)


def as_config(config: TrainConfig | str | os.PathLike | dict | None, kind: str, overrides=()) -> TrainConfig:
    if isinstance(config, TrainConfig):
        if config.kind != kind:
            raise GeobenchError(f"a {config.kind} config was given to the {kind} trainer")
        return config
    if isinstance(config, dict):
        return load_config(None, kind, overrides, extra=config)
    return load_config(config, kind, overrides)
