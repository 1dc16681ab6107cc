"""`geobench samples`: a run's samples in the terminal (a table), or as JSON lines or CSV for other tools.

Each sample is right, wrong or unparsed by one 0/1 per-sample metric: `--metric`, else `acc`, else `acc@25km`
(geolocation), else the task's first 0/1 metric. The run folders are read through geobench.runs.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import click

from geobench import runs
from geobench.errors import GeobenchError

DECIDERS = ("acc", "acc@25km")  # the metric that makes a sample right or wrong, when --metric is not given
SHOWN = 80  # characters of a completion in the table (all of it: --full, or --format jsonl/csv)
FORMATS = ("table", "jsonl", "csv")


def find_run(run: str | None, results_dir: str) -> runs.Run:
    """A run folder, a run name under `results_dir`, the newest run whose name starts with `run`, or (None) the
    newest run of all."""
    if run is not None:
        for p in (Path(run), Path(results_dir) / run):
            if (p / "results.json").is_file():
                return runs.load_run(p)
    folders = sorted(Path(results_dir).glob("*/results.json")) if Path(results_dir).is_dir() else []
    found = [runs.load_run(p.parent) for p in folders if run is None or p.parent.name.startswith(run)]
    if not found:
        what = f"no run {run!r}" if run else "no runs"
        raise GeobenchError(f"{what} under {results_dir!r}",
                            hint="pass a run folder or name (see `geobench results --long`), or --results DIR")
    newest = max(found, key=lambda r: (r.date, r.folder.name))
    if run is None or newest.folder.name != run:
        click.echo(f"run: {newest.folder}", err=True)
    return newest


def decider(run: runs.Run, task: str, samples: list[dict], metric: str | None) -> str:
    """The 0/1 per-sample metric that says right or wrong for `task`."""
    names = list(dict.fromkeys(k for s in samples for k in (s.get("metrics") or {})))
    if metric is not None:
        if metric not in names:
            raise GeobenchError(f"task {task!r} has no per-sample metric {metric!r}",
                                hint=f"known: {', '.join(names) or 'none'}")
        if not _binary(samples, metric):
            raise GeobenchError(f"{metric!r} is not right/wrong (0 or 1) per sample in {task!r}",
                                hint=f"0/1 metrics: {', '.join(m for m in names if _binary(samples, m)) or 'none'}")
        return metric
    declared = list((run.results.get("higher_is_better") or {}).get(task, {})) or names
    for m in [*DECIDERS, *declared, *names]:
        if m in names and m not in ("parse_rate", "format_rate") and _binary(samples, m):
            return m
    raise GeobenchError(f"task {task!r} has no 0/1 per-sample metric to tell right from wrong",
                        hint=f"its metrics: {', '.join(names) or 'none'}")


def _binary(samples: list[dict], metric: str) -> bool:
    values = [(s.get("metrics") or {}).get(metric) for s in samples]
    return all(v in (0, 1, 0.0, 1.0, None) for v in values) and any(v is not None for v in values)


def status(sample: dict, metric: str) -> str:
    """right, wrong or unparsed (no answer could be read: parse_rate 0, or nothing parsed)."""
    m = sample.get("metrics") or {}
    if m.get("parse_rate") == 0 or ("parse_rate" not in m and sample.get("parsed") is None):
        return "unparsed"
    return "right" if m.get(metric) == 1 else "wrong"


def select(run: runs.Run, tasks: tuple[str, ...], wrong: bool, unparsed: bool, metric: str | None,
           limit: int | None) -> tuple[list[dict], dict[str, str]]:
    """The samples asked for, each with `task` and `status`, and the deciding metric of each task."""
    for t in tasks:
        if t not in run.tasks:
            raise GeobenchError(f"run {run.folder.name!r} has no task {t!r}", hint=f"its tasks: {', '.join(run.tasks)}")
    out, deciders = [], {}
    for task in tasks or run.tasks:
        samples = run.samples(task)
        if not samples:
            continue
        deciders[task] = decider(run, task, samples, metric)
        for s in samples:
            st = status(s, deciders[task])
            if (wrong and st == "right") or (unparsed and st != "unparsed"):
                continue
            out.append({"task": task, "status": st, **s})
            if limit is not None and len(out) >= limit:
                return out, deciders
    return out, deciders


def one_line(text, size: int | None) -> str:
    """A completion on one line (whitespace collapsed), cut to `size` characters with '…' (None: whole)."""
    flat = re.sub(r"\s+", " ", str(text or "")).strip()
    return flat if size is None or len(flat) <= size else flat[: size - 1] + "…"


def table_rows(samples: list[dict], deciders: dict[str, str], full: bool) -> tuple[list[dict], list[str]]:
    rows = []
    for s in samples:
        m = s.get("metrics") or {}
        parsed = s.get("parsed")
        rows.append({"task": s["task"], "doc_id": s.get("doc_id"), "status": s["status"],
                     "km": m.get("distance_km"), "parsed": parsed if isinstance(parsed, str) or parsed is None
                     else json.dumps(parsed), "tokens": s.get("n_tokens"),
                     "completion": one_line(s.get("completion"), None if full else SHOWN)})
    columns = ["doc_id", "status", "km", "parsed", "tokens", "completion"]
    if len({s["task"] for s in samples}) > 1:
        columns.insert(0, "task")
    if all(r["km"] is None for r in rows):
        columns.remove("km")
    return rows, columns


def to_csv(samples: list[dict]) -> str:
    """One row per sample: task, doc id, status, parsed answer (JSON unless text), tokens, finish reason,
    completion, then one column per metric."""
    metrics = list(dict.fromkeys(k for s in samples for k in (s.get("metrics") or {})))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "doc_id", "status", "parsed", "n_tokens", "finish_reason", "completion", *metrics])
    for s in samples:
        parsed = s.get("parsed")
        m = s.get("metrics") or {}
        w.writerow([s["task"], s.get("doc_id"), s["status"],
                    parsed if isinstance(parsed, str) or parsed is None else json.dumps(parsed),
                    s.get("n_tokens"), s.get("finish_reason"), s.get("completion"), *[m.get(k) for k in metrics]])
    return buf.getvalue()


@click.command("samples")
@click.argument("run", required=False)
@click.option("--results", "-r", "results_dir", default="results", show_default=True,
              help="Results folder that run names refer to.")
@click.option("--task", "-t", "tasks", multiple=True, help="Only this task (repeatable; default: every task of the run).")
@click.option("--wrong", is_flag=True, help="Only samples that are not right (wrong or unparsed).")
@click.option("--unparsed", is_flag=True, help="Only samples whose answer could not be read.")
@click.option("--metric", default=None,
              help="The 0/1 per-sample metric that says right or wrong (default: acc, else acc@25km, else the first).")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N samples.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: one line each, completions shortened; jsonl: the samples-file rows with task and status; "
                   "csv: one column per metric.")
@click.option("--full", is_flag=True, help="In the table, the whole completion (wrapped), not its first 80 characters.")
def samples_cmd(run, results_dir, tasks, wrong, unparsed, metric, limit, fmt, full):
    """Print a run's samples: completion, parsed answer, right/wrong/unparsed and metrics.

    \b
    RUN is a run folder, a run name under --results, or the start of one (the newest match); no RUN: the
    newest run. Examples:
      geobench samples tiny --task geoloc_toy --wrong --limit 20
      geobench samples results/tiny__20261207-120000 --format jsonl | jq .completion
      geobench samples --format csv > samples.csv
    """
    r = find_run(run, results_dir)
    chosen, deciders = select(r, tasks, wrong, unparsed, metric, limit)
    if fmt == "jsonl":
        for s in chosen:
            click.echo(json.dumps(s, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(to_csv(chosen), nl=False)
    else:
        from geobench.screen import print_table

        rows, columns = table_rows(chosen, deciders, full)
        if rows:
            print_table(rows, columns)
        counts = {st: sum(s["status"] == st for s in chosen) for st in ("right", "wrong", "unparsed")}
        how = ", ".join(f"{t}: right = {m} is 1" for t, m in deciders.items())
        more = "; whole completions: --full or --format jsonl" if not full and any(
            len(str(s.get("completion") or "")) > SHOWN for s in chosen) else ""
        click.echo(f"{len(chosen)} samples ({', '.join(f'{n} {st}' for st, n in counts.items())}); {how}{more}",
                   err=True)
    sys.stdout.flush()
