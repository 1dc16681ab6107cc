"""Trainer callbacks: save the processor with each checkpoint, evaluate every checkpoint, log to JSONL.

TRL has no eval-on-save; `EvalOnSave.on_save` runs `geobench.evaluate` on the checkpoint folder just written,
so each checkpoint becomes rows of results/table.csv with its `checkpoint_step`.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from transformers import AutoModelForImageTextToText, TrainerCallback

import geobench
import geobench.distributed
from geobench.atomic import append_text, atomic_write
from geobench.trainers.training.checkpoints import checkpoints, is_complete


def checkpoint_dir(args, state) -> Path:
    """The folder HF Trainer wrote for this save: <output_dir>/checkpoint-<global_step>."""
    return Path(args.output_dir) / f"checkpoint-{state.global_step}"


def _is_main(args, state) -> bool:
    return bool(getattr(state, "is_world_process_zero", True))


class SaveProcessor(TrainerCallback):
    """Write the processor (tokenizer, image processor, chat template) into every checkpoint folder, so
    `geobench eval --model <output_dir>/checkpoint-N` and `from_pretrained` work on it directly."""

    def __init__(self, processor):
        self.processor = processor

    def on_save(self, args, state, control, **kwargs):
        ckpt = checkpoint_dir(args, state)
        if _is_main(args, state) and ckpt.is_dir() and self.processor is not None:
            self.processor.save_pretrained(str(ckpt))
        return control

    def on_train_begin(self, args, state, control, **kwargs):
        """After a kill between a checkpoint's save and this callback: give earlier checkpoints their processor."""
        if _is_main(args, state) and self.processor is not None:
            for ckpt in _complete_checkpoints(args):
                if not (ckpt / "preprocessor_config.json").is_file() and not (ckpt / "processor_config.json").is_file():
                    self.processor.save_pretrained(str(ckpt))
        return control


def _complete_checkpoints(args) -> list[Path]:
    return [c for c in checkpoints(Path(args.output_dir)) if is_complete(c)]


