"""`scaffold()`: fact-checked chain-of-thought SFT data for a task, written as one folder (never half-written).

Geo-R1's "geospatial thinking scaffolding": reasoning from templates or a teacher (`teacher.py`), every exemplar
through the same `fact_check`, rejected ones counted by reason. The folder, written to a temp sibling and then
renamed:
  train.jsonl          {"messages": [user, assistant], "images": ["images/<sha>.png", ...], "task", "doc_id",
                       "split", "source", "style"}: TRL's conversational VLM SFT format (an {"type": "image"}
                       placeholder per entry of "images", in order); `geobench.sftdata.load(folder)` reads it
  images/              every referenced image, content-addressed (a tile shared by several docs is stored once)
  rejected.jsonl       the rejected exemplars with their reasons (for inspecting a teacher)
  scaffold_report.json kept / rejected counts, reasons, settings, timings
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geobench import messages as chat
from geobench import plugin_manager
from geobench.api import GenConfig, ImageRef, ScaffoldItem, Task
from geobench.args import parse_kv, positive_int
from geobench.atomic import atomic_dir
from geobench.errors import GeobenchError
from geobench.selection import task_from_spec
from geobench.trainers.scaffold.factcheck import REASONS, fact_check
from geobench.trainers.scaffold.items import prepare
from geobench.trainers.scaffold.settings import DEFAULT_TOLERANCE_KM, REPORT_FILE, STYLES
from geobench.trainers.scaffold.teacher import TEACHER_GEN, TEACHER_HINT, resolve_teacher, teacher_texts
from geobench.trainers.scaffold.templates import template


def _image_ext(raw: bytes, path: str | None) -> str:
    if raw.startswith(b"\x89PNG"):
        return ".png"
    if raw[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return ".webp"
    ext = os.path.splitext(path or "")[1].lower()
    return ext if ext and len(ext) <= 6 else ".img"


class _ImageStore:
    """Copies (or hard-links) images into <folder>/images/ under content-addressed names, each once."""

    def __init__(self, folder: Path, link: bool):
        self.dir = folder / "images"
        self.dir.mkdir()
        self.link = link
        self.by_path: dict[str, str] = {}

    def add(self, ref: ImageRef) -> str:
        if ref.path is not None and ref.path in self.by_path:
            return self.by_path[ref.path]
        raw = ref.read_bytes()
        name = hashlib.sha256(raw).hexdigest()[:20] + _image_ext(raw, ref.path)
        target = self.dir / name
        if not target.exists():
            done = False
            if self.link and ref.path is not None:
                try:
                    os.link(ref.path, target)
                    done = True
                except OSError:
                    done = False
            if not done:
                target.write_bytes(raw)
        rel = f"images/{name}"
        if ref.path is not None:
            self.by_path[ref.path] = rel
        return rel


def to_record(task: Task, item: ScaffoldItem, text: str, store: _ImageStore, source: str, style: str | None,
              split: str) -> dict[str, Any]:
    """One train.jsonl row: the task's prompt with {"type": "image"} placeholders, the images in order, the
    assistant turn, and provenance."""
    images: list[str] = []

    def placeholder(ref: ImageRef, _k: int) -> dict:
        images.append(store.add(ref))
        return {"type": "image"}

    messages = chat.convert(task.to_messages(item.doc), image=placeholder,
                            text=lambda s: {"type": "text", "text": s}, keep_strings=False, where="scaffold")
    messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    return {"messages": messages,
            "images": images, "task": task.name, "doc_id": item.doc.id, "split": split, "source": source,
            "style": style}


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise GeobenchError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise GeobenchError(f"output folder {out} exists and is not empty", hint="choose a new folder")
    return out


def _dump(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


# ---------------------------------------------------------------------------------------------- the API


def scaffold(task: str | Task, out_dir: str | os.PathLike, split: str = "train", limit: int | None = None,
             style: str = "short", teacher: Any = None, seed: int = 0, *, tolerance_km: float = DEFAULT_TOLERANCE_KM,
             teacher_gen: GenConfig | dict | str | None = None, task_args: str | dict | None = None,
             link_images: bool = False, use_cache: bool = True, progress: bool = False, registry=None,
             cues: Iterable[str] | None = None) -> dict:
    """Write fact-checked SFT exemplars of `task`'s `split` into `out_dir` (new or empty); return the report.

    `teacher`: None (templates in `style`), or a Backend / model string / {"model", "backend", "args"} that
    writes the reasoning from a hint with the true answer. `seed` varies the full template's wording and is
    the teacher's sampling seed. `tolerance_km`: how far a stated point may lie from the truth. `cues`:
    the cross-view attributes a template names (default all).
    """
    started = time.perf_counter()
    if style not in STYLES:
        raise GeobenchError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    positive_int("--limit", limit, optional=True)
    if not tolerance_km > 0:
        raise GeobenchError(f"tolerance must be > 0 km, got {tolerance_km}")
    out = check_out_dir(out_dir)
    task_obj = task_from_spec(registry or plugin_manager.registry(), task, task_args)
    source = "teacher" if teacher is not None else "template"
    items = prepare(task_obj, split, limit, need_template=source == "template", tolerance_km=tolerance_km)
    cues = _check_cues(cues, items)
    t_prepared = time.perf_counter()

    teacher_info = None
    if source == "teacher":
        backend = resolve_teacher(teacher, registry)
        gen = TEACHER_GEN
        if isinstance(teacher_gen, GenConfig):
            gen = teacher_gen
        elif teacher_gen:
            gen = gen.updated(**parse_kv(teacher_gen, "--teacher-gen-kwargs"))
        if gen.do_sample and gen.seed is None:
            gen = gen.updated(seed=seed)
        texts = teacher_texts(task_obj, items, backend, gen, use_cache=use_cache, progress=progress)
        teacher_info = {"model": getattr(backend, "model_id", type(backend).__name__), "backend": backend.name,
                        "fingerprint": backend.fingerprint(), "gen": json.loads(gen.canonical()),
                        "hint": TEACHER_HINT}
    else:
        texts = [template(it, style, seed, cues) for it in items]
    t_generated = time.perf_counter()

    with atomic_dir(out) as tmp:
        store = _ImageStore(tmp, link_images)
        kept, rejected = [], []
        reasons: Counter[str] = Counter()
        for it, text in zip(items, texts, strict=True):
            why = fact_check(text, it.truth, functools.partial(task_obj.extract, it.doc))
            if cues and _cue_matches(it, cues) != 1:
                why = [*why, "ambiguous_cues"]
            if why:
                reasons.update(why)
                rejected.append({"task": task_obj.name, "doc_id": it.doc.id, "split": split, "source": source,
                                 "text": text, "reasons": why})
            else:
                kept.append(to_record(task_obj, it, text.strip(), store, source,
                                      style if source == "template" else None, split))
        (tmp / "train.jsonl").write_text(_dump(kept), encoding="utf-8")
        (tmp / "rejected.jsonl").write_text(_dump(rejected), encoding="utf-8")
        report = {
            "task": task_obj.name, "task_version": task_obj.version, "split": split, "source": source,
            "style": style if source == "template" else None, "seed": seed, "limit": limit,
            "cues": list(cues) if cues else None,
            "tolerance_km": tolerance_km, "teacher": teacher_info,
            "n_docs": len(items), "kept": len(kept), "rejected": len(rejected),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "reason_descriptions": REASONS, "n_images": len(list(store.dir.iterdir())),
            "files": {"train": "train.jsonl", "rejected": "rejected.jsonl", "images": "images/"},
            "seconds": {"prepare": round(t_prepared - started, 3), "generate": round(t_generated - t_prepared, 3),
                        "check_and_write": round(time.perf_counter() - t_generated, 3)},
        }
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    report["out"] = str(out)
    report["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return report


def _check_cues(cues: Iterable[str] | None, items: list[ScaffoldItem]) -> tuple[str, ...] | None:
    """`cues` as a tuple; a name no cross-view item carries is a one-line error (a typo would empty the think)."""
    if not cues:
        return None
    cues = tuple(cues)
    known = {k for it in items if it.truth.kind == "crossview" for k in (it.facts.get("attrs") or {})}
    unknown = [c for c in cues if c not in known]
    if unknown:
        raise GeobenchError(f"--cues: unknown attribute(s) {', '.join(unknown)}",
                            hint=f"known: {', '.join(sorted(known))}" if known else "only cross-view tasks with "
                            "tile attributes (the toy world) have cues")
    return cues


def _cue_matches(item: ScaffoldItem, cues: tuple[str, ...]) -> int:
    """How many candidates look like the ground view on `cues` (1 = the cues single out the answer)."""
    ground = item.facts.get("attrs") or {}
    return sum(all(str((attrs or {}).get(c)) == str(ground.get(c)) for c in cues)
               for attrs in item.truth.candidates.values())



def report_rows(report: dict) -> list[dict]:
    rows = [{"reason": "kept", "count": report["kept"], "meaning": "passed every check"}]
    rows += [{"reason": r, "count": n, "meaning": REASONS.get(r, "")} for r, n in report["reasons"].items()]
    rows.append({"reason": "rejected (exemplars)", "count": report["rejected"],
                 "meaning": "an exemplar may fail several checks"})
    return rows
