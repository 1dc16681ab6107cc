"""The numbers of `geobench study transfer`: every checkpoint's per-item scores from the run folders the
eval-on-save callback wrote, means over seeds with 95 % item-bootstrap intervals (`geobench.stats`), the
before/after and arm-vs-control differences, the verdict, summary.json and the plot (schema: study.py)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

from geobench import stats
from geobench.atomic import atomic_write
from geobench.trainers.training.study_profiles import ARM_TEXT, ARMS, SCHEMA, Profile, stage_done


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
    stages = {n: stage_done(sd, n) for n in ("sft", *ARMS)}
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
        stages = {n: stage_done(sd, n) for n in ("sft", *ARMS)}
        per_seed[str(s)] = {"sft_steps": (stages["sft"] or {}).get("steps"),
                            "arm_steps": {a: (stages[a] or {}).get("steps") for a in ARMS},
                            "seconds": {n: (v or {}).get("seconds") for n, v in stages.items()},
                            "train_seconds": {n: (v or {}).get("train_seconds") for n, v in stages.items()},
                            "points": pts}
        items[s] = its
    done = [s for s in seeds if all(stage_done(out / f"seed-{s}", n) for n in ("sft", *ARMS))]
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
