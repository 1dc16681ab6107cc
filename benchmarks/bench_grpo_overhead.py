"""GRPO step time: geobench's trainer (its rewards, logging and save callbacks) vs bare TRL GRPOTrainer.

    python benchmarks/bench_grpo_overhead.py                 # tiny model, crossview_toy, 12 steps x 3 rounds
    python benchmarks/bench_grpo_overhead.py --steps 20 --rounds 5 --rewards tiny

Both runs train the same tiny model on the same prompts (`crossview_toy` train split, built by geobench's
`grpo_dataset` for both, so data preparation is not part of the difference) with the same GRPOConfig
(batch, generations, completion length, seed). The bare run has one trivial reward (always 0); the geobench
run uses `geobench.trainers.training.grpo.train_grpo` with a reward preset (default `geo-r1`: accuracy, format,
length, repetition) and its callbacks (train_log.jsonl, processor saved with each checkpoint). Checkpoint
evaluation is switched off: the target (issue 5) is overhead <= 10 % excluding the evaluation itself.

Step time = median of per-step wall times (first step dropped as warm-up), rounds interleaved
(bare, geobench, bare, ...) so a machine that slows down mid-run hurts both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)

    return StepTimer()


def common(args, out: str) -> dict:
    return dict(output_dir=out, max_steps=args.steps, per_device_batch_size=args.batch,
                num_generations=args.generations, max_completion_length=args.completion, lr=1e-5, beta=0.04,
                temperature=1.0, save_steps=args.steps, logging_steps=1, seed=0)


def bare_run(args, model_path: str, out: str) -> list[float]:
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig, GRPOTrainer

    from geobench import plugin_manager
    from geobench.hfutil import load_processor
    from geobench.trainers.training.grpo import grpo_dataset

    task = plugin_manager.registry().task("crossview_toy")
    ds = grpo_dataset(task, "train", args.steps * args.batch // args.generations + 8)
    c = common(args, out)
    cfg = GRPOConfig(output_dir=out, max_steps=c["max_steps"], per_device_train_batch_size=c["per_device_batch_size"],
                     num_generations=c["num_generations"], max_completion_length=c["max_completion_length"],
                     learning_rate=c["lr"], beta=c["beta"], temperature=c["temperature"], save_steps=c["save_steps"],
                     logging_steps=1, seed=0, report_to="none", use_cpu=True, bf16=False,
                     remove_unused_columns=False)
    timer = step_timer()
    trainer = GRPOTrainer(model=AutoModelForImageTextToText.from_pretrained(model_path),
                          reward_funcs=lambda completions, **kw: [0.0] * len(completions), args=cfg,
                          train_dataset=ds, processing_class=load_processor(model_path), callbacks=[timer])
    trainer.train()
    return timer.times[1:]


def geobench_run(args, model_path: str, out: str) -> list[float]:
    import geobench.trainers.training.grpo as G

    timer = step_timer()
    real = G.callbacks

    def with_timer(cfg, processor, path):
        return [*real(cfg, processor, path), timer]

    G.callbacks = with_timer
    try:
        cfg = common(args, out) | dict(model=model_path, rewards=args.rewards, dataset={
            "task": "crossview_toy", "split": "train", "limit": args.steps * args.batch // args.generations + 8})
        G.train_grpo(cfg)
    finally:
        G.callbacks = real
    return timer.times[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--completion", type=int, default=32)
    ap.add_argument("--rewards", default="geo-r1")
    args = ap.parse_args()

    from transformers.utils import logging as hf_logging

    from geobench.tinymodel import tiny_model_path

    hf_logging.set_verbosity_error()
    model_path = tiny_model_path()
    work = Path(tempfile.mkdtemp(prefix="gb-grpo-bench-"))
    bare, ours = [], []
    for r in range(args.rounds):
        bare += bare_run(args, model_path, str(work / f"bare{r}"))
        ours += geobench_run(args, model_path, str(work / f"geobench{r}"))
        print(f"round {r + 1}: bare {statistics.median(bare):.3f} s/step, geobench {statistics.median(ours):.3f} s/step")
    b, g = statistics.median(bare), statistics.median(ours)
    print(f"bare TRL GRPOTrainer (trivial reward): {b:.3f} s/step (median of {len(bare)})")
    print(f"geobench train_grpo (rewards={args.rewards}, callbacks): {g:.3f} s/step (median of {len(ours)})")
    print(f"overhead: {100 * (g / b - 1):+.1f} % (target <= 10 %)")


if __name__ == "__main__":
    main()
