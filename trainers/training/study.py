"""`geobench study transfer`: does GRPO on cross-view pairing lift geolocation and scene reasoning?

Geo-R1's claim is that RL on the cheap, verifiable cross-view proxy *transfers* to tasks it never rewards.
This runner tests it with controls, per seed, into `<out>/seed-<s>/`:

    model (toy: a random-weight tiny Qwen2.5-VL per seed)       scaffold data for the 3 families (once, <out>/data/)
    -> SFT on the mixture (crossview + geolocation + scene)      checkpoints evaluated on all 3 eval tasks
    -> from the SFT end, three arms, each evaluated at every checkpoint on all 3 eval tasks:
         grpo           GRPO on cross-view only, the real reward (toy: preset `tiny`; full: `geo-r1-released`)
         grpo_shuffled  the same GRPO with the shuffled, uninformative reward (the preset with its accuracy term
                        replaced by `shuffled_pairing` / `shuffled_accuracy`, trainers/training/shuffled.py):
                        same kind of updates, no information about the true tile
         sft_more       continued SFT on the same mixture for the same *wall time* as the grpo arm's training
                        (measured: grpo training seconds / SFT seconds per step, rounded up to whole saves)
    -> <out>/summary.json (schema below) and <out>/study_transfer.png (one panel per task, one line per arm,
       95 % item-bootstrap bands from geobench.stats.bootstrap_stderr)

Resumable: a finished stage leaves `<out>/seed-<s>/stage_<name>.json` and is skipped; an unfinished training
stage continues from its last complete checkpoint (the trainers' resume); evaluations already on disk are
not redone. Rerunning the same command picks up where it stopped; `--seeds` adds seeds to a study.

Only public machinery: `geobench.evaluate` through the trainers' eval-on-save callback, the `geobench scaffold`
command (the scaffold plugin, reached through the core CLI, as `geobench demo` does), the `sft`/`grpo`
trainers from the registry, `geobench.stats`, `geobench.plots`.

summary.json (schema "geobench.study.transfer/1"):
    schema, study ("transfer"), profile, model, out, seeds (asked), seeds_done (all stages finished),
    settings            the profile's settings (steps, lrs, batch, eval sizes, rewards) as run
    tasks               {task: {family, metric, chance, eval_docs, task_args}}: the eval tasks and their
                        primary metric (crossview acc, geolocation geoscore, scene acc)
    arms                {arm: description}
    per_seed            {seed: {"sft_steps", "arm_steps": {arm: steps}, "seconds": {stage: s},
                                "points": [{"arm", "step", "x", "task", "metric", "value", "n"}]}}
                        step: the stage's own step; x: the plot's axis (SFT steps, then SFT + arm step; for
                        sft_more the grpo-equivalent step at equal wall time)
    curves              {task: {arm: [{"x", "value", "lo", "hi", "n_seeds", "n_items"}]}}: mean over seeds, 95 %
                        interval from an item bootstrap (items resampled, all seeds kept)
    before_after        {task: {arm: {"before", "after", "delta": {"value", "lo", "hi"}, "per_seed_delta": [..]}}}
                        before = the SFT end (shared by the arms), after = the arm's last checkpoint
    transfer            {task: {"grpo_minus_sft_more", "grpo_minus_grpo_shuffled": {"value", "lo", "hi"}}}:
                        paired by item and seed, at the arms' last checkpoints
    verdict             {task: "seen" | "not seen" | "not distinguishable"}: seen = grpo beats both controls
                        (interval above 0), not seen = a control beats grpo (interval below 0), else not
                        distinguishable
    cue_links           what the cross-view cue (climate) tells about each task's answers (`cue_links`)
    plot, seconds
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geobench import cli, plugin_manager, stats
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


# ------------------------------------------------------------------------------------------ the stages


def _kv(d: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (d or {}).items())


def _eval_settings(prof: Profile) -> dict[str, Any]:
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
        args += ["--task-args", _kv(targs)]
    if f.scaffold_limit:
        args += ["--limit", str(f.scaffold_limit)]
    if f.cues:
        args += ["--cues", f.cues]
    if f.teacher:
        args += ["--teacher-model", f.teacher["model"], "--teacher-backend", f.teacher["backend"]]
        if f.teacher.get("args"):
            args += ["--teacher-args", str(f.teacher["args"])]
    return args


def _scaffold_cli(args: list[str]) -> None:
    """Run `geobench scaffold` through the command the scaffold plugin adds to the core CLI."""
    reg = plugin_manager.registry()
    if "scaffold" not in cli.cli.commands:
        reg.call_hook("geobench_register_commands", cli=cli.cli)
    if "scaffold" not in cli.cli.commands:
        raise GeobenchError("study: needs the `scaffold` plugin (geobench scaffold), which is not loaded")
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        cli.cli.main(args=args, prog_name="geobench", standalone_mode=False)


def build_data(prof: Profile, data: Path, say=print) -> Path:
    """Scaffold each family into data/<family>/ (once) and write the shuffled mixture data/mixture/train.jsonl
    (image paths point into the family folders); the mixture folder."""
    mix = data / "mixture"
    if (mix / "train.jsonl").is_file():
        return mix
    rows: list[str] = []
    for family in FAMILIES:
        folder = data / family
        if not (folder / "scaffold_report.json").is_file():
            t0 = time.perf_counter()
            if folder.exists():  # a killed scaffold: start it again
                import shutil

                shutil.rmtree(folder)
            _scaffold_cli(scaffold_args(prof, family, folder))
            say(f"[study] scaffold {family}: {time.perf_counter() - t0:.1f} s")
        for line in (folder / "train.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                row["images"] = [f"../{family}/{p}" for p in row["images"]]
                rows.append(json.dumps(row))
    random.Random(0).shuffle(rows)
    mix.mkdir(parents=True, exist_ok=True)
    atomic_write(mix / "train.jsonl", "\n".join(rows) + "\n")
    return mix


def _stage_file(seed_dir: Path, name: str) -> Path:
    return seed_dir / f"stage_{name}.json"


def _done(seed_dir: Path, name: str) -> dict | None:
    p = _stage_file(seed_dir, name)
    return json.loads(p.read_text()) if p.is_file() else None


def _finish(seed_dir: Path, name: str, info: dict) -> dict:
    atomic_write(_stage_file(seed_dir, name), json.dumps(info, indent=2) + "\n")
    return info


def _train_seconds(summary: dict) -> float:
    """A trainer summary's seconds spent training: the whole call less its inline evaluations."""
    return max(0.0, float(summary["seconds"]) - sum(float(e.get("seconds") or 0) for e in summary.get("evaluated", [])))


