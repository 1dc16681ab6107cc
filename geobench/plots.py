"""The report's figures, one function per kind of plot; each draws plain data and writes one PNG.

matplotlib is imported inside the functions (with the Agg backend: no display needed), so importing this module
costs nothing and `geobench --help` stays fast. Intervals are 95% (see geobench.stats).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

THRESHOLDS_KM = (1, 25, 200, 750, 2500)
MAX_KM = 20037.5  # half the Earth's circumference: the distance an unparseable answer counts as
DPI = 110
CDF_STEPS = 2000  # a longer curve is drawn through this many of its points (finer than the figure's pixels)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def error_cdf(series: dict[str, Sequence[float]], path: Path, title: str) -> Path:
    """Share of images located within x km, one line per model/checkpoint, log x, thresholds marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, dists in series.items():
        d = sorted(max(float(x), 0.1) for x in dists)  # log axis: 0 km is drawn at 0.1 km
        if not d:
            continue
        n = len(d)
        keep = range(n) if n <= CDF_STEPS else sorted({round(i * (n - 1) / (CDF_STEPS - 1)) for i in range(CDF_STEPS)})
        ax.step([0.1, *(d[i] for i in keep), MAX_KM * 1.5], [0.0, *((i + 1) / n for i in keep), 1.0], where="post",
                label=f"{label} (n={n})")
    for t in THRESHOLDS_KM:
        ax.axvline(t, color="0.6", linestyle=":", linewidth=1)
        ax.annotate(f"{t:,} km", (t, 0.0), xytext=(2, 4), textcoords="offset points", fontsize=8, color="0.35")
    ax.set(xscale="log", xlim=(0.5, MAX_KM * 1.2), ylim=(0, 1.02), title=title,
           xlabel="error distance (km, log scale)", ylabel="share of images within distance")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def world_map(points: dict[str, dict], path: Path, title: str, land=None) -> Path:
    """Predictions (one colour per model/checkpoint) and ground truth (black crosses) on an equirectangular
    map. `points[label] = {"pred": [(lat, lon)], "truth": [(lat, lon)]}`, pairs in the same order (truth may be
    empty). `land` is coastlines.land_mask()'s result, or None for a plain latitude/longitude grid. With one
    model, a thin line joins each prediction to its truth."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.4))
    if land is not None:
        mask, extent = land
        ax.imshow(mask, extent=extent, origin="upper", cmap="Greys", vmin=0, vmax=4, interpolation="nearest")
        ax.contour(mask.astype(float), levels=[0.5], colors="0.45", linewidths=0.4, origin="upper",
                   extent=extent)
    ax.set_xticks(range(-180, 181, 30))
    ax.set_yticks(range(-90, 91, 30))
    ax.grid(True, color="0.75", linewidth=0.5, alpha=0.7)
    truths_drawn = False
    for i, (label, pts) in enumerate(points.items()):
        pred, truth = pts.get("pred", []), pts.get("truth", [])
        if len(points) == 1 and truth:
            for (plat, plon), (tlat, tlon) in zip(pred, truth, strict=False):
                if plat is not None and tlat is not None:
                    ax.plot([tlon, plon], [tlat, plat], color="tab:red", linewidth=0.4, alpha=0.35)
        if truth and not truths_drawn:
            t = [p for p in truth if p[0] is not None]
            ax.scatter([p[1] for p in t], [p[0] for p in t], marker="x", s=18, color="black", linewidths=0.8,
                       label="ground truth", zorder=3)
            truths_drawn = True
        p = [q for q in pred if q[0] is not None]
        ax.scatter([q[1] for q in p], [q[0] for q in p], s=10, color=f"C{i % 10}", alpha=0.75, zorder=4,
                   label=f"{label}: predictions ({len(p)})")
    ax.set(xlim=(-180, 180), ylim=(-90, 90), aspect="equal", title=title, xlabel="longitude", ylabel="latitude")
    ax.legend(fontsize=8, loc="lower left", framealpha=0.85)
    return _save(fig, path)


def accuracy_bars(bars: Sequence[dict], path: Path, title: str, chance: float | None = None,
                  references: Sequence[tuple[str, float]] = ()) -> Path:
    """One bar per model/checkpoint (`{"label", "value", "lo", "hi"}`) with its 95% interval, the chance
    level dashed, and published numbers (label, value) dotted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(bars) + 2.5), 4.5))
    x = range(len(bars))
    values = [b["value"] for b in bars]
    err = [[_below(b) for b in bars], [_above(b) for b in bars]]
    ax.bar(x, values, yerr=err, capsize=4, width=0.6, color=[f"C{i % 10}" for i in x], alpha=0.85)
    ax.set_xlim(-0.8, len(bars) - 0.2)
    for i, v in zip(x, values, strict=True):
        ax.annotate(f"{v:.1%}", (i, v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="tab:red", linestyle="--", linewidth=1.2, label=f"chance ({chance:.1%})")
    for j, (label, value) in enumerate(references):
        ax.axhline(value, color=f"C{(j + 5) % 10}", linestyle=":", linewidth=1.2, label=f"{label}: {value:.1%}")
    ax.set_xticks(list(x), [b["label"] for b in bars], rotation=20, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="accuracy (95% interval)", title=title)
    if chance is not None or references:
        ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def question_bars(questions: Sequence[str], series: dict[str, Sequence[dict | None]], path: Path,
                  title: str) -> Path:
    """Accuracy per question (rows), one bar per model/checkpoint, with 95% intervals. `series[label][i]` is
    `{"value", "lo", "hi"}` for questions[i], or None where that model was not asked it."""
    plt = _pyplot()
    k = max(1, len(series))
    height = 0.8 / k
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(questions) * k + 1.5)))
    for j, (label, cells) in enumerate(series.items()):
        ys = [i + (j - (k - 1) / 2) * height for i, c in enumerate(cells) if c is not None]
        cs = [c for c in cells if c is not None]
        ax.barh(ys, [c["value"] for c in cs], height=height * 0.9, label=label, color=f"C{j % 10}", alpha=0.85,
                xerr=[[_below(c) for c in cs], [_above(c) for c in cs]], capsize=2,
                error_kw={"elinewidth": 0.8})
    ax.set_yticks(range(len(questions)), questions, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.05), xlabel="accuracy (95% interval)", title=title)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


