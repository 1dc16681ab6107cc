"""`geobench demo`: the whole Geo-R1 method in miniature, on a CPU, in minutes.

    build the toy world and a small random-weight Qwen2.5-VL  ->  evaluate the base model
    -> scaffold (fact-checked template chain-of-thought)  ->  SFT  ->  GRPO (shaped pairing reward)
    -> every checkpoint evaluated into <out>/results/table.csv  ->  the base and final model on geoloc_toy
    (for the report's map)  ->  table printed, plots + report written

Everything it runs is the public machinery (`geobench.evaluate`, the `geobench scaffold` command, the `sft` and
`grpo` trainers from the registry, the on-save evaluation callback); the demo only picks settings. It lives in
the trainers' unit because the trainers' entry point registers `geobench demo`; it reaches the scaffold plugin
(another unit) only through the command that plugin adds to the core CLI. Why these settings (measured on 2 CPU cores,
/work/shared/notes/learnability*.md and the README's Training section):
- Task: toy cross-view pairing, k = 4 (chance 25 %), difficulty "easy" with differ_in "climate": the three
  negatives come from anywhere in the toy world and the four tiles have four different climates (land cover),
  so one cue seen in both views identifies the truth. With the default "hard" negatives (same neighbourhood,
  often differing only in a road), or with "easy" alone (the truth often shares its climate with a negative:
  two cues needed at once), a model this small stays near chance for minutes (learnability.md: matching on a
  conjunction of attributes was never learned on a CPU budget).
- Model: the tiny model's architecture at width 128 (about 0.75 M parameters); learnability.md measured the
  64-wide default (0.2 M) learning its toy task markedly slower (40 % vs 51 % after the same 5.5 minutes).
- Scaffold: the "tiles" template restricted to that cue: "<think>tropical; A: dry, no; B: tropical, yes; ...
  </think><answer>B</answer>". Naming each tile's cue and whether it matches makes every step local (see the
  cue, compare two words, copy the letter marked yes); with the "short" think (the ground view's attributes
  only) the same model sat at chance for 300+ steps (measured: 25 % at steps 100-300).
- SFT: lr 1e-3 constant after 30 warm-up steps, batch 16, stopped early on purpose (300 steps, ~60 %): GRPO
  can only amplify a rule SFT has started to learn, not start one (learnability2.md), so the demo hands over
  to RL mid-way, as Geo-R1 does (SFT scaffolding, RL elevating). Honest caveat, measured: 100 more SFT
  steps would reach ~93 %, more than GRPO reaches in the same time; on a CPU budget RL is the slower teacher.
- GRPO: the `tiny` reward preset (shaped pairing: 1 for the true tile, partial credit for a tile that shares
  attributes with it, + 0.1 format), 16 prompts x 8 rollouts per step, lr 2e-4, beta 0.04, temperature 1.
Numbers are whatever the run gives: the table says which targets (SFT > base, GRPO > SFT, >= 2x chance)
were met.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import geobench
from geobench import cli, plugin_manager, toydata
from geobench.atomic import atomic_write
from geobench.errors import GeobenchError
from geobench.tinymodel import build_tiny_model

TASK = "crossview_toy"
MAP_TASK = "geoloc_toy"  # base and final model only, for the report's map (not trained on, not a target)
TASK_ARGS = {"difficulty": "easy", "differ_in": "climate", "k": 4}
CUES = ["climate"]  # what the scaffolded think names: "<ground climate>; A: <tile climate>, no; B: ..., yes; ..."
DEMO_WIDTH = 128
MAX_TOKENS = 80  # the think above is ~60 tokens of the tiny model's tokenizer
REPORT_FILE = "scaffold_report.json"  # what `geobench scaffold` writes next to train.jsonl


def _eval_settings(limit: int) -> dict[str, Any]:
    return {"eval_tasks": [TASK], "eval_task_args": {TASK: TASK_ARGS}, "eval_limit": limit,
            "eval_gen_kwargs": {"max_new_tokens": MAX_TOKENS}, "eval_batch_size": 16}


def _acc(per_task: dict) -> tuple[float, float]:
    """(accuracy, its standard error) from a results dict's "results" part."""
    r = per_task[TASK]
    return float(r["acc,none"]), float(r.get("acc_stderr,none") or 0.0)


def run_demo(out: str | os.PathLike = "demo", *, sft_steps: int = 300, grpo_steps: int = 20,
             eval_limit: int = 200, sft_eval_every: int = 100, grpo_prompts: int = 16, seed: int = 0,
             quiet: bool = False) -> dict[str, Any]:
    """Run the demo into `out` (must not hold an earlier demo) and return its summary (also <out>/summary.json).
    `quiet`: nothing on stdout/stderr (TRL's progress bars and log lines included); errors still raise."""
    if quiet:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            return _run_demo(out, sft_steps, grpo_steps, eval_limit, sft_eval_every, grpo_prompts, seed, quiet)
    return _run_demo(out, sft_steps, grpo_steps, eval_limit, sft_eval_every, grpo_prompts, seed, quiet)