def stage_configs(prof: Profile, out: Path, seed: int, model: str, mixture: Path,
                  sft_more_steps: int | None = None) -> dict[str, dict]:
    """The trainer configs of every training stage of one seed (what `run_seed` trains; `--dry-run` checks)."""
    sd = out / f"seed-{seed}"
    results = str(sd / "results")  # per seed: seeds may run in parallel processes
    ev = _eval_settings(prof)
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


def run_seed(prof: Profile, out: Path, seed: int, mixture: Path, say=print) -> dict:
    """Every stage of one seed (finished stages skipped, unfinished ones resumed); the seed's stage records."""
    reg = plugin_manager.registry()
    sd = out / f"seed-{seed}"
    sd.mkdir(parents=True, exist_ok=True)
    model = prof.model
    if prof.model == "tiny":
        model = str(sd / "model")
        if not (Path(model) / "config.json").is_file():
            from geobench.tinymodel import build_tiny_model

            build_tiny_model(model, seed=seed, width=prof.width)
    cfgs = stage_configs(prof, out, seed, model, mixture)
    for name, kind in (("sft", "sft"), ("grpo", "grpo"), ("grpo_shuffled", "grpo"), ("sft_more", "sft")):
        if _done(sd, name):
            continue
        if name == "sft_more":
            cfgs = stage_configs(prof, out, seed, model, mixture, sft_more_steps=_sft_more_steps(prof, sd))
        t0 = time.perf_counter()
        say(f"[study] seed {seed}: {name} ({cfgs[name]['max_steps']} steps)")
        resume = Path(cfgs[name]["output_dir"]).is_dir()  # an interrupted stage continues from its checkpoint
        summary = reg.trainer(kind).train(cfgs[name], resume=resume)
        _finish(sd, name, {"stage": name, "steps": summary["global_step"], "seconds": round(time.perf_counter() - t0, 1),
                           "train_seconds": round(_train_seconds(summary), 1), "config": cfgs[name],
                           "eval_seconds": round(sum(float(e.get("seconds") or 0) for e in summary["evaluated"]), 1)})
        say(f"[study] seed {seed}: {name} done in {time.perf_counter() - t0:.0f} s")
    return {n: _done(sd, n) for n in ("sft", *ARMS)}