TRAIN_PANELS = (
    ("reward", lambda k: k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))),
    ("completion length (tokens)", lambda k: k == "completions/mean_length"),
    ("KL to the reference model", lambda k: k == "kl"),
    ("loss", lambda k: k == "loss"),
)


def training_curves(log: Sequence[dict], path: Path, title: str) -> Path | None:
    """Reward (total and per function), completion length, KL and loss against the step, one panel each, from
    train_log.jsonl rows; panels without data are left out. None if nothing is plottable."""
    panels = []
    for name, wanted in TRAIN_PANELS:
        keys = sorted({k for row in log for k in row if wanted(k) and _finite(row[k])},
                      key=lambda k: (k != "reward", k))
        if keys:
            panels.append((name, keys))
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            pts = [(row["step"], row[key]) for row in log if "step" in row and _finite(row.get(key))]
            label = "total" if key == "reward" else key.removeprefix("rewards/").removesuffix("/mean")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 40 else None,
                    linewidth=1.6 if key == "reward" else 1.0, label=label)
        ax.set(title=name, xlabel="step")
        ax.grid(True, alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def checkpoint_curves(curves: dict[str, dict[str, Sequence[dict]]], path: Path, title: str,
                      chance: dict[str, float] | None = None) -> Path:
    """Task metrics against the training step, one panel per task, one line per metric with its 95% band.
    `curves[task][metric] = [{"step", "value", "lo", "hi"}, ...]`; `chance[task]` is drawn dashed."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(curves)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (task, metrics) in zip(axes.flat, curves.items(), strict=False):
        for i, (metric, pts) in enumerate(metrics.items()):
            pts = sorted(pts, key=lambda p: p["step"])
            steps = [p["step"] for p in pts]
            ax.plot(steps, [p["value"] for p in pts], marker="o", markersize=3, color=f"C{i % 10}", label=metric)
            if all(_finite(p.get("lo")) and _finite(p.get("hi")) for p in pts):
                ax.fill_between(steps, [p["lo"] for p in pts], [p["hi"] for p in pts], color=f"C{i % 10}",
                                alpha=0.15 if len(metrics) < 3 else 0.06)
        if chance and task in chance:
            ax.axhline(chance[task], color="tab:red", linestyle="--", linewidth=1, label="chance")
        ax.set(title=task, xlabel="step", ylim=(-0.02, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        steps = sorted({p["step"] for pts in metrics.values() for p in pts})
        if len(steps) == 1:  # one checkpoint: a point in the middle, not an axis of fractions
            ax.set_xlim(steps[0] - 1, steps[0] + 1)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _below(b: dict) -> float:
    return max(0.0, b["value"] - b["lo"]) if _finite(b.get("lo")) else 0.0


def _above(b: dict) -> float:
    return max(0.0, b["hi"] - b["value"]) if _finite(b.get("hi")) else 0.0
