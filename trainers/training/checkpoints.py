"""Checkpoint folders of a training run: which exist, which are complete, where a resumed run starts."""

from __future__ import annotations

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
    out = Path(cfg.output_dir)
    ckpts = checkpoints(out) if out.is_dir() else []
    if ckpts and not resume:
        raise GeobenchError(f"output_dir {str(out)!r} already holds checkpoints",
                            hint="pass --resume to continue, or choose a new output_dir")
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