def _sft_more_steps(prof: Profile, sd: Path) -> int:
    """Continued-SFT steps at equal wall time: the grpo arm's training seconds / the SFT stage's seconds per step,
    rounded up to a multiple of `saves` (fixed by `prof.sft_more_steps` if set)."""
    if prof.sft_more_steps:
        n = prof.sft_more_steps
    else:
        sft, grpo = _done(sd, "sft"), _done(sd, "grpo")
        per_step = sft["train_seconds"] / max(1, sft["steps"])
        n = max(1, round(grpo["train_seconds"] / max(per_step, 1e-6)))
    return int(math.ceil(n / prof.saves) * prof.saves)


# ------------------------------------------------------------------------------------------ the numbers


def _samples(results: Path, run: str, task: str) -> dict[str, dict] | None:
    p = results / run / f"samples_{task}.jsonl"
    if not p.is_file():
        return None
    out = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[str(row["doc_id"])] = row.get("metrics") or {}
    return out


def seed_points(prof: Profile, out: Path, seed: int) -> tuple[list[dict], dict[tuple, dict[str, float]]]:
    """Per checkpoint and eval task of one seed: the point records and the per-item primary metric values
    {(arm, x, task): {doc_id: value}}. Reads the run folders the eval-on-save callback wrote."""
    sd = out / f"seed-{seed}"
    results = sd / "results"
    stages = {n: _done(sd, n) for n in ("sft", *ARMS)}
    if not stages["sft"]:
        return [], {}
    sft_steps = stages["sft"]["steps"]
    points, items = [], {}
    for arm in ("sft", *ARMS):
        info = stages[arm]
        if not info:
            continue
        steps = info["steps"]
        save = info["config"]["save_steps"]
        for step in range(save, steps + 1, save):
            if arm == "sft":
                x = step
            elif arm == "sft_more":
                x = sft_steps + round(step / steps * prof.grpo_steps)
            else:
                x = sft_steps + step
            for fam in prof.families.values():
                s = _samples(results, f"{info['config']['run_name']}-step{step}", fam.task)
                if s is None:
                    continue
                vals = {d: float(m.get(fam.metric, 0.0) or 0.0) for d, m in s.items()}
                items[(arm, x, fam.task)] = vals
                points.append({"arm": arm, "step": step, "x": x, "task": fam.task, "metric": fam.metric,
                               "value": sum(vals.values()) / max(1, len(vals)), "n": len(vals)})
    return points, items


