"""Checkpoint folders of a training run: which exist, which are complete, where a resumed run starts."""

from __future__ import annotations

import glob
import json
import os
import shutil
import warnings
from pathlib import Path

from geobench.errors import GeobenchError
from geobench.trainers.training.config import TrainConfig


def checkpoints(out: Path) -> list[Path]:
    """checkpoint-N folders in step order."""
    found = [p for p in out.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def is_complete(ckpt: Path) -> bool:
    """HF Trainer writes trainer_state.json last (after weights, optimizer and RNG state), without a rename:
    a checkpoint killed mid-save lacks it or holds a cut-off copy."""
    try:
        json.loads((ckpt / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def check_output_dir(cfg: TrainConfig, resume: bool) -> Path:
    """Checkpoints in output_dir need --resume; evaluations in eval_output that this run would write again (a
    step after its last complete checkpoint, left by another run of the same name) are refused now, not at the
    first checkpoint."""
    out = Path(cfg.output_dir)
    ckpts = checkpoints(out) if out.is_dir() else []
    if ckpts and not resume:
        raise GeobenchError(f"output_dir {str(out)!r} already holds checkpoints",
                            hint="pass --resume to continue, or choose a new output_dir")
    if cfg.eval_tasks:
        done = [int(c.name.split("-")[-1]) for c in ckpts if is_complete(c)]
        last = done[-1] if done else 0
        prefix = f"{cfg.name}-step"
        clash = sorted(p.parent.name for p in Path(cfg.eval_output).glob(f"{glob.escape(prefix)}*/results.json")
                       if p.parent.name[len(prefix):].isdigit() and int(p.parent.name[len(prefix):]) > last)
        if clash:
            raise GeobenchError(f"{cfg.eval_output} already holds checkpoint evaluations of a run named "
                                f"{cfg.name!r} ({', '.join(clash[:3])}{', ...' if len(clash) > 3 else ''}) that "
                                "this run would write again",
                                hint="set another run_name, or move those folders away")
    return out


def resume_point(cfg: TrainConfig, resume: bool) -> str | None:
    """The last complete checkpoint to resume from (None: start at step 0, e.g. a run killed before its first
    save, so a job script can always pass --resume); later, half-written ones (a kill during a save) are
    removed so the run writes them again."""
    if not resume:
        return None
    ckpts = checkpoints(Path(cfg.output_dir))
    done = [i for i, c in enumerate(ckpts) if is_complete(c)]
    last = done[-1] if done else -1
    main = os.environ.get("RANK", "0") == "0"  # under accelerate launch every process runs this
    for bad in ckpts[last + 1:]:
        if main:
            warnings.warn(f"removing {bad}: its save was interrupted", stacklevel=2)
            shutil.rmtree(bad, ignore_errors=True)
    if last < 0:
        warnings.warn(f"--resume: no complete checkpoint in {cfg.output_dir!r}; starting from step 0", stacklevel=2)
        return None
    return str(ckpts[last])


def finished(cfg: TrainConfig) -> tuple[Path, int, int] | None:
    """(last checkpoint, its step, the run's last step) when the run in output_dir already reached the end the
    config asks for; None otherwise (no checkpoint yet, or the config now asks for more steps or epochs).

    HF Trainer always saves a checkpoint at its last step (save_strategy "steps"), so a run whose last complete
    checkpoint is at max_steps is done: resuming it must not train again (HF Trainer would run one more step and
    save a new checkpoint past max_steps, changing the final weights)."""
    out = Path(cfg.output_dir)
    done = [c for c in checkpoints(out) if is_complete(c)] if out.is_dir() else []
    if not done:
        return None
    try:
        state = json.loads((done[-1] / "trainer_state.json").read_text())
        step = int(state.get("global_step") or 0)
        if cfg.max_steps > 0:
            target = cfg.max_steps
        elif float(state.get("num_train_epochs") or -1) == float(cfg.epochs) and state.get("max_steps"):
            target = int(state["max_steps"])
        else:
            return None
    except (OSError, ValueError, TypeError):
        return None
    return (done[-1], step, target) if step >= target else None
