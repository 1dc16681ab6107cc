"""`geobench report`: a static HTML page (index.html, PNGs beside it, no network) about a set of runs.

It reads run folders (results.json + samples_<task>.jsonl) and training folders (train_log.jsonl), and draws what
they hold: geolocation error distributions and a world map, cross-view accuracy against chance, scene accuracy
per question, training curves and each checkpoint's metrics against its step, the results tables (each cell a
link to its samples) and the paper's numbers beside them; the sample pages and the compare view are written by
report_samples.py and report_compare.py. A piece that is missing (no training logs, no geolocation task, no
ground truth for the map, no coastline data) is left out and the page says so. The folder is built in a temp sibling and
renamed into place, so a failed build leaves the previous report untouched.
"""

from __future__ import annotations

import contextlib
import datetime
import html
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench.atomic import atomic_write
from geobench.errors import GeobenchError
from geobench.report_samples import cell_links, is_toy, latlon
from geobench.results import dumps, read_jsonl
from geobench.runs import KINDS, Run, collect, collect_compare, latest_by_label, load_run, tasks_of  # noqa: F401 - used by cli, tests

MARKER = "report.json"  # marks a folder as a geobench report, which a new report may replace
MAP_POINTS = 1000  # per model on the world map: more is a blot


# ------------------------------------------------------------------------------------------------ sections


