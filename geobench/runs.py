"""Run folders read back for the report: results.json, the samples files (read on first use) and which
runs and training folders a `geobench report` command line names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench import stats
from geobench.errors import GeobenchError
from geobench.results import read_jsonl

KINDS = ("geolocation", "crossview", "scene")


@dataclass
class Run:
    """One run folder, with its samples read on first use."""

    folder: Path
    results: dict[str, Any]
    _samples: dict[str, list[dict]] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        return self.results.get("config") or {}

    @property
    def model(self) -> str:
        return str(self.config.get("model") or self.folder.name)

    @property
    def step(self) -> int | None:
        step = self.config.get("checkpoint_step")
        return None if step is None else int(step)

    @property
    def label(self) -> str:
        return self.model if self.step is None else f"{self.model} @ step {self.step}"

    @property
    def date(self) -> float:
        return float(self.results.get("date") or 0.0)

    @property
    def tasks(self) -> list[str]:
        return list(self.results.get("results", {}))

    def metrics(self, task: str) -> list[str]:
        return [k.split(",")[0] for k in self.results["results"].get(task, {})
                if "," in k and "_stderr," not in k]

    def kind(self, task: str) -> str | None:
        """geolocation / crossview / scene, from the task's group (or its metrics, for a plugin's task)."""
        group = (self.results.get("configs", {}).get(task) or {}).get("group", "")
        if group in KINDS:
            return group
        metrics = set(self.metrics(task))
        return "geolocation" if "median_km" in metrics else "crossview" if "chance" in metrics else None

    def samples(self, task: str) -> list[dict]:
        if task not in self._samples:
            path = self.folder / f"samples_{task}.jsonl"
            self._samples[task] = read_jsonl(path) if path.is_file() else []
        return self._samples[task]

    def values(self, task: str, metric: str) -> list[float]:
        out = []
        for s in self.samples(task):
            v = (s.get("metrics") or {}).get(metric)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                out.append(float(v))
        return out

    def interval(self, task: str, metric: str) -> dict | None:
        """{value, lo, hi, n}: from the samples (Wilson for 0/1 metrics), else the results' mean +/- 1.96 stderr."""
        vals = self.values(task, metric)
        if vals:
            value, lo, hi = stats.interval(vals)
            return {"value": value, "lo": lo, "hi": hi, "n": len(vals)}
        res = self.results["results"].get(task, {})
        value = res.get(f"{metric},none")
        if not isinstance(value, int | float):
            return None
        se = res.get(f"{metric}_stderr,none")
        half = stats.Z95 * se if isinstance(se, int | float) and math.isfinite(se) else math.nan
        return {"value": float(value), "lo": value - half, "hi": value + half, "n": None}

    def train_dir(self) -> Path | None:
        """The training output folder this checkpoint came from, if its train_log.jsonl is still there."""
        if self.step is None:
            return None
        model = (self.config.get("backend_config") or {}).get("model") or self.config.get("model") or ""
        path = Path(str(model))
        for folder in (path.parent, path.parent.parent):  # <out>/checkpoint-N, or <out>/checkpoint-N/merged
            if str(folder) not in ("", ".") and (folder / "train_log.jsonl").is_file():
                return folder
        return None


def load_run(folder: Path) -> Run:
    path = folder / "results.json"
    try:
        with open(path, encoding="utf-8") as f:
            return Run(folder, json.load(f))
    except (OSError, ValueError) as e:
        raise GeobenchError(f"cannot read {path}: {e}") from None


def collect(paths: list[str], results_dir: str, train_dirs: list[str] = ()) -> tuple[list[Run], list[Path]]:
    """Runs and training folders for a report. Each path is a run folder, a run name under `results_dir`, a
    results folder (all its runs) or a training folder. No run given: every run under `results_dir`; only
    training folders given: the runs of their checkpoints. Training folders of checkpoint runs are found too."""
    runs: dict[Path, Run] = {}
    trains = [Path(t) for t in train_dirs]
    for t in trains:
        if not (t / "train_log.jsonl").is_file():
            raise GeobenchError(f"no train_log.jsonl in {str(t)!r}", hint="pass a training output_dir")
    gave_runs = False
    for arg in paths:
        p = Path(arg)
        if not p.exists() and (Path(results_dir) / arg).exists():
            p = Path(results_dir) / arg
        if (p / "results.json").is_file():
            runs[p.resolve()] = load_run(p)
            gave_runs = True
        elif (p / "train_log.jsonl").is_file():
            trains.append(p)
        elif p.is_dir() and any(p.glob("*/results.json")):
            runs.update({q.parent.resolve(): load_run(q.parent) for q in sorted(p.glob("*/results.json"))})
            gave_runs = True
        else:
            raise GeobenchError(f"{arg!r} is not a run folder, a results folder or a training folder",
                                hint=f"runs are folders with results.json, e.g. under {results_dir}/")
    if not gave_runs and Path(results_dir).is_dir():
        every = [load_run(q.parent) for q in sorted(Path(results_dir).glob("*/results.json"))]
        wanted = {t.resolve() for t in trains}
        runs = {r.folder.resolve(): r for r in every
                if not paths or (r.train_dir() is not None and r.train_dir().resolve() in wanted)}
    for r in runs.values():
        if r.train_dir() is not None:
            trains.append(r.train_dir())
    unique = list({t.resolve(): t for t in trains}.values())
    if not runs and not unique:
        raise GeobenchError(f"nothing to report: no runs under {results_dir!r} and no training folder",
                            hint="run `geobench eval` first, or pass run folders / --results / --train-dir")
    return sorted(runs.values(), key=lambda r: (r.model, r.step if r.step is not None else -1, r.date)), unique


def latest_by_label(runs: list[Run], task: str) -> dict[str, Run]:
    """The newest run of each model/checkpoint that has `task`, in model and step order."""
    out: dict[str, Run] = {}
    for r in runs:
        if task in r.tasks and (r.label not in out or r.date >= out[r.label].date):
            out[r.label] = r
    return dict(sorted(out.items(), key=lambda kv: (kv[1].model, kv[1].step if kv[1].step is not None else -1)))


def tasks_of(runs: list[Run], kind: str | None = None) -> list[str]:
    """Tasks in first-seen order (of one kind, if given)."""
    seen: dict[str, None] = {}
    for r in runs:
        for t in r.tasks:
            if kind is None or r.kind(t) == kind:
                seen[t] = None
    return list(seen)


def collect_compare(paths: list[str], results_dir: str, train_dirs: list[str],
                    compare: tuple[str, str] | None) -> tuple[list[Run], list[Path], tuple[Run, Run] | None]:
    """`collect` plus `--compare A B`: both runs join the report (alone, when no other run is named) and come
    back as the pair to compare."""
    if not compare:
        return *collect(paths, results_dir, train_dirs), None
    folders = []
    for arg in compare:
        p = Path(arg) if Path(arg).exists() or not (Path(results_dir) / arg).exists() else Path(results_dir) / arg
        if not (p / "results.json").is_file():
            raise GeobenchError(f"--compare {arg!r} is not a run folder", hint=f"pass two run folders or run names "
                                f"under {results_dir}/ (folders with results.json)")
        folders.append(p.resolve())
    if folders[0] == folders[1]:
        raise GeobenchError(f"--compare names the same run twice ({compare[0]!r})", hint="pass two different runs")
    runs, trains = collect([str(f) for f in folders] + list(paths), results_dir, train_dirs)
    by_folder = {r.folder.resolve(): r for r in runs}
    return runs, trains, (by_folder[folders[0]], by_folder[folders[1]])
