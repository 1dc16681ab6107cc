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

The parts: `study_profiles` (settings, stage configs, stage records), this module (the runner),
`study_summary` (the numbers, summary.json, the plot), `study_checks` (cue links, cue truth, dry run),
`study_command` (the CLI), `shuffled` (the control's reward). Only public machinery: `geobench.evaluate`
through the trainers' eval-on-save callback, the `geobench scaffold` command (the scaffold plugin, reached
through the core CLI, as `geobench demo` does), the `sft`/`grpo` trainers from the registry, `geobench.stats`.

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
    cue_read            {task: {"before_after", "transfer"}} as above, for the *cue read*: whether the think
                        opens with the ground view's true cue value (toy tasks; `study_summary.cue_read`), i.e.
                        whether the perception the cross-view reward sharpens moved in each task's own reasoning
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
from dataclasses import asdict
from pathlib import Path

from geobench import cli, plugin_manager
from geobench.atomic import atomic_write
from geobench.errors import GeobenchError
from geobench.trainers.training.study_checks import cue_links, cue_truth, dry_run  # noqa: F401 - public here too
from geobench.trainers.training.study_profiles import (  # noqa: F401 - public here too
    ARM_TEXT,
    ARMS,
    FAMILIES,
    PROFILES,
    SCHEMA,
    Family,
    Profile,
    finish_stage,
    load_profile,
    make_profile,
    scaffold_args,
    stage_configs,
    stage_done,
)
from geobench.trainers.training.study_summary import summarize  # noqa: F401 - public here too

# ------------------------------------------------------------------------------------------ the stages


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


def _train_seconds(summary: dict) -> float:
    """A trainer summary's seconds spent training: the whole call less its inline evaluations."""
    return max(0.0, float(summary["seconds"]) - sum(float(e.get("seconds") or 0) for e in summary.get("evaluated", [])))


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
        if stage_done(sd, name):
            continue
        if name == "sft_more":
            cfgs = stage_configs(prof, out, seed, model, mixture, sft_more_steps=_sft_more_steps(prof, sd))
        t0 = time.perf_counter()
        say(f"[study] seed {seed}: {name} ({cfgs[name]['max_steps']} steps)")
        resume = Path(cfgs[name]["output_dir"]).is_dir()  # an interrupted stage continues from its checkpoint
        summary = reg.trainer(kind).train(cfgs[name], resume=resume)
        evals = sum(float(e.get("seconds") or 0) for e in summary["evaluated"])
        finish_stage(sd, name, {"stage": name, "steps": summary["global_step"],
                                "seconds": round(time.perf_counter() - t0, 1),
                                "train_seconds": round(_train_seconds(summary), 1), "eval_seconds": round(evals, 1),
                                "config": cfgs[name]})
        say(f"[study] seed {seed}: {name} done in {time.perf_counter() - t0:.0f} s")
    return {n: stage_done(sd, n) for n in ("sft", *ARMS)}


def _sft_more_steps(prof: Profile, sd: Path) -> int:
    """Continued-SFT steps at equal wall time: the grpo arm's training seconds / the SFT stage's seconds per step,
    rounded up to a multiple of `saves` (fixed by `prof.sft_more_steps` if set)."""
    if prof.sft_more_steps:
        n = prof.sft_more_steps
    else:
        sft, grpo = stage_done(sd, "sft"), stage_done(sd, "grpo")
        per_step = sft["train_seconds"] / max(1, sft["steps"])
        n = max(1, round(grpo["train_seconds"] / max(per_step, 1e-6)))
    return int(math.ceil(n / prof.saves) * prof.saves)


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
    links = cue_links(profile, profile.cue) if profile.name == "toy" else {}
    truth = cue_truth(profile, profile.cue) if profile.name == "toy" else {}
    for s in seeds:
        run_seed(profile, out, s, mixture, say)
        summarize(profile, out, seeds, started, links, truth)  # a partial summary after every seed
    return summarize(profile, out, seeds, started, links, truth)