class EvalOnSave(TrainerCallback):
    """Evaluate each saved checkpoint on `tasks` and append rows (with the step) to `<output>/table.csv`.

    Runs after the checkpoint is complete (callbacks are called after `_save_checkpoint`). mode "inline"
    (default): in-process, training waits (right for small models); under `accelerate launch` every rank takes
    part (after a barrier): the evaluator gives each rank its share of the requests on its own device and rank 0
    merges and writes the one run folder. mode "background": one
    checkpoint at a time in a separate `python` process fed from a queue, so training goes on while the
    previous checkpoint is evaluated; the queue is drained at the end of training (every checkpoint still
    gets its rows). LoRA checkpoints hold only adapters: they are merged into a full model first
    (`<checkpoint>/merged`), which is what gets evaluated.
    """

    def __init__(self, tasks: list[str], output: str = "results", run_name: str = "run", limit: int | None = None,
                 gen_kwargs: dict | str | None = None, batch_size: int | str = 1, base_model: str | None = None,
                 processor=None, task_args: dict | None = None, mode: str = "inline"):
        self.tasks = list(tasks)
        self.mode = mode
        self._queue = None
        self.task_args = task_args
        self.output = output
        self.run_name = run_name
        self.limit = limit
        self.gen_kwargs = gen_kwargs
        self.batch_size = batch_size
        self.base_model = base_model
        self.processor = processor
        self.evaluated: list[dict[str, Any]] = []

    def _here(self, args, state) -> bool:
        """Whether this process takes part: inline evaluation is data-parallel over every rank of the training
        job (the evaluator shards it and rank 0 writes); background evaluation is the main process's."""
        return bool(self.tasks) and (self.mode != "background" or _is_main(args, state))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        """On a resumed run: evaluate the checkpoints an earlier, killed run saved but did not evaluate."""
        if self._here(args, state):
            geobench.distributed.barrier()  # every rank decides from the same files
            todo = [c for c in _complete_checkpoints(args)
                    if not (Path(self.output) / self._run(int(c.name.split("-")[-1])) / "results.json").is_file()]
            for ckpt in todo:
                self._evaluate(ckpt, int(ckpt.name.split("-")[-1]), model, args, state)
        return control

    def on_save(self, args, state, control, model=None, **kwargs):
        if not self._here(args, state):
            return control
        if self.mode != "background":
            geobench.distributed.barrier()  # rank 0 has written the checkpoint and its processor
        ckpt = checkpoint_dir(args, state)
        if ckpt.is_dir():
            self._evaluate(ckpt, state.global_step, model, args, state)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self._queue is not None:
            self._queue.join()  # background evaluations finish before train() returns
        return control

    def _run(self, step: int) -> str:
        return f"{self.run_name}-step{step}"

    def _evaluate(self, ckpt: Path, step: int, model=None, args=None, state=None) -> None:
        target = ckpt
        if (ckpt / "adapter_config.json").is_file() and not (ckpt / "config.json").is_file():
            if args is None or _is_main(args, state):
                self._merge_lora(ckpt)
            if self.mode != "background":
                geobench.distributed.barrier()  # the merged model is on disk for every rank
            target = ckpt / "merged"
        kwargs = dict(limit=self.limit, gen_kwargs=self.gen_kwargs, batch_size=self.batch_size,
                      output=str(self.output), task_args=self.task_args, run_name=self._run(step),
                      checkpoint_step=step, model_name=self.run_name, progress=False)
        if self.mode == "background":
            self._submit(str(target), step, kwargs)
            return
        was_training = model.training if model is not None else False
        started = time.perf_counter()
        results = geobench.evaluate(str(target), self.tasks, **kwargs)
        if model is not None and was_training:
            model.train()
        self.evaluated.append({"step": step, "checkpoint": str(target),
                               "seconds": round(time.perf_counter() - started, 3),
                               "results": results.get("results", {})})

    def _submit(self, target: str, step: int, kwargs: dict) -> None:
        """Queue one evaluation for the background worker (started on first use)."""
        if self._queue is None:
            self._queue = queue.Queue()
            threading.Thread(target=self._worker, daemon=True, name="geobench-eval-on-save").start()
        self._queue.put((target, step, kwargs))

    def _worker(self) -> None:
        while True:
            target, step, kwargs = self._queue.get()
            started = time.perf_counter()
            try:
                code = ("import json, sys, geobench; a = json.loads(sys.argv[1]); "
                        "geobench.evaluate(a.pop('model'), a.pop('tasks'), **a)")
                payload = json.dumps({"model": target, "tasks": self.tasks, **kwargs})
                r = subprocess.run([sys.executable, "-c", code, payload], capture_output=True, text=True)
                results_file = Path(kwargs["output"]) / kwargs["run_name"] / "results.json"
                if r.returncode != 0 or not results_file.is_file():
                    tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
                    warnings.warn(f"evaluation of {target} failed: {tail}", stacklevel=1)
                else:
                    self.evaluated.append({"step": step, "checkpoint": target,
                                           "seconds": round(time.perf_counter() - started, 3),
                                           "results": json.loads(results_file.read_text()).get("results", {})})
            finally:
                self._queue.task_done()

    def _merge_lora(self, ckpt: Path) -> Path:
        from peft import PeftModel  # LoRA runs only: peft is optional

        out = ckpt / "merged"
        base = AutoModelForImageTextToText.from_pretrained(self.base_model)
        merged = PeftModel.from_pretrained(base, str(ckpt)).merge_and_unload()
        merged.save_pretrained(str(out))
        if self.processor is not None:
            self.processor.save_pretrained(str(out))
        return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


class JsonlLogger(TrainerCallback):
    """Append every `on_log` dict (loss, rewards per function, completion length, KL, ...) with its step
    to `<output_dir>/train_log.jsonl`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        """A resumed run logs the steps after its checkpoint again: drop the killed run's rows for those steps
        (and a line cut off by the kill), so every step appears once."""
        if not _is_main(args, state) or not self.path.is_file():
            return control
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and (row.get("step") or 0) <= state.global_step:
                keep.append(line)
        atomic_write(self.path, "".join(k + "\n" for k in keep))
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not _is_main(args, state):
            return control
        row = {"step": state.global_step, "epoch": _jsonable(state.epoch), "time": round(time.time(), 3)}
        row.update({k: _jsonable(v) for k, v in logs.items()})
        append_text(self.path, json.dumps(row) + "\n")  # a full disk: cut back, never a torn line
        return control
