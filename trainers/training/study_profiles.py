"""The settings of `geobench study transfer` (trainers/training/study.py): the toy and full-size profiles, the
trainer config of every stage, and the study folder's layout (stage records). No training here."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench.atomic import atomic_write
from geobench.errors import GeobenchError

SCHEMA = "geobench.study.transfer/1"
ARMS = ("grpo", "grpo_shuffled", "sft_more")
ARM_TEXT = {"grpo": "GRPO on cross-view pairing, real reward",
            "grpo_shuffled": "GRPO on cross-view pairing, shuffled (uninformative) reward",
            "sft_more": "continued SFT on the mixture, same wall time as the grpo arm's training"}
FAMILIES = ("crossview", "geolocation", "scene")
CROSSVIEW_TOY_ARGS = {"difficulty": "easy", "differ_in": "climate", "k": 4}  # the demo's task (demo.py)


@dataclass
class Family:
    """One task family: where its scaffolding comes from and what its checkpoints are evaluated on."""

    task: str  # eval task (and GRPO task for crossview)
    metric: str  # primary metric (per sample)
    task_args: dict = field(default_factory=dict)  # eval task args
    chance: float | None = None
    scaffold_task: str | None = None  # default: `task`
    scaffold_split: str = "train"
    scaffold_args: dict | None = None  # default: task_args
    scaffold_limit: int | None = None
    style: str = "short"
    cues: str | None = None
    teacher: dict | None = None  # {"model", "backend", "args"}: real data has no template metadata


@dataclass
class Profile:
    name: str
    model: str  # "tiny" (built per seed at `width`) or a folder / hub id
    families: dict[str, Family]
    width: int = 128
    sft: dict = field(default_factory=dict)  # sft trainer config (model/output/dataset/eval filled in)
    grpo: dict = field(default_factory=dict)  # grpo trainer config (same)
    rewards: str | list = "tiny"  # a reward preset or a GRPO config reward list
    shuffled_rewards: str | list = field(default_factory=lambda: [{"shuffled_pairing": 1.0}, {"format": 0.1}])
    sft_steps: int = 600
    grpo_steps: int = 20
    saves: int = 2  # checkpoints (= evaluations) per stage
    eval_limit: int | None = 128
    eval_max_tokens: int = 80
    eval_batch_size: int | str = 16
    sft_more_steps: int | None = None  # None: equal wall time (measured)
    cue: str = "climate"  # the cross-view attribute the scaffolded think names and the cue read checks


def toy_profile() -> Profile:
    """The CPU miniature (settings from `geobench demo` and notes/learnability*.md; docs/experiments.md)."""
    return Profile(
        name="toy", model="tiny",
        families={
            "crossview": Family("crossview_toy", "acc", dict(CROSSVIEW_TOY_ARGS), chance=0.25, style="tiles",
                                cues="climate", scaffold_limit=1000),
            "geolocation": Family("geoloc_toy", "geoscore", {}, scaffold_limit=1000),
            "scene": Family("scene_toy", "acc", {"per_question": 8}, scaffold_args={"per_question": 64}),
        },
        sft={"lr": 1e-3, "per_device_batch_size": 16, "logging_steps": 10,
             "trl": {"lr_scheduler_type": "constant_with_warmup", "warmup_steps": 30, "weight_decay": 0.0}},
        grpo={"num_generations": 8, "per_device_batch_size": 128, "beta": 0.04, "temperature": 1.0,
              "max_completion_length": 80, "lr": 2e-4, "logging_steps": 1, "trl": {"loss_type": "dapo"}})


def full_profile(model: str = "Qwen/Qwen2.5-VL-7B-Instruct") -> Profile:
    """The paper's scale: Qwen2.5-VL-7B, the real benchmarks, Geo-R1's released GRPO recipe
    (configs/grpo_geo_r1.yaml: 8 rollouts, beta 0.04, lr 1e-6, 2,048-token completions, bf16). Needs GPUs and
    the data (`geobench data pull ...`); scaffolding by a teacher (real data carries no template metadata).
    Scene scaffolding reads GeoChain's `mini_test`, the only other split it publishes: remove those images
    from the test split before reading scene numbers as transfer (docs/experiments.md)."""
    teacher = {"model": model, "backend": "vllm", "args": None}
    # sdpa, not flash_attention_2: PyTorch's own attention, no extra package to build
    gpu = {"bf16": True, "gradient_checkpointing": True, "model_init_kwargs": {"attn_implementation": "sdpa"}}
    return Profile(
        name="full", model=model,
        families={
            "crossview": Family("cvcities", "acc", {"k": 4}, chance=0.25, scaffold_limit=2000, style="full",
                                teacher=teacher),
            "geolocation": Family("im2gps3k", "geoscore", {}, scaffold_task="osv5m", scaffold_split="test",
                                  scaffold_args={}, scaffold_limit=2000, style="full", teacher=teacher),
            "scene": Family("geochain", "acc", {}, scaffold_split="mini_test", scaffold_args={}, style="full",
                            teacher=teacher),
        },
        sft={"lr": 1e-5, "per_device_batch_size": 1, "gradient_accumulation_steps": 8, "logging_steps": 1,
             "trl": dict(gpu)},
        grpo={"num_generations": 8, "per_device_batch_size": 4, "gradient_accumulation_steps": 2, "beta": 0.04,
              "temperature": 1.0, "max_completion_length": 2048, "lr": 1e-6, "logging_steps": 1, "trl": dict(gpu)},
        rewards="geo-r1-released",
        shuffled_rewards=[{"shuffled_accuracy": 1.0}, {"format": 1.0}, {"length": 1.0}, {"repetition": 1.0}], sft_steps=2000, grpo_steps=1000, saves=4,
        eval_limit=500, eval_max_tokens=2048, eval_batch_size="auto")


PROFILES = {"toy": toy_profile, "full": full_profile}


def make_profile(name: str = "toy", model: str | None = None, **overrides: Any) -> Profile:
    """A named profile with `model` and any Profile field overridden (None values are ignored)."""
    if name not in PROFILES:
        raise GeobenchError(f"study: unknown profile {name!r}; known: {', '.join(PROFILES)}")
    prof = PROFILES[name]() if model is None or name == "toy" else PROFILES[name](model)
    if model is not None:
        prof.model = model
    cue, cv_args = overrides.pop("cue", None), overrides.pop("crossview_args", None)
    if cv_args:
        cv = prof.families["crossview"]
        cv.task_args = {**cv.task_args, **cv_args}
        if cv.chance is not None and "k" in cv_args:
            cv.chance = 1.0 / int(cv_args["k"])
    if cue:
        prof.cue = cue
        if prof.families["crossview"].cues:
            prof.families["crossview"].cues = cue
    for k, v in overrides.items():
        if v is not None:
            if not hasattr(prof, k):
                raise GeobenchError(f"study: unknown setting {k!r}")
            setattr(prof, k, v)
    for k in ("sft_steps", "grpo_steps", "saves"):
        if getattr(prof, k) <= 0:
            raise GeobenchError(f"study: {k} must be > 0, got {getattr(prof, k)}")
    if prof.sft_steps % prof.saves or prof.grpo_steps % prof.saves:
        raise GeobenchError(f"study: sft_steps ({prof.sft_steps}) and grpo_steps ({prof.grpo_steps}) must be "
                            f"multiples of saves ({prof.saves})")
    return prof


def load_profile(out: str | os.PathLike) -> Profile:
    """The Profile a study folder was run with (its study.json)."""
    p = Path(out) / "study.json"
    if not p.is_file():
        raise GeobenchError(f"study: {p} not found (not a study folder)")
    d = json.loads(p.read_text())["profile"]
    fams = {k: Family(**v) for k, v in d["families"].items()}
    return Profile(**{**d, "families": fams})


# ------------------------------------------------------------------------------------------ stage configs


# ------------------------------------------------------------------------------------------ the stages


def kv(d: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (d or {}).items())


def eval_settings(prof: Profile) -> dict[str, Any]:
    fams = prof.families.values()
    return {"eval_tasks": [f.task for f in fams],
            "eval_task_args": {f.task: dict(f.task_args) for f in fams if f.task_args},
            "eval_limit": prof.eval_limit, "eval_gen_kwargs": {"max_new_tokens": prof.eval_max_tokens},
            "eval_batch_size": prof.eval_batch_size}


def scaffold_args(prof: Profile, family: str, folder: Path, seed: int = 0) -> list[str]:
    """The `geobench scaffold` command line for one family."""
    f = prof.families[family]
    args = ["scaffold", "--task", f.scaffold_task or f.task, "--split", f.scaffold_split, "--out", str(folder),
            "--style", f.style, "--seed", str(seed)]
    targs = f.task_args if f.scaffold_args is None else f.scaffold_args
    if targs:
        args += ["--task-args", kv(targs)]
    if f.scaffold_limit:
        args += ["--limit", str(f.scaffold_limit)]
    if f.cues:
        args += ["--cues", f.cues]
    if f.teacher:
        args += ["--teacher-model", f.teacher["model"], "--teacher-backend", f.teacher["backend"]]
        if f.teacher.get("args"):
            args += ["--teacher-args", str(f.teacher["args"])]
    return args


def stage_configs(prof: Profile, out: Path, seed: int, model: str, mixture: Path,
                  sft_more_steps: int | None = None) -> dict[str, dict]:
    """The trainer configs of every training stage of one seed (what `run_seed` trains; `--dry-run` checks)."""
    sd = out / f"seed-{seed}"
    results = str(sd / "results")  # per seed: seeds may run in parallel processes
    ev = eval_settings(prof)
    cv = prof.families["crossview"]
    sft_base = {**prof.sft, "dataset": str(mixture), "eval_output": results, "seed": seed, **ev}
    grpo_base = {**prof.grpo, "model": str(sd / "sft"), "dataset": {"task": cv.task, "split": "train",
                                                                     "task_args": dict(cv.task_args)},
                 "max_steps": prof.grpo_steps, "save_steps": prof.grpo_steps // prof.saves,
                 "eval_output": results, "seed": seed, **ev}
    more = sft_more_steps or prof.sft_steps  # placeholder steps for --dry-run before the wall time is known
    sft_trl = dict(prof.sft.get("trl") or {})
    more_trl = {**sft_trl, "lr_scheduler_type": "constant", "warmup_steps": 0} if "lr_scheduler_type" in sft_trl \
        else sft_trl
    return {
        "sft": {**sft_base, "model": model, "output_dir": str(sd / "sft"), "run_name": f"sft-s{seed}",
                "max_steps": prof.sft_steps, "save_steps": prof.sft_steps // prof.saves},
        "grpo": {**grpo_base, "output_dir": str(sd / "grpo"), "run_name": f"grpo-s{seed}", "rewards": prof.rewards},
        "grpo_shuffled": {**grpo_base, "output_dir": str(sd / "grpo_shuffled"), "run_name": f"grpo_shuffled-s{seed}",
                          "rewards": prof.shuffled_rewards},
        "sft_more": {**sft_base, "trl": more_trl, "model": str(sd / "sft"), "output_dir": str(sd / "sft_more"),
                     "run_name": f"sft_more-s{seed}", "seed": seed + 1000,  # another data order than the SFT stage
                     "max_steps": more, "save_steps": max(1, more // prof.saves)},
    }



# ------------------------------------------------------------------------------------------ stage records


def stage_file(seed_dir: Path, name: str) -> Path:
    return seed_dir / f"stage_{name}.json"


def stage_done(seed_dir: Path, name: str) -> dict | None:
    p = stage_file(seed_dir, name)
    return json.loads(p.read_text()) if p.is_file() else None


def finish_stage(seed_dir: Path, name: str, info: dict) -> dict:
    atomic_write(stage_file(seed_dir, name), json.dumps(info, indent=2) + "\n")
    return info