@dataclass
class Section:
    title: str
    body: list[str] = field(default_factory=list)  # HTML fragments
    notes: list[str] = field(default_factory=list)  # what is missing, and why
    images: list[str] = field(default_factory=list)

    def figure(self, path: Path | None, caption: str) -> None:
        if path is None:
            return
        self.images.append(path.name)
        self.body.append(f'<figure><img src="{html.escape(path.name)}" alt="{html.escape(caption)}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _file(folder: Path, *parts: str) -> Path:
    """A PNG name made of safe characters, never one already taken (two models may differ only in symbols)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts))
    path, i = folder / f"{stem}.png", 1
    while path.exists():
        i += 1
        path = folder / f"{stem}-{i}.png"
    return path


def results_section(runs: list[Run], explorer=None) -> tuple[Section, Any]:
    """Per task: one row per model/checkpoint, value ± stderr per metric, each cell a link to the samples behind
    it (when `explorer` wrote their page); then the paper's numbers."""
    import pandas as pd

    from geobench.tables import TABLE_COLUMNS, compare_with_reference, run_rows, wide_table

    sec = Section("Results")
    df = pd.DataFrame([row for r in runs for row in run_rows(r.folder, r.results)], columns=TABLE_COLUMNS)
    pooled = {g for r in runs for g, members in (r.results.get("group_subtasks") or {}).items() if len(members) > 1}
    for task in list(dict.fromkeys(df["task"])):
        if task in df["group"].values and task not in tasks_of(runs) and task not in pooled:
            continue  # a group's pooled row over one task repeats that task's row
        wide = wide_table(df[df["task"] == task])
        wide.columns = [str(c).removeprefix(f"{task} ") for c in wide.columns]
        sec.body.append(f"<h3>{html.escape(task)}</h3>" + _html_table(wide, link=cell_links(runs, task, explorer)))
    ref = compare_with_reference(df)
    if ref.empty:
        sec.notes.append("No task in these runs has published reference numbers (the Geo-R1 paper reports "
                         "cvcities, imageo_gss, mp16_reason and im2gps3k; see geobench/reference/paper.csv).")
    else:
        sec.body.append("<h3>Beside the paper</h3><p>Your latest run per model (highlighted) and the published "
                        "numbers for the same task and metric.</p>"
                        + _html_table(ref[["task", "metric", "model", "value", "source"]],
                                      highlight=lambda row: str(row["source"]).startswith("this run")))
    return sec, df


def geolocation_section(runs: list[Run], folder: Path) -> Section:
    from geobench import coastlines, plots

    sec = Section("Geolocation")
    tasks = tasks_of(runs, "geolocation")
    if not tasks:
        sec.notes.append("No geolocation task in these runs: no error distribution or map.")
        return sec
    land = coastlines.land_mask()
    if land is None and not all(is_toy(t) for t in tasks):
        sec.notes.append("Coastlines are not available offline (pip install global-land-mask): maps show a "
                         "latitude/longitude grid only.")
    for task in tasks:
        by_label = latest_by_label(runs, task)
        dists = {label: r.values(task, "distance_km") for label, r in by_label.items()}
        dists = {k: v for k, v in dists.items() if v}
        if not dists:
            sec.notes.append(f"{task}: no samples file with per-sample distances: no error distribution or map.")
            continue
        sec.figure(plots.error_cdf(dists, _file(folder, "geoloc_cdf", task), f"{task}: error distance"),
                   f"{task}: cumulative distribution of the error distance per model/checkpoint (log scale; "
                   "1, 25, 200, 750 and 2,500 km marked).")
        truth, why = ground_truth(task, by_label)
        if why:
            sec.notes.append(f"{task}: ground truth not drawn on the map ({why}).")
        points = {}
        for label, r in by_label.items():
            samples = [s for s in r.samples(task) if s.get("doc_id") is not None][:MAP_POINTS]
            points[label] = {"pred": [tuple(latlon(s.get("parsed")) or (None, None)) for s in samples],
                             "truth": [truth.get(str(s["doc_id"]), (None, None)) for s in samples] if truth else []}
        earth = None if is_toy(task, run_config(by_label, task)) else land  # the toy planet is not Earth
        where = coastlines.SOURCE if earth else "the toy planet: no Earth coastlines" if land else "grid"
        sec.figure(plots.world_map(points, _file(folder, "geoloc_map", task), f"{task}: where the answers land",
                                   land=earth), f"{task}: predictions and ground truth (equirectangular; {where}).")
    return sec


def run_config(by_label: dict[str, Run], task: str) -> dict:
    run = next(iter(by_label.values()))
    return (run.results.get("configs") or {}).get(task) or {}


def ground_truth(task: str, by_label: dict[str, Run]) -> tuple[dict[str, tuple[float, float]], str]:
    """doc id -> (lat, lon) of the truth: from the samples' `target` when a task records it, else from the
    task's own data (which must be available here). Returns (mapping, reason it is empty)."""
    truth: dict[str, tuple[float, float]] = {}
    for r in by_label.values():
        for s in r.samples(task):
            t = latlon(s.get("target"))
            if t is not None:
                truth[str(s.get("doc_id"))] = tuple(t)
    if truth:
        return truth, ""
    run = next(iter(by_label.values()))
    split = (run.results.get("configs", {}).get(task) or {}).get("split")
    try:
        from geobench import plugin_manager

        t = plugin_manager.registry().task(task)
        missing = t.data_status()
        if missing:
            return {}, f"task data not found: {missing}"
        docs = t.docs(split)
        truth = {str(d.id): (float(d.fields["lat"]), float(d.fields["lon"])) for d in docs
                 if "lat" in d.fields and "lon" in d.fields}
    except GeobenchError as e:
        return {}, f"task data not readable: {e}"
    except Exception as e:  # noqa: BLE001 - a plugin's task failing must not sink the whole report
        return {}, f"task data not readable: {type(e).__name__}: {e}"
    return (truth, "") if truth else ({}, "the task's documents carry no lat/lon")


def crossview_section(runs: list[Run], folder: Path) -> Section:
    from geobench import plots
    from geobench.tables import reference_table

    sec = Section("Cross-view pairing")
    tasks = tasks_of(runs, "crossview")
    if not tasks:
        sec.notes.append("No cross-view task in these runs.")
        return sec
    ref = reference_table()
    for task in tasks:
        by_label = latest_by_label(runs, task)
        bars = [{"label": label, **iv} for label, r in by_label.items() if (iv := r.interval(task, "acc"))]
        chances = [c for r in by_label.values() if (c := r.interval(task, "chance"))]
        chance = chances[0]["value"] if chances else None
        paper = ref[(ref["task"] == task) & (ref["metric"] == "acc")]
        references = [(f"{m} (paper)", float(v)) for m, v in zip(paper["model"], paper["value"], strict=True)]
        if not bars:
            sec.notes.append(f"{task}: no accuracy recorded.")
            continue
        sec.figure(plots.accuracy_bars(bars, _file(folder, "crossview_acc", task), f"{task}: pairing accuracy",
                                       chance=chance, references=references),
                   f"{task}: accuracy per model/checkpoint with 95% intervals; dashed: chance"
                   + ("; dotted: the paper's numbers." if references else "."))
    return sec


def scene_section(runs: list[Run], folder: Path) -> Section:
    from geobench import plots

    sec = Section("Scene reasoning")
    tasks = tasks_of(runs, "scene")
    if not tasks:
        sec.notes.append("No scene-reasoning task in these runs.")
        return sec
    for task in tasks:
        by_label = latest_by_label(runs, task)
        questions = list(dict.fromkeys(m for r in by_label.values() for m in r.metrics(task)
                                       if m.startswith("acc_") and not m.endswith("_macro")))
        rows = ["acc", *questions]
        series = {label: [r.interval(task, m) if m in r.metrics(task) else None for m in rows]
                  for label, r in by_label.items()}
        names = ["all questions"] + [q.removeprefix("acc_").replace("_", " ") for q in questions]
        sec.figure(plots.question_bars(names, series, _file(folder, "scene_questions", task),
                                       f"{task}: accuracy per question"),
                   f"{task}: accuracy per question and model/checkpoint, with 95% intervals.")
    return sec


CURVE_METRICS = {"geolocation": ("acc@1km", "acc@25km", "acc@200km", "acc@750km", "acc@2500km"),
                 "crossview": ("acc",), "scene": ("acc", "acc_macro")}


def training_section(runs: list[Run], train_dirs: list[Path], folder: Path) -> Section:
    from geobench import plots

    sec = Section("Training")
    for t in train_dirs:
        log = read_jsonl(t / "train_log.jsonl")
        path = plots.training_curves(log, _file(folder, "train_log", t.name), f"{t.name}: training log")
        if path is None:
            sec.notes.append(f"{t}/train_log.jsonl has no reward, length, KL or loss values.")
        sec.figure(path, f"{t.name}: reward (total and per function), completion length, KL and loss against "
                         f"the step, from {t}/train_log.jsonl.")
    if not train_dirs:
        sec.notes.append("No training logs: no train_log.jsonl next to these runs' checkpoints, and no "
                         "--train-dir given.")
    models = list(dict.fromkeys(r.model for r in runs if r.step is not None))
    if not models:
        sec.notes.append("No checkpoint runs (evaluations recorded with a training step): no metrics against "
                         "the step.")
    for model in models:
        mine = [r for r in runs if r.model == model and r.step is not None]
        curves: dict[str, dict[str, list[dict]]] = {}
        chance: dict[str, float] = {}
        for task in tasks_of(mine):
            for r in latest_by_label(mine, task).values():
                metrics = r.metrics(task)
                wanted = [m for m in CURVE_METRICS.get(r.kind(task), ()) if m in metrics] or \
                         [m for m in metrics if m.startswith("acc")][:4]
                for m in wanted:
                    if iv := r.interval(task, m):
                        curves.setdefault(task, {}).setdefault(m, []).append({"step": r.step, **iv})
                if "chance" in metrics and (c := r.interval(task, "chance")):
                    chance[task] = c["value"]
        if curves:
            sec.figure(plots.checkpoint_curves(curves, _file(folder, "checkpoints", model),
                                               f"{model}: checkpoints", chance=chance),
                       f"{model}: each evaluated checkpoint's task metrics against the training step (95% bands).")
    return sec


# -------------------------------------------------------------------------------------------------- page


def build(out: str | os.PathLike, runs: list[Run], train_dirs: list[Path], title: str = "geobench report",
          compare: tuple[Run, Run] | None = None) -> dict:
    """Write the report folder; returns what report.json holds (sections with their images and notes, the
    sample pages and the compare pages). `compare`: a pair of runs whose compare pages come first."""
    from geobench.report_compare import build_compares
    from geobench.report_samples import build_explorer, run_slugs
    from geobench.tables import export_table

    with report_dir(Path(out)) as folder:
        slugs = run_slugs(runs)
        explorer = build_explorer(folder, runs, slugs)
        compares = build_compares(folder, runs, explorer, slugs, compare)
        results, table = results_section(runs, explorer)
        sections = [results, samples_section(runs, explorer, compares), geolocation_section(runs, folder),
                    crossview_section(runs, folder), scene_section(runs, folder),
                    training_section(runs, train_dirs, folder)]
        atomic_write(folder / "results.csv", export_table(table, "csv"))
        atomic_write(folder / "index.html", render(title, runs, train_dirs, sections))
        summary = {"title": title, "runs": [str(r.folder) for r in runs], "train_dirs": [str(t) for t in train_dirs],
                   "sections": {s.title: {"images": s.images, "notes": s.notes} for s in sections},
                   "samples": sorted(explorer.pages.values()), "compares": [c["page"] for c in compares],
                   "compare": [c["page"] for c in compares if c["explicit"]]}
        atomic_write(folder / MARKER, dumps(summary))
    return summary


def samples_section(runs: list[Run], explorer, compares: list[dict]) -> Section:
    """Links to every sample page (per run and task) and the compare view with its selector."""
    from geobench.report_compare import compare_section_html
    from geobench.report_samples import index_html

    sec = Section("Samples", body=[index_html(runs, explorer)], notes=list(explorer.notes))
    if compares:
        sec.body.append("<h3>Compare two runs</h3>" + compare_section_html(compares))
    elif len(runs) > 1:
        sec.notes.append("No two runs share a task with samples: no compare view.")
    return sec


@contextlib.contextmanager
def report_dir(out: Path) -> Iterator[Path]:
    """A fresh folder built beside `out` and renamed into place; an earlier report there is replaced only once
    the new one is complete. A folder that is not a report is never touched."""
    if out.exists() and not out.is_dir():
        raise GeobenchError(f"--out {str(out)!r} is a file", hint="pass a folder")
    replace = out.is_dir() and any(out.iterdir())
    if replace and not (out / MARKER).is_file():
        raise GeobenchError(f"--out folder {str(out)!r} is not empty and holds no geobench report",
                            hint="pick a new folder or delete it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The old report stays in place until the new one is complete (a kill while plotting leaves it untouched).
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.meta{color:#666;font-size:.9rem}table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0 1rem}
td,th{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.scroll{overflow-x:auto}
tr.mine td{background:#fff7d6}figure{margin:1rem 0}img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85rem}.note{background:#f6f6f6;border-left:4px solid #bbb;padding:.4rem .7rem;
margin:.4rem 0;font-size:.9rem}footer{margin-top:3rem;color:#777;font-size:.8rem}
"""


def render(title: str, runs: list[Run], train_dirs: list[Path], sections: list[Section]) -> str:
    """The page: a summary of what is included, each section (figures, tables, notes), and how to read it."""
    esc = html.escape
    run_rows = "".join(f"<tr><td>{esc(r.label)}</td><td>{esc(r.folder.name)}</td>"
                       f"<td>{esc(str(r.config.get('backend', '')))}</td><td>{esc(', '.join(r.tasks))}</td>"
                       f"<td>{esc(_when(r.date))}</td></tr>" for r in runs)
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p class='meta'>{len(runs)} run(s), {len(train_dirs)} training folder(s); generated "
             f"{esc(_when(datetime.datetime.now().timestamp()))}. Full table: <a href='results.csv'>results.csv</a>.</p>"]
    if runs:
        parts.append("<div class='scroll'><table><tr><th>model / checkpoint</th><th>run</th><th>backend</th>"
                     f"<th>tasks</th><th>date</th></tr>{run_rows}</table></div>")
    missing = [n for s in sections for n in s.notes]
    if missing:
        parts.append("<p><b>Not in this report:</b></p>" + "".join(f"<div class='note'>{esc(n)}</div>"
                                                                    for n in missing))
    for s in sections:
        parts.append(f"<h2>{esc(s.title)}</h2>")
        parts.extend(s.body)
        parts.extend(f"<div class='note'>{esc(n)}</div>" for n in s.notes)
    parts.append("<footer>Tables: mean ± standard error (lm-eval's `_stderr`: sample standard deviation / √n). "
                 "Figures: 95% Wilson score intervals for accuracies (0/1 per sample), mean ± 1.96 stderr "
                 "otherwise. Made by geobench; self-contained, no network.</footer>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}<script src='assets/explorer.js'></script></body></html>\n")


def _html_table(df, highlight=None, link=None) -> str:
    from geobench.tables import fmt, tidy_ints

    esc = html.escape
    df = tidy_ints(df)
    head = "".join(f"<th>{esc(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cls = " class='mine'" if highlight and highlight(row) else ""
        cells = []
        for col, v in row.items():
            text, href = esc(fmt(v) if not isinstance(v, str) else v), link(row, str(col)) if link else None
            cells.append(f"<td><a href='{esc(href)}'>{text}</a></td>" if href and text else f"<td>{text}</td>")
        rows.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def _when(ts: float) -> str:
    if not ts:
        return ""
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