def _run_demo(out, sft_steps, grpo_steps, eval_limit, sft_eval_every, grpo_prompts, seed, quiet) -> dict[str, Any]:
    reg = plugin_manager.registry()
    out = Path(out)
    if any((out / p).exists() for p in ("summary.json", "sft", "scaffold", "results/demo-base")):
        raise GeobenchError(f"{out} already holds a demo run", hint="pass another --out or delete the folder")
    for name, v in (("sft_steps", sft_steps), ("grpo_steps", grpo_steps), ("eval_limit", eval_limit),
                    ("sft_eval_every", sft_eval_every), ("grpo_prompts", grpo_prompts)):
        if v <= 0:
            raise GeobenchError(f"demo: {name} must be > 0, got {v}")
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results"
    say = (lambda *a: None) if quiet else (lambda msg: print(msg, flush=True))
    stages: list[dict[str, Any]] = []
    started = time.perf_counter()

    def stage(name: str, t0: float, **extra) -> None:
        stages.append({"stage": name, "seconds": round(time.perf_counter() - t0, 1), **extra})
        say(f"[demo] {name}: {stages[-1]['seconds']} s" + "".join(f", {k}={v}" for k, v in extra.items()))

    t0 = time.perf_counter()
    model = out / "model"
    if not (model / "config.json").is_file():
        build_tiny_model(str(model), seed=seed, width=DEMO_WIDTH)
    toydata.ensure("crossview")  # the toy world, built once under $GEOBENCH_HOME
    stage("build model + toy world", t0)

    t0 = time.perf_counter()
    base = geobench.evaluate(str(model), [TASK, MAP_TASK], task_args={TASK: TASK_ARGS}, limit=eval_limit, batch_size=16,
                             gen_kwargs={"max_new_tokens": MAX_TOKENS}, output=str(results), run_name="demo-base",
                             model_name="demo", checkpoint_step=0, progress=not quiet)
    acc, err = _acc(base["results"])
    stage("evaluate base", t0, acc=acc)
    points = [{"stage": "base", "step": 0, "acc": acc, "stderr": err}]

    t0 = time.perf_counter()
    report = _scaffold(reg, out / "scaffold", seed)
    stage("scaffold", t0, kept=report["kept"])

    t0 = time.perf_counter()
    sft = reg.trainer("sft").train({"model": str(model), "output_dir": str(out / "sft"), "run_name": "demo-sft",
                     "dataset": str(out / "scaffold"), "lr": 1e-3, "max_steps": sft_steps,
                     "per_device_batch_size": 16, "save_steps": min(sft_eval_every, sft_steps),
                     "logging_steps": 10, "eval_output": str(results), "seed": seed,
                     "trl": {"lr_scheduler_type": "constant_with_warmup", "warmup_steps": 30, "weight_decay": 0.0,
                             "save_only_model": True},
                     **_eval_settings(eval_limit)})
    for ev in sft["evaluated"]:
        a, e = _acc(ev["results"])
        points.append({"stage": "sft", "step": ev["step"], "acc": a, "stderr": e})
    stage("SFT", t0, steps=sft["global_step"], acc=points[-1]["acc"])

    t0 = time.perf_counter()
    grpo = reg.trainer("grpo").train({"model": str(out / "sft"), "output_dir": str(out / "grpo"), "run_name": "demo-grpo",
                       "dataset": {"task": TASK, "split": "train", "task_args": TASK_ARGS}, "rewards": "tiny",
                       "num_generations": 8, "per_device_batch_size": 8 * grpo_prompts, "beta": 0.04, "temperature": 1.0,
                       "max_completion_length": MAX_TOKENS, "lr": 2e-4, "max_steps": grpo_steps,
                       "save_steps": max(1, grpo_steps // 2), "logging_steps": 1, "eval_output": str(results),
                       "seed": seed, "trl": {"save_only_model": True, "loss_type": "dapo"},
                       **_eval_settings(eval_limit)})
    for ev in grpo["evaluated"]:
        a, e = _acc(ev["results"])
        points.append({"stage": "grpo", "step": sft["global_step"] + ev["step"], "acc": a, "stderr": e})
    stage("GRPO", t0, steps=grpo["global_step"], acc=points[-1]["acc"])

    t0 = time.perf_counter()  # the final model on the geolocation task too: the report's map and base-vs-final view
    step = grpo["global_step"]
    geobench.evaluate(str(out / "grpo"), MAP_TASK, limit=eval_limit, batch_size=16,
                      gen_kwargs={"max_new_tokens": MAX_TOKENS}, output=str(results),
                      run_name=f"demo-grpo-step{step}-final", model_name="demo-grpo", checkpoint_step=step,
                      progress=not quiet)
    stage(f"evaluate final on {MAP_TASK}", t0)

    t0 = time.perf_counter()
    figures = _plots(out, points, 1 / TASK_ARGS["k"], sft["global_step"])
    stage("plots + report", t0)

    best = {s: [p for p in points if p["stage"] == s][-1]["acc"] for s in ("base", "sft", "grpo")}
    chance = 1 / TASK_ARGS["k"]
    targets = {"sft_above_base": best["sft"] > best["base"], "grpo_above_sft": best["grpo"] > best["sft"],
               "final_at_least_2x_chance": best["grpo"] >= 2 * chance}
    summary = {"out": str(out), "task": TASK, "task_args": TASK_ARGS, "eval_docs": eval_limit, "chance": chance,
               "points": points, "final": best, "targets": targets, "stages": stages,
               "seconds": round(time.perf_counter() - started, 1), "sft_steps": sft_steps, "grpo_steps": grpo_steps,
               "seed": seed, "results": str(results / "table.csv"), **figures}
    atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _scaffold(reg: plugin_manager.Registry, folder: Path, seed: int) -> dict[str, Any]:
    """`geobench scaffold` on the demo's task (tiles template, the one cue), through the command the scaffold
    plugin adds to the core CLI (its table is not printed); the scaffold report."""
    if "scaffold" not in cli.cli.commands:  # called from Python: the plugins' commands are not added yet
        reg.call_hook("geobench_register_commands", cli=cli.cli)
    if "scaffold" not in cli.cli.commands:
        raise GeobenchError("the demo needs the `scaffold` plugin (geobench scaffold), which is not loaded")
    task_args = ",".join(f"{k}={v}" for k, v in TASK_ARGS.items())
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        cli.cli.main(args=["scaffold", "--task", TASK, "--out", str(folder), "--style", "tiles",
                           "--cues", ",".join(CUES), "--task-args", task_args, "--seed", str(seed)],
                     prog_name="geobench", standalone_mode=False)
    return json.loads((folder / REPORT_FILE).read_text())


def format_summary(summary: dict[str, Any]) -> str:
    """The demo's result as a plain-text table plus the targets, met or not."""
    chance = summary["chance"]
    lines = [f"geobench demo: {summary['task']} {summary['task_args']} on {summary['eval_docs']} test docs "
             f"(chance {chance:.0%}), {summary['seconds']:.0f} s in all",
             f"{'stage':6s} {'step':>5s} {'accuracy':>9s} {'± stderr':>9s}"]
    for p in summary["points"]:
        lines.append(f"{p['stage']:6s} {p['step']:5d} {p['acc']:9.1%} {p['stderr']:9.1%}")
    names = {"sft_above_base": "SFT above base", "grpo_above_sft": "GRPO above SFT",
             "final_at_least_2x_chance": f"final >= 2x chance ({2 * chance:.0%})"}
    lines.append("targets: " + "; ".join(f"{names[k]}: {'met' if v else 'NOT met'}"
                                         for k, v in summary["targets"].items()))
    for k in ("results", "plot", "report"):
        if summary.get(k):
            lines.append(f"{k}: {summary[k]}")
    return "\n".join(lines)


def _plots(out: Path, points: list[dict], chance: float, sft_steps: int) -> dict[str, str]:
    """The demo's accuracy curve (base -> SFT -> GRPO on one step axis) and the HTML report of every run and
    training log. A failure here is reported, not fatal: the numbers are already in the results table."""
    try:  # imported here so that a broken plotting stack (matplotlib) costs only the figures
        from geobench import plots, report

        curve = {f"{TASK} (k={TASK_ARGS['k']}, differ_in={TASK_ARGS['differ_in']})": {
            stage: [{"step": p["step"], "value": p["acc"], "lo": p["acc"] - 1.96 * p["stderr"],
                     "hi": p["acc"] + 1.96 * p["stderr"]} for p in points if p["stage"] == stage
                    or (stage, p["stage"]) == ("sft", "base")  # SFT starts from the base model,
                    or (stage == "grpo" and p["stage"] == "sft" and p["step"] == sft_steps)]  # GRPO from SFT's end
            for stage in ("sft", "grpo")}}
        png = plots.checkpoint_curves(curve, out / "demo_accuracy.png",
                                      f"geobench demo: accuracy by step (SFT steps 1-{sft_steps}, then GRPO)",
                                      chance={k: chance for k in curve})
        runs, trains = report.collect([str(out / "results")], str(out / "results"),
                                      [str(out / "sft"), str(out / "grpo")])
        report.build(out / "report", runs, trains, title="geobench demo")
        return {"plot": str(png), "report": str(out / "report" / "index.html")}
    except Exception as e:  # noqa: BLE001 - plotting must not lose a finished run
        warnings.warn(f"demo: plots/report not written: {type(e).__name__}: {e}", stacklevel=2)
        return {}
