"""The numbers of `geobench study transfer`: every checkpoint's per-item scores from the run folders the
eval-on-save callback wrote, means over seeds with 95 % item-bootstrap intervals (`geobench.stats`), the
before/after and arm-vs-control differences, the verdict, summary.json and the plot (schema: study.py)."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict
from pathlib import Path

from geobench import stats
from geobench.atomic import atomic_write
from geobench.trainers.training.study_profiles import ARM_TEXT, ARMS, SCHEMA, Profile, stage_done


def _samples(results: Path, run: str, task: str) -> dict[str, dict] | None:
    """doc_id -> {"metrics", "completion"} of one evaluation's samples file (None: not evaluated)."""
    p = results / run / f"samples_{task}.jsonl"
    if not p.is_file():
        return None
    out = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[str(row["doc_id"])] = {"metrics": row.get("metrics") or {}, "completion": row.get("completion") or ""}
    return out


_FIRST_PART = re.compile(r"<think>([^;<]*)")
CUE_WORDS = {"big_city": "city", "small_town": "town"}  # the scaffold templates' words for attribute values


def cue_read(completion: str, truth: str) -> float:
    """1.0 when the think's first part (up to the first ";") names the true cue value: every toy template
    opens with the ground view's attributes ("dry coast rural; ...", "polar; A: ..."), else 0.0."""
    m = _FIRST_PART.match(completion.strip())
    words = m.group(1).lower().split() if m else []
    return float(CUE_WORDS.get(truth.lower(), truth.lower()) in words)