def _boot(matrix: list[list[float]]) -> dict[str, float]:
    """Mean of a seeds x items matrix and its 95 % interval from an item bootstrap (geobench.stats)."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    value = float(m.mean())
    if m.shape[1] < 2:
        return {"value": value, "lo": math.nan, "hi": math.nan}
    se = stats.bootstrap_stderr(list(range(m.shape[1])), lambda idx: float(m[:, np.asarray(idx, int)].mean()),
                                iters=1000)
    return {"value": value, "lo": value - stats.Z95 * se, "hi": value + stats.Z95 * se}


def _aligned(per_seed: list[dict[str, float]]) -> list[list[float]]:
    """Per-seed {doc: value} maps -> a seeds x items matrix over the docs every seed has."""
    docs = sorted(set.intersection(*(set(d) for d in per_seed))) if per_seed else []
    return [[d[k] for k in docs] for d in per_seed]


def summarize(prof: Profile, out: Path, seeds: list[int], started: float | None = None,
              cue: dict | None = None) -> dict:
    """Collect every seed's evaluations into the summary (schema in the module docstring) and draw the plot."""
    per_seed, items = {}, {}
    for s in seeds:
        pts, its = seed_points(prof, out, s)
        sd = out / f"seed-{s}"
        stages = {n: _done(sd, n) for n in ("sft", *ARMS)}
        per_seed[str(s)] = {"sft_steps": (stages["sft"] or {}).get("steps"),
                            "arm_steps": {a: (stages[a] or {}).get("steps") for a in ARMS},
                            "seconds": {n: (v or {}).get("seconds") for n, v in stages.items()},
                            "train_seconds": {n: (v or {}).get("train_seconds") for n, v in stages.items()},
                            "points": pts}
        items[s] = its
    done = [s for s in seeds if all(_done(out / f"seed-{s}", n) for n in ("sft", *ARMS))]
    tasks = {f.task: {"family": fam, "metric": f.metric, "chance": f.chance, "task_args": f.task_args,
                      "eval_docs": prof.eval_limit} for fam, f in prof.families.items()}
    curves: dict[str, dict[str, list]] = {t: {} for t in tasks}
    for t in tasks:
        for arm in ("sft", *ARMS):
            xs = sorted({x for s in seeds for (a, x, tt) in items[s] if a == arm and tt == t})
            for x in xs:
                have = [items[s][(arm, x, t)] for s in seeds if (arm, x, t) in items[s]]
                m = _aligned(have)
                if not m or not m[0]:
                    continue
                curves[t].setdefault(arm, []).append({"x": x, **_boot(m), "n_seeds": len(m), "n_items": len(m[0])})
    before_after: dict[str, dict] = {t: {} for t in tasks}
    transfer: dict[str, dict] = {t: {} for t in tasks}
    verdict: dict[str, str] = {}
    for t in tasks:
        last: dict[str, dict[int, dict]] = {}
        for s in done:
            sft_x = max(x for (a, x, tt) in items[s] if a == "sft" and tt == t)
            last.setdefault("before", {})[s] = items[s][("sft", sft_x, t)]
            for arm in ARMS:
                ax = max(x for (a, x, tt) in items[s] if a == arm and tt == t)
                last.setdefault(arm, {})[s] = items[s][(arm, ax, t)]
        if not done:
            continue
        before = _aligned([last["before"][s] for s in done])
        for arm in ARMS:
            after = _aligned([last[arm][s] for s in done])
            delta = [[a - b for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(after, before, strict=True)]
            before_after[t][arm] = {"before": _boot(before), "after": _boot(after), "delta": _boot(delta),
                                    "per_seed_delta": [sum(r) / len(r) for r in delta]}
        g = _aligned([last["grpo"][s] for s in done])
        for ctl in ("sft_more", "grpo_shuffled"):
            c = _aligned([last[ctl][s] for s in done])
            diff = [[a - b for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(g, c, strict=True)]
            transfer[t][f"grpo_minus_{ctl}"] = {**_boot(diff), "per_seed": [sum(r) / len(r) for r in diff]}
        lo = [transfer[t][f"grpo_minus_{c}"]["lo"] for c in ("sft_more", "grpo_shuffled")]
        hi = [transfer[t][f"grpo_minus_{c}"]["hi"] for c in ("sft_more", "grpo_shuffled")]
        verdict[t] = "seen" if all(v > 0 for v in lo) else "not seen" if any(v < 0 for v in hi) \
            else "not distinguishable"
    summary = {"schema": SCHEMA, "study": "transfer", "profile": prof.name, "model": prof.model, "out": str(out),
               "seeds": seeds, "seeds_done": done, "settings": _settings(prof), "tasks": tasks,
               "arms": dict(ARM_TEXT), "per_seed": per_seed, "curves": curves, "before_after": before_after,
               "transfer": transfer, "verdict": verdict, "cue_links": cue or {}}
    summary["plot"] = _plot(prof, out, curves, tasks)
    if started is not None:
        summary["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _settings(prof: Profile) -> dict:
    return asdict(prof)


def _plot(prof: Profile, out: Path, curves: dict, tasks: dict) -> str | None:
    """One panel per eval task, one line per arm (the SFT stage drawn as "sft"), 95 % bands."""
    try:
        from geobench import plots

        data = {f"{t} ({tasks[t]['metric']})": {arm: [{"step": p["x"], "value": p["value"], "lo": p["lo"],
                                                        "hi": p["hi"]} for p in pts]
                                                 for arm, pts in arms.items()}
                for t, arms in curves.items() if arms}
        if not data:
            return None
        # every arm line starts at the SFT end, so the arms fan out from one shared point
        for arms in data.values():
            if "sft" in arms and arms["sft"]:
                start = max(arms["sft"], key=lambda p: p["step"])
                for arm in ARMS:
                    if arm in arms:
                        arms[arm] = [start, *arms[arm]]
        chance = {f"{t} ({v['metric']})": v["chance"] for t, v in tasks.items() if v.get("chance")}
        png = plots.checkpoint_curves(data, out / "study_transfer.png",
                                      f"geobench study transfer ({prof.name}): score by step, mean of seeds, "
                                      "95% item-bootstrap band; sft_more at the grpo-equivalent step",
                                      chance=chance)
        return str(png)
    except Exception as e:  # noqa: BLE001 - plotting must not lose a finished study
        import warnings

        warnings.warn(f"study: plot not written: {type(e).__name__}: {e}", stacklevel=2)
        return None


# ------------------------------------------------------------------------------------------ cue links


def cue_links(prof: Profile, cue: str = "climate", limit: int | None = None) -> dict:
    """What the cross-view cue (the toy's `climate`: land cover in the tile, sky and ground colour in the
    street view) tells about the other tasks' answers, from their *train* docs' metadata (no model):
    - geolocation: the geoscore of always answering the train mean point of the image's climate, against
      the single best guess without the cue (the overall mean point);
    - scene, per question: accuracy of the majority answer given the cue, against the majority answer overall.
    Only for tasks whose docs carry the cue (the toy tasks)."""
    from geobench.geo import haversine_km
    from geobench.selection import task_from_spec

    reg = plugin_manager.registry()
    out: dict[str, Any] = {"cue": cue}
    geo_f, scene_f = prof.families["geolocation"], prof.families["scene"]
    try:
        geo = task_from_spec(reg, geo_f.task, None)
        docs = [d for d in geo.docs("train", limit) if d.fields.get(cue)]
    except Exception:  # noqa: BLE001 - real data may be absent; the link check is for the toy world
        docs = []
    if docs:
        import numpy as np

        def mean_point(ds):
            v = np.array([[math.cos(math.radians(float(d.fields["lat"]))) * math.cos(math.radians(float(d.fields["lon"]))),
                           math.cos(math.radians(float(d.fields["lat"]))) * math.sin(math.radians(float(d.fields["lon"]))),
                           math.sin(math.radians(float(d.fields["lat"])))] for d in ds]).mean(0)
            return math.degrees(math.atan2(v[2], math.hypot(v[0], v[1]))), math.degrees(math.atan2(v[1], v[0]))

        def score(ds, point_of):
            g = [math.exp(-float(haversine_km(float(d.fields["lat"]), float(d.fields["lon"]), *point_of(d))) / 1492.7)
                 for d in ds]
            lat_err = [abs(float(d.fields["lat"]) - point_of(d)[0]) for d in ds]
            return sum(g) / len(g), sum(lat_err) / len(lat_err)

        overall = mean_point(docs)
        by = {c: mean_point([d for d in docs if d.fields[cue] == c]) for c in sorted({d.fields[cue] for d in docs})}
        g0, l0 = score(docs, lambda d: overall)
        g1, l1 = score(docs, lambda d: by[d.fields[cue]])
        out["geolocation"] = {"task": geo_f.task, "n": len(docs), "geoscore_without_cue": round(g0, 4),
                              "geoscore_with_cue": round(g1, 4), "lat_error_deg_without_cue": round(l0, 1),
                              "lat_error_deg_with_cue": round(l1, 1)}
    try:
        scene = task_from_spec(reg, scene_f.task, scene_f.scaffold_args if scene_f.scaffold_args is not None
                               else scene_f.task_args)
        sdocs = list(scene.docs("train", limit))
    except Exception:  # noqa: BLE001
        sdocs = []
    if sdocs:
        from collections import Counter, defaultdict

        climate_of = {d.fields["image_id"]: str(d.fields["answer"]).lower() for d in sdocs
                      if d.fields.get("question_key") == cue}
        per_q: dict[str, list] = defaultdict(list)
        for d in sdocs:
            c = climate_of.get(d.fields.get("image_id"))
            if c is not None and d.fields.get("question_key") != cue:
                per_q[d.fields["question_key"]].append((c, str(d.fields["answer"]).lower()))
        rows = {}
        for q, pairs in sorted(per_q.items()):
            n = len(pairs)
            base = Counter(a for _, a in pairs).most_common(1)[0][1] / n
            by_c: dict[str, Counter] = defaultdict(Counter)
            for c, a in pairs:
                by_c[c][a] += 1
            with_cue = sum(cnt.most_common(1)[0][1] for cnt in by_c.values()) / n
            rows[q] = {"n": n, "majority": round(base, 3), "majority_given_cue": round(with_cue, 3),
                       "gain": round(with_cue - base, 3)}
        out["scene"] = {"task": scene_f.task, "questions": rows, "direct": cue}
    return out


# ------------------------------------------------------------------------------------------ dry run


def dry_run(prof: Profile, out: Path, seeds: list[int]) -> list[tuple[str, str, str]]:
    """Check every stage without training or loading a model: (stage, "ok" | "problem" | "note", what).
    Configs are validated by the trainers' own checks (keys, types, values, TRL fields, optional packages),
    tasks and reward presets are resolved, the model is resolved, data presence is reported."""
    import tempfile

    from geobench import modelspec
    from geobench.selection import task_from_spec
    from geobench.trainers.training.config import check_trl_keys, from_dict, reward_spec

    reg = plugin_manager.registry()
    rows: list[tuple[str, str, str]] = []

    def check(stage: str, fn) -> None:
        try:
            what = fn() or ""
            rows.append((stage, "note" if "; data: " in what else "ok", what))
        except GeobenchError as e:
            rows.append((stage, "problem", str(e).splitlines()[0]))
        except Exception as e:  # noqa: BLE001 - a dry run reports, it does not stop at the first problem
            rows.append((stage, "problem", f"{type(e).__name__}: {e}"))

    def model_ok():
        if prof.model == "tiny":
            return f"tiny architecture at width {prof.width}, random weights, built per seed"
        spec = modelspec.resolve(reg, prof.model, "hf")
        return f"{prof.model}: {spec.kind}" + (f", preset {spec.preset_name}" if spec.preset_name else "") + \
            (" (downloaded on first use; nothing is fetched here)" if spec.kind == "hub" else "")

    check("model", model_ok)
    for fam, f in prof.families.items():
        def task_ok(f=f):
            t = task_from_spec(reg, f.task, f.task_args or None)
            missing = t.data_status() if hasattr(t, "data_status") else None
            return f"{t.name} {f.metric}" + (f"; data: {missing}" if missing else "; data available")

        def scaffold_ok(f=f, fam=fam):
            t = task_from_spec(reg, f.scaffold_task or f.task,
                               (f.task_args if f.scaffold_args is None else f.scaffold_args) or None)
            if f.scaffold_split not in t.splits:
                raise GeobenchError(f"{t.name} has no split {f.scaffold_split!r} (splits: {', '.join(t.splits)})")
            if f.teacher:
                reg.backend(f.teacher["backend"])
                src = f"teacher {f.teacher['model']} ({f.teacher['backend']})"
            else:
                src = "templates"
            return f"geobench {' '.join(scaffold_args(prof, fam, out / 'data' / fam))}  [{src}]"

        check(f"eval task {fam}", task_ok)
        check(f"scaffold {fam}", scaffold_ok)
    with tempfile.TemporaryDirectory() as tmp:
        mixture = Path(tmp) / "mixture"
        mixture.mkdir()
        (mixture / "train.jsonl").write_text("{}\n")  # the config check wants the file; the data is checked above
        model = prof.model if prof.model != "tiny" else "tiny"
        seed = seeds[0] if seeds else 0
        cfgs = stage_configs(prof, out, seed, model, mixture)
        for name, kind in (("sft", "sft"), ("grpo", "grpo"), ("grpo_shuffled", "grpo"), ("sft_more", "sft")):
            def cfg_ok(name=name, kind=kind):
                raw = dict(cfgs[name])
                if kind == "grpo":
                    raw["model"] = model  # the SFT output does not exist yet
                cfg = from_dict(raw, kind, f"study {name}")
                check_trl_keys(cfg)
                what = f"{kind}: {cfg.max_steps} steps, lr {cfg.lr}, batch {cfg.per_device_batch_size}"
                if kind == "grpo":
                    preset, pairs = reward_spec(cfg.rewards)
                    if preset is not None:
                        pairs = reg.reward_preset(preset)
                    for rname, _w in pairs:
                        reg.reward(rname)
                    what += f", rewards {preset or 'list'} = " + " + ".join(f"{w:g} {n}" for n, w in pairs)
                if name == "sft_more" and not prof.sft_more_steps:
                    what += " (steps set at run time: equal wall time to the grpo arm)"
                return what

            check(f"train {name}", cfg_ok)
    import importlib.util

    if prof.name == "full":
        have = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
        rows.append(("gpu", "note" if not have else "ok",
                     "no CUDA device here: the full profile needs GPUs to run (the dry run needs none)"
                     if not have else "CUDA available"))
    return rows


def run_study(profile: Profile, out: str | os.PathLike, seeds: list[int], say=print) -> dict:
    """The whole study: data once, then every seed in turn (resumable), then the summary."""
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "study.json").is_file():
        if asdict(load_profile(out)) != json.loads(json.dumps(asdict(profile))):
            raise GeobenchError(f"study: {out} holds a study run with other settings",
                                hint="rerun it with the same options (see its study.json), or pass another --out")
    else:
        atomic_write(out / "study.json", json.dumps({"schema": SCHEMA, "profile": asdict(profile)}, indent=2) + "\n")
    mixture = build_data(profile, out / "data", say)
    cue = cue_links(profile) if profile.name == "toy" else {}
    for s in seeds:
        run_seed(profile, out, s, mixture, say)
        summarize(profile, out, seeds, started, cue)  # a partial summary after every seed
    return summarize(profile, out, seeds, started, cue)


def load_profile(out: str | os.PathLike) -> Profile:
    """The Profile a study folder was run with (its study.json)."""
    p = Path(out) / "study.json"
    if not p.is_file():
        raise GeobenchError(f"study: {p} not found (not a study folder)")
    d = json.loads(p.read_text())["profile"]
    fams = {k: Family(**v) for k, v in d["families"].items()}
    return Profile(**{**d, "families": fams})
