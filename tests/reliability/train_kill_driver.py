"""`geobench train` (the CLI's own main) with a SIGKILL armed at one moment, for test_train_resume.py.

    KILL_AT=<point>:<n>  SIGKILL this process at the n-th event of <point> in this process:
        loaded  the model has just been loaded (start-up: the output folder may not exist yet)
        step    a training step has run its forward and backward pass, the optimizer has not stepped
        save    a checkpoint's model is written, its optimizer state and trainer_state.json not yet
        eval    a checkpoint's evaluation is about to score a sample

Moments are events, not timers, so the test does not depend on how fast this machine runs. The hooks only
observe and kill; the code that runs is geobench's own.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    point, _, n = os.environ.get("KILL_AT", "none:0").partition(":")
    target = int(n or 0)
    counts: dict[str, int] = {}

    def event(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1
        if name == point and counts[name] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    import transformers
    import trl

    from geobench import planning
    from geobench.trainers.training import run

    load_model, record = run.load_model, planning.record

    def loaded(*args, **kwargs):
        model = load_model(*args, **kwargs)
        event("loaded")
        return model

    def counted_record(*args, **kwargs):
        event("eval")
        return record(*args, **kwargs)

    run.load_model = loaded
    planning.record = counted_record
    sft_step = trl.SFTTrainer.training_step  # (it calls transformers.Trainer's: patched once, counted once)

    def step(self, *args, **kwargs):
        loss = sft_step(self, *args, **kwargs)
        event("step")
        return loss

    trl.SFTTrainer.training_step = step
    save_optimizer = transformers.Trainer._save_optimizer_and_scheduler

    def saving(self, *args, **kwargs):
        event("save")
        return save_optimizer(self, *args, **kwargs)

    transformers.Trainer._save_optimizer_and_scheduler = saving

    from geobench.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