def seed_points(prof: Profile, out: Path, seed: int, truth: dict | None = None
                ) -> tuple[list[dict], dict[tuple, dict[str, float]]]:
    """Per checkpoint and eval task of one seed: the point records and the per-item primary metric values
    {(arm, x, task): {doc_id: value}}; with `truth` ({task: {doc_id: cue value}}) also the cue reads under
    (arm, x, "cue:" + task). Reads the run folders the eval-on-save callback wrote."""
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
                vals = {d: float(r["metrics"].get(fam.metric, 0.0) or 0.0) for d, r in s.items()}
                items[(arm, x, fam.task)] = vals
                known = (truth or {}).get(fam.task) or {}
                if known:
                    items[(arm, x, f"cue:{fam.task}")] = {d: cue_read(r["completion"], known[d])
                                                          for d, r in s.items() if d in known}
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
              cue_links: dict | None = None, truth: dict | None = None) -> dict:
    """Collect every seed's evaluations into the summary (schema in the module docstring) and draw the plot."""
    per_seed, items = {}, {}
    for s in seeds:
        pts, its = seed_points(prof, out, s, truth)
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
    before_after: dict[str, dict] = {}
    transfer: dict[str, dict] = {}
    verdict: dict[str, str] = {}
    cue: dict[str, dict] = {}
    for t in tasks:
        if not done:
            break
        before_after[t], transfer[t] = _compare(items, done, t)
        lo = [transfer[t][f"grpo_minus_{c}"]["lo"] for c in ("sft_more", "grpo_shuffled")]
        hi = [transfer[t][f"grpo_minus_{c}"]["hi"] for c in ("sft_more", "grpo_shuffled")]
        verdict[t] = "seen" if all(v > 0 for v in lo) else "not seen" if any(v < 0 for v in hi) \
            else "not distinguishable"
        if all(("sft", x, f"cue:{t}") in items[s] for s in done for (a, x, tt) in items[s] if a == "sft" and tt == t):
            ba, tr = _compare(items, done, f"cue:{t}")
            cue[t] = {"before_after": ba, "transfer": tr}
    summary = {"schema": SCHEMA, "study": "transfer", "profile": prof.name, "model": prof.model, "out": str(out),
               "seeds": seeds, "seeds_done": done, "settings": _settings(prof), "tasks": tasks,
               "arms": dict(ARM_TEXT), "per_seed": per_seed, "curves": curves, "before_after": before_after,
               "transfer": transfer, "verdict": verdict, "cue_read": cue, "cue_links": cue_links or {}}
    summary["plot"] = _plot(prof, out, curves, tasks)
    if started is not None:
        summary["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _compare(items: dict, done: list[int], t: str) -> tuple[dict, dict]:
    """For items key `t`: per arm the SFT end (before) against the arm's last checkpoint (after), and grpo
    against each control at the last checkpoints, paired by item and seed."""
    last: dict[str, dict[int, dict]] = {}
    for s in done:
        sft_x = max(x for (a, x, tt) in items[s] if a == "sft" and tt == t)
        last.setdefault("before", {})[s] = items[s][("sft", sft_x, t)]
        for arm in ARMS:
            ax = max(x for (a, x, tt) in items[s] if a == arm and tt == t)
            last.setdefault(arm, {})[s] = items[s][(arm, ax, t)]
    before = _aligned([last["before"][s] for s in done])
    before_after = {}
    for arm in ARMS:
        after = _aligned([last[arm][s] for s in done])
        delta = [[a - b for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(after, before, strict=True)]
        before_after[arm] = {"before": _boot(before), "after": _boot(after), "delta": _boot(delta),
                             "per_seed_delta": [sum(r) / len(r) for r in delta]}
    transfer = {}
    g = _aligned([last["grpo"][s] for s in done])
    for ctl in ("sft_more", "grpo_shuffled"):
        c = _aligned([last[ctl][s] for s in done])
        diff = [[a - b for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(g, c, strict=True)]
        transfer[f"grpo_minus_{ctl}"] = {**_boot(diff), "per_seed": [sum(r) / len(r) for r in diff]}
    return before_after, transfer


def _settings(prof: Profile) -> dict:
    return asdict(prof)


def _positions(arms: dict, prof: Profile) -> tuple[dict, dict]:
    """x -> an evenly spaced plot position (SFT checkpoints, then the arms' checkpoints: the short arm stage
    gets as much room as the SFT stage) and its tick label."""
    sft = sorted({p["x"] for p in arms.get("sft", [])})
    end = sft[-1] if sft else 0
    arm_x = sorted({p["x"] for a in ARMS for p in arms.get(a, [])} - set(sft))
    pos = {x: i - len(sft) + 1 for i, x in enumerate(sft)}
    labels = {x: str(x) for x in sft}
    for x in arm_x:
        pos[x] = (x - end) / prof.grpo_steps * prof.saves
        labels[x] = f"+{x - end}"
    return pos, labels


def _plot(prof: Profile, out: Path, curves: dict, tasks: dict) -> str | None:
    """One panel per eval task, one line per arm (the SFT stage drawn as "sft", every arm starting at its end),
    95 % bands, the y axis fitted to the data (GeoScores are small). matplotlib directly: the core's
    `plots.checkpoint_curves` fixes the y axis to 0..1."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        panels = [t for t, arms in curves.items() if arms]
        if not panels:
            return None
        fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
        colours = {"sft": "C0", "grpo": "C1", "grpo_shuffled": "C2", "sft_more": "C3"}
        for ax, t in zip(axes.flat, panels, strict=False):
            arms = curves[t]
            start = max(arms["sft"], key=lambda p: p["x"]) if arms.get("sft") else None
            pos, labels = _positions(arms, prof)
            for arm in ("sft", *ARMS):
                pts = sorted(arms.get(arm, []), key=lambda p: p["x"])
                if start is not None and arm != "sft" and pts:
                    pts = [start, *pts]
                if not pts:
                    continue
                xs = [pos[p["x"]] for p in pts]
                ax.plot(xs, [p["value"] for p in pts], marker="o", markersize=3, color=colours[arm], label=arm)
                if all(math.isfinite(p["lo"]) and math.isfinite(p["hi"]) for p in pts):
                    ax.fill_between(xs, [p["lo"] for p in pts], [p["hi"] for p in pts], color=colours[arm], alpha=0.12)
            if start is not None:
                ax.axvline(pos[start["x"]], color="grey", linewidth=0.8, linestyle=":")
            ax.set_xticks(list(pos.values()), [labels[x] for x in pos], fontsize=7)
            if tasks[t].get("chance"):
                ax.axhline(tasks[t]["chance"], color="tab:red", linestyle="--", linewidth=1, label="chance")
            ax.set(title=f"{t} ({tasks[t]['metric']})", xlabel="checkpoint (SFT step, then SFT + arm step)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(f"geobench study transfer ({prof.name}): mean of seeds, 95% item-bootstrap band; "
                     "sft_more drawn at the grpo-equivalent step (equal wall time)", fontsize=9)
        fig.tight_layout()
        png = out / "study_transfer.png"
        fig.savefig(png, dpi=110)
        plt.close(fig)
        return str(png)
    except Exception as e:  # noqa: BLE001 - plotting must not lose a finished study
        import warnings

        warnings.warn(f"study: plot not written: {type(e).__name__}: {e}", stacklevel=2)
        return None
