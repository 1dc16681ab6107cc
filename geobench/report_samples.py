"""The report's sample explorer: for each run and task, one page of its samples (samples-<run>-<task>.html).

A page is static HTML holding its samples as one JSON blob, rendered a page at a time by the report's own small
script (report_assets/explorer.js, copied beside the report: no CDN, no network). What a samples file does not
hold (the prompt, the truth, the images, the reward) comes from the task's own data through the registry and
the task contract (`docs`, `to_messages`, `reward`); where the data is not here, the page shows the recorded
completion and scores and says what is missing. Images appear as thumbnails written under thumbs/, named by a
hash: the page never refers to a file outside the report folder. Thumbnails are written straight into the
report's temporary folder, which is renamed into place whole (report.report_dir).
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench.atomic import atomic_write
from geobench.errors import GeobenchError
from geobench.runs import Run, latest_by_label

ASSETS = Path(__file__).with_name("report_assets")
THUMB_PX = 128
CORRECT_KM = 25  # a geolocation sample counts as correct within 25 km (city level: the headline acc@25km)
BANDS_KM = (1, 25, 200, 750, 2500)
PLAIN = ("task", "version", "group", "split", "generation_kwargs", "data", "source", "distance_impl", "area_impl")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "run"


def is_toy(task: str, config: dict | None = None) -> bool:
    """A task of the toy world (its own planet: Earth's coastlines would be wrong under it)."""
    cfg = config or {}
    return task.endswith("_toy") or "toy world" in str(cfg.get("source", "")) or "toyworld" in str(cfg.get("data", ""))


def json_script(obj: Any, element_id: str) -> str:
    """A <script type=application/json> element whose text can never end the script or open a comment."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for bad, safe in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                      ("\u2029", "\\u2029")):
        text = text.replace(bad, safe)
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def page_html(title: str, data: dict, kind: str) -> str:
    """An explorer page: the data, the shipped stylesheet and script; everything else is drawn by the script."""
    esc = html.escape
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{esc(title)}</title><link rel='stylesheet' href='assets/explorer.css'></head>"
            f"<body data-view='{esc(kind)}'><p class='nav'><a href='index.html'>&larr; report</a></p>"
            f"<h1>{esc(title)}</h1><div id='app'><noscript>This page needs JavaScript (no network).</noscript></div>"
            f"{json_script(data, 'gb-data')}<script src='assets/explorer.js'></script></body></html>\n")


def copy_assets(folder: Path) -> None:
    (folder / "assets").mkdir(exist_ok=True)
    for name in ("explorer.js", "explorer.css"):
        shutil.copyfile(ASSETS / name, folder / "assets" / name)


# ------------------------------------------------------------------------------------------------ images


class Thumbs:
    """Thumbnails under thumbs/, one per distinct image file, named by a hash of where it came from."""

    def __init__(self, folder: Path):
        self.folder, self.todo, self.failed = folder, {}, set()

    def name(self, ref) -> str:
        where = ref.path if ref.path is not None else hashlib.sha256(ref.data).hexdigest()
        key = hashlib.sha256(str(where).encode()).hexdigest()[:20]
        self.todo.setdefault(key, ref)
        return f"thumbs/{key}.jpg"

    def write(self, workers: int = 2) -> None:
        (self.folder / "thumbs").mkdir(exist_ok=True)
        with ThreadPoolExecutor(max(1, workers)) as pool:  # decoding and encoding release the GIL
            for key, ok in zip(self.todo, pool.map(self._one, self.todo.items()), strict=True):
                if not ok:
                    self.failed.add(f"thumbs/{key}.jpg")

    def _one(self, item) -> bool:
        from PIL import Image

        key, ref = item
        try:
            with Image.open(io.BytesIO(ref.read_bytes())) as im:
                w, h = im.size
                s = min(THUMB_PX / w, THUMB_PX / h, 1.0)
                im.draft("RGB", (max(1, int(w * s)), max(1, int(h * s))))  # JPEG: decode at 1/2, 1/4 or 1/8
                im = im if im.mode == "RGB" else im.convert("RGB")
                im.thumbnail((THUMB_PX, THUMB_PX))
                buf = io.BytesIO()  # encoded in memory: PIL writing to a file path is ten times slower here
                im.save(buf, "JPEG", quality=80)
            (self.folder / "thumbs" / f"{key}.jpg").write_bytes(buf.getvalue())
            return True
        except Exception:  # noqa: BLE001 - an unreadable image becomes a missing thumbnail, not a failed report
            return False


# ------------------------------------------------------------------------------------------ task data


@dataclass
class TaskData:
    """A task rebuilt from a run's recorded config, with its docs by id (empty, and why, when unavailable)."""

    task: Any = None
    docs: dict[str, Any] = field(default_factory=dict)
    why: str = ""


def task_data(run: Run, task: str, cache: dict) -> TaskData:
    cfg = (run.results.get("configs") or {}).get(task) or {}
    key = (task, json.dumps(cfg, sort_keys=True, default=str))
    if key not in cache:
        cache[key] = _load_task(task, cfg)
    return cache[key]


def _load_task(name: str, cfg: dict) -> TaskData:
    from geobench import plugin_manager
    from geobench.selection import make_task

    reg = plugin_manager.registry()
    try:
        args = {k: v for k, v in cfg.items() if k not in PLAIN}
        try:
            task = make_task(reg, name, args)
        except GeobenchError:
            task = reg.task(name)  # the recorded settings are not all constructor keywords
        missing = task.data_status()
        if missing:
            return TaskData(None, {}, f"task data not found: {missing}")
        return TaskData(task, {str(d.id): d for d in task.docs(cfg.get("split"))})
    except GeobenchError as e:
        return TaskData(None, {}, f"task not available here: {e}")
    except Exception as e:  # noqa: BLE001 - a plugin's task failing must not sink the whole report
        return TaskData(None, {}, f"task data not readable: {type(e).__name__}: {e}")


def same_prompts(td: TaskData, samples: list[dict], suffix: str, n: int = 20) -> bool:
    """Whether the rebuilt docs give the prompts the run saw (the samples' prompt hashes), checked on the first
    `n` samples: a task rebuilt with other settings, or data changed since, would show wrong truths and images."""
    from geobench.api import GenConfig, Request
    from geobench.cache import prompt_hash
    from geobench.presets import with_suffix

    for s in samples[:n]:
        doc, want = td.docs.get(str(s.get("doc_id"))), s.get("prompt_hash")
        if doc is not None and want:
            try:
                got = prompt_hash(Request(td.task.name, doc.id, with_suffix(td.task.to_messages(doc), suffix),
                                          GenConfig()))
            except Exception:  # noqa: BLE001 - an unreadable image or a failing task: not the same prompt
                return False
            if got != want:
                return False
    return True


# ------------------------------------------------------------------------------------------------- rows


def _num(v) -> float | None:
    if type(v) not in (float, int) or not math.isfinite(v):  # bools are not numbers here
        return None
    return round(v, 4)


def latlon(v) -> list[float] | None:
    """[lat, lon] from a (lat, lon) pair or a {lat, lon} / {coordinates} dict of finite numbers, else None."""
    if isinstance(v, dict):
        v = v.get("coordinates", (v.get("lat"), v.get("lon")))
    if isinstance(v, list | tuple) and len(v) == 2 and all(_num(x) is not None for x in v):
        return [_num(v[0]), _num(v[1])]
    return None


def _shown(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if (ll := latlon(v)) is not None and not isinstance(v, dict):
        return f"({ll[0]}, {ll[1]})"
    return json.dumps(v, ensure_ascii=False)


def _prompt(task, doc, suffix: str = "") -> str:
    from geobench.presets import with_suffix

    parts = []
    for msg in with_suffix(task.to_messages(doc), suffix):
        content = msg.get("content")
        for p in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            parts.append("[image]" if p.get("type") == "image" else str(p.get("text", "")))
    return " ".join(x for x in parts if x)


def sample_row(s: dict, kind: str | None, td: TaskData, thumbs: Thumbs, prompts: dict[str, int],
               suffix: str = "") -> dict:
    """One sample as the explorer shows it (short keys keep a 10,000-sample page small)."""
    m = {k: _num(v) for k, v in (s.get("metrics") or {}).items() if _num(v) is not None}
    row: dict[str, Any] = {"i": str(s.get("doc_id")), "c": str(s.get("completion") or ""), "p": _shown(s.get("parsed")),
                           "m": m, "f": s.get("finish_reason") or ""}
    row["u"] = int(m.get("parse_rate") == 0 or s.get("parsed") in (None, [], ""))
    if kind == "geolocation":
        row["km"] = None if row["u"] else m.get("distance_km")
        row["ok"] = int(row["km"] is not None and row["km"] <= CORRECT_KM)
        row["pl"] = latlon(s.get("parsed"))
    elif "acc" in m:
        row["ok"] = int(m["acc"] == 1)
    qs = [k.removeprefix("acc_") for k in m if k.startswith("acc_") and k != "acc_macro"]
    if kind == "scene" and qs:
        row["g"] = qs[0]
    if isinstance(s.get("reward"), int | float):
        row["r"] = _num(s["reward"])
    doc = td.docs.get(row["i"])
    if doc is None:
        return row
    f = doc.fields
    if kind == "geolocation" and "lat" in f and "lon" in f:
        row["tl"] = [_num(float(f["lat"])), _num(float(f["lon"]))]
        row["t"] = f"({row['tl'][0]}, {row['tl'][1]})" + "".join(f" · {f[k]}" for k in ("country", "city") if f.get(k))
        if f.get("country"):
            row["g"] = str(f["country"])
    elif kind == "crossview" and "answer" in f:
        row["t"] = str(f["answer"])
    elif kind == "scene" and "answer" in f:
        row["t"] = str(f.get("answer_letter") or f["answer"])
        if f.get("answer_letter"):
            row["t"] += f" ({f['answer']})"
        row["tv"] = str(f.get("answer_letter") or f["answer"])
        row["g"] = str(f.get("question_key") or row.get("g") or "")
    elif "answer" in f:
        row["t"] = _shown(f["answer"])
    row["img"] = [thumbs.name(ref) for ref in doc.images]
    try:
        text = _prompt(td.task, doc, suffix)
        row["pr"] = prompts.setdefault(text, len(prompts))
        if "r" not in row:
            row["r"] = _num(td.task.reward(doc, row["c"]))
    except Exception:  # noqa: BLE001 - a task that cannot rebuild its prompt or reward leaves them out
        pass
    return row


# ------------------------------------------------------------------------------------------------ pages


@dataclass
class Explorer:
    """Every run x task page of a report: file names, rows (for the compare view) and what is missing."""

    folder: Path
    pages: dict[tuple[Path, str], str] = field(default_factory=dict)
    rows: dict[tuple[Path, str], list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    land: str | None = None

    def page(self, run: Run, task: str) -> str | None:
        return self.pages.get((run.folder, task))


def _reward_metric(task) -> str:
    from geobench.api import default_reward_metric

    try:
        return f"its {default_reward_metric(task)} metric"
    except GeobenchError:
        return "as the task defines it"


def build_explorer(folder: Path, runs: list[Run], slugs: dict[Path, str]) -> Explorer:
    """Write samples-<run>-<task>.html for every run and task with a samples file, and their thumbnails."""
    ex = Explorer(folder)
    thumbs, cache = Thumbs(folder), {}
    datas: list[tuple[Path, dict]] = []
    for run in runs:
        for task in run.tasks:
            samples = run.samples(task)
            if not samples:
                ex.notes.append(f"{run.label} / {task}: no samples file: no sample page.")
                continue
            kind = run.kind(task)
            td = task_data(run, task, cache)
            suffix = str((run.config.get("preset_settings") or {}).get("prompt_suffix") or "")
            if td.task is not None and not same_prompts(td, samples, suffix):
                td = TaskData(None, {}, "the task's data here does not give the prompts this run saw (its data or "
                                        "settings changed since)")
            prompts: dict[str, int] = {}
            rows = [sample_row(s, kind, td, thumbs, prompts, suffix) for s in samples]
            cfg = (run.results.get("configs") or {}).get(task) or {}
            notes = []
            if td.why:
                notes.append(f"No images, prompts, truths or rewards: {td.why}.")
            elif not any("r" in r for r in rows):
                notes.append("No reward: the samples file holds none and the task could not compute it.")
            else:
                notes.append(f"Reward: the task's reward() with its default options ({_reward_metric(td.task)}); "
                             "a training config may choose other rewards or add format and shaping rewards.")
            if kind == "geolocation":
                notes.append(f"Correct: within {CORRECT_KM} km of the truth.")
            name = f"samples-{slugs[run.folder]}-{slug(task)}.html"
            ex.pages[(run.folder, task)] = name
            ex.rows[(run.folder, task)] = rows
            datas.append((folder / name, {
                "view": "samples", "task": task, "kind": kind, "label": run.label, "run": run.folder.name,
                "toy": is_toy(task, cfg), "bands": list(BANDS_KM), "rows": rows,
                "prompts": list(prompts), "notes": notes}))
            if td.why:
                ex.notes.append(f"{run.label} / {task}: {td.why}: the sample page shows completions and scores only.")
    thumbs.write()
    if any(d["kind"] == "geolocation" and not d["toy"] for _, d in datas):
        ex.land = land_png(folder)
    for path, data in datas:
        for r in data["rows"]:
            if "img" in r:
                r["img"] = [n if n not in thumbs.failed else None for n in r["img"]]
        data["land"] = ex.land if data["kind"] == "geolocation" and not data["toy"] else None
        title = f"{data['label']} · {data['task']}: samples"
        atomic_write(path, page_html(title, data, "samples"))
    copy_assets(folder)
    return ex


def run_slugs(runs: list[Run]) -> dict[Path, str]:
    """A short file-name-safe name per run folder, unique within the report."""
    out: dict[Path, str] = {}
    for r in runs:
        name, i = slug(r.folder.name), 1
        while name in out.values():
            i += 1
            name = f"{slug(r.folder.name)}-{i}"
        out[r.folder] = name
    return out


def index_html(runs: list[Run], ex: Explorer) -> str:
    """The index's list of sample pages, per run and task."""
    esc = html.escape
    items = [f"<li>{esc(r.label)} ({esc(r.folder.name)}): " + ", ".join(
        f"<a href='{esc(p)}'>{esc(t)}</a>" for t in r.tasks if (p := ex.page(r, t))) + "</li>"
        for r in runs if any(ex.page(r, t) for t in r.tasks)]
    if not items:
        return ""
    return ("<p>Every sample of every run: image, prompt, reasoning, answer, truth, score and reward; filters, "
            f"search and a map. Each cell of the results table opens its samples.</p><ul>{''.join(items)}</ul>")


def land_png(folder: Path) -> str | None:
    """Earth's land as a small PNG (assets/land.png) for the explorer's map, or None without coastlines."""
    from geobench import coastlines

    land = coastlines.land_mask()
    if land is None:
        return None
    import numpy as np
    from PIL import Image

    mask = land[0]
    (folder / "assets").mkdir(exist_ok=True)
    Image.fromarray(np.where(mask, 222, 250).astype(np.uint8), "L").save(folder / "assets" / "land.png",
                                                                         optimize=True)
    return "assets/land.png"


def cell_links(runs: list[Run], task: str, explorer):
    """(row, column) -> the samples page of that model/checkpoint, filtered to that metric's samples."""
    by_label = latest_by_label(runs, task)

    def link(row, column: str) -> str | None:
        step = row.get("checkpoint_step")
        step = None if step is None or step != step else int(step)  # pandas may hand a missing step as NaN
        run = by_label.get(str(row["model"]) if step is None else f"{row['model']} @ step {step}")
        page = explorer.page(run, task) if run is not None and explorer is not None else None
        if page is None or column == "checkpoint_step":
            return None
        return page if column == "model" else page + metric_filter(run.kind(task), column)
    return link


def metric_filter(kind: str | None, metric: str) -> str:
    """The explorer's filter (a URL fragment) for the samples behind one cell of the results table."""
    if m := re.fullmatch(r"acc@(\d+)km", metric):
        return f"#band=le{m.group(1)}"
    if metric in ("parse_rate",):
        return "#outcome=unparsed"
    if metric.startswith("acc_") and metric not in ("acc_macro", "acc_binary_macro"):
        return f"#group={metric.removeprefix('acc_')}"
    if metric in ("median_km", "mean_km", "distance_km"):
        return "#sort=err_desc"
    if metric == "acc":
        return "#outcome=wrong"
    return ""
