"""The cross-run results table: one row per (run, task or group, metric), rebuilt from the run folders.

`rebuild_tables` writes `results/table.csv` and `table.md` under a file lock,
so the tables never disagree with the run folders and two concurrent runs cannot clobber each other. The
rest filters, reshapes and exports the table for `geobench results` and the report.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from geobench.atomic import atomic_write
from geobench.errors import GeobenchError

TABLE_COLUMNS = ["run", "model", "backend", "checkpoint_step", "task", "group", "metric", "value", "stderr",
                 "n_samples", "date"]


def run_rows(folder: Path, results: dict) -> list[dict]:
    """Flatten one results.json into table rows: one per (task, metric), then one per (group, metric)."""
    cfg = results.get("config", {})
    n_samples = {t: v.get("effective") for t, v in results.get("n-samples", {}).items()}

    def row(task: str, group: str, metric: str, value, stderr, n) -> dict:
        return {"run": folder.name, "model": cfg.get("model"), "backend": cfg.get("backend"),
                "checkpoint_step": cfg.get("checkpoint_step"), "task": task, "group": group, "metric": metric,
                "value": value, "stderr": stderr, "n_samples": n, "date": results.get("date")}

    rows = []
    for task, metrics in results.get("results", {}).items():
        group = results.get("configs", {}).get(task, {}).get("group", "")
        for key, value in metrics.items():
            if "," in key and "_stderr," not in key:
                metric = key.split(",")[0]
                rows.append(row(task, group, metric, value, metrics.get(f"{metric}_stderr,none"),
                                n_samples.get(task)))
    for group, metrics in results.get("groups", {}).items():
        n = sum(n_samples.get(t) or 0 for t in results.get("group_subtasks", {}).get(group, []))
        rows += [row(group, group, key.split(",")[0], value, metrics.get(key.replace(",", "_stderr,", 1)), n)
                 for key, value in metrics.items() if "," in key and "_stderr," not in key]
    return rows


SORT_COLUMNS = ("task", "metric", "model", "checkpoint_step", "run")


def _order(v) -> tuple:
    """Sort key of one cell: missing first (pandas' na_position="first"), then numbers, then text."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return (0, 0)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (1, v)
    return (2, str(v))


def sorted_rows(rows: list[dict], columns=SORT_COLUMNS) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(_order(r.get(c)) for c in columns))


def table_rows(output: str | os.PathLike) -> list[dict]:
    """Every run folder's rows (run_rows), sorted by task, metric, model, checkpoint and run. Plain Python, so
    writing the tables after a run costs no pandas import."""
    rows = []
    for path in sorted(Path(output).glob("*/results.json")):
        try:
            with open(path, encoding="utf-8") as f:
                rows.extend(run_rows(path.parent, json.load(f)))
        except (OSError, ValueError, AttributeError):
            continue  # an unreadable run folder is skipped, not fatal
    return sorted_rows(rows)


def load_table(output: str | os.PathLike):
    """A DataFrame of every run folder's results (an empty one with the columns if there is none)."""
    import pandas as pd

    return pd.DataFrame(table_rows(output), columns=TABLE_COLUMNS)


def records(df) -> list[dict]:
    """A DataFrame's rows as dicts, with None where pandas has NaN."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _csv_cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def table_csv(rows: list[dict]) -> str:
    """results/table.csv's text: TABLE_COLUMNS, empty cells for missing values."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TABLE_COLUMNS)
    w.writerows([_csv_cell(r.get(c)) for c in TABLE_COLUMNS] for r in rows)
    return buf.getvalue()


def _table_files(rows: list[dict]) -> dict[str, str]:
    """results/table.csv and table.md as they should read for these rows."""
    return {"table.csv": table_csv(rows), "table.md": to_markdown(rows) + "\n"}


def rebuild_tables(output: str | os.PathLike) -> list[dict]:
    """Rebuild results/table.csv and table.md from the run folders, under a file lock; no pandas, so a cached
    rerun stays fast. Returns the rows (load_table gives them as a DataFrame; `geobench results --save
    F.parquet` writes parquet). A table.parquet from an older geobench is removed: it would go stale."""
    from filelock import FileLock

    out = Path(output)
    with FileLock(str(out / ".table.lock"), timeout=120):
        rows = table_rows(out)
        for name, text in _table_files(rows).items():
            atomic_write(out / name, text)
        (out / "table.parquet").unlink(missing_ok=True)
    return rows


def tables_agree(output: str | os.PathLike) -> bool:
    """results/table.csv and table.md equal what the run folders give now."""
    out = Path(output)
    try:
        return all((out / name).read_text(encoding="utf-8") == text
                   for name, text in _table_files(table_rows(out)).items())
    except OSError:
        return False


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


def to_markdown(rows, columns: list[str] | None = None) -> str:
    """A GitHub markdown table (rows: a DataFrame or dicts) without the optional `tabulate` dependency."""
    if not isinstance(rows, list):
        columns = columns or [c for c in rows.columns if c != "date"]
        rows = records(rows)
    columns = columns or [c for c in TABLE_COLUMNS if c != "date"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def reference_table():
    """The published numbers (Geo-R1 paper and its baselines) shipped with geobench, with their sources."""
    from importlib import resources

    import pandas as pd

    with resources.files("geobench").joinpath("reference/paper.csv").open() as f:
        return pd.read_csv(f)


def compare_with_reference(df):
    """Rows of `df` (your runs: the latest run per model, task, metric) beside the published numbers for every
    (task, metric) that has one. Columns: task, metric, model, value, source."""
    import pandas as pd

    ref = reference_table()
    keys = set(zip(ref["task"], ref["metric"], strict=True))
    mine = df[[(t, m) in keys for t, m in zip(df["task"], df["metric"], strict=True)]]
    mine = mine.sort_values("date").groupby(["task", "metric", "model"], as_index=False).last()
    mine = mine.assign(source="this run: " + mine["run"].astype(str))
    both = pd.concat([mine[["task", "metric", "model", "value", "source"]],
                      ref[["task", "metric", "model", "value", "source"]]], ignore_index=True)
    return both[both["task"].isin(set(mine["task"]))].sort_values(["task", "metric", "source"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------- filters and exports

DISPLAY_COLUMNS = ["model", "checkpoint_step", "task", "metric", "value", "stderr", "n_samples", "run"]
EXPORT_FORMATS = ("csv", "md", "latex")  # text; parquet_bytes for parquet


def filter_table(df, models=(), tasks=(), metrics=(), checkpoints=(), runs=()):
    """Rows matching every given filter (each a list of allowed values; empty = no filter).

    `checkpoints` holds steps (`500`), `none` (runs that are not training checkpoints) or `last` (each
    model's highest step)."""
    import pandas as pd

    for col, allowed in (("model", models), ("task", tasks), ("metric", metrics), ("run", runs)):
        if allowed:
            df = df[df[col].isin(list(allowed))]
    if checkpoints:
        step = pd.to_numeric(df["checkpoint_step"], errors="coerce")
        keep = pd.Series(False, index=df.index)
        for c in checkpoints:
            c = str(c).strip().lower()
            if c == "none":
                keep |= step.isna()
            elif c == "last":
                keep |= step.notna() & (step == step.groupby(df["model"]).transform("max"))
            elif c.lstrip("-").isdigit():
                keep |= step == int(c)
            else:
                raise GeobenchError(f"bad checkpoint {c!r}", hint="use a step number, 'none' or 'last'")
        df = df[keep]
    return df.reset_index(drop=True)


def latest_rows(rows: list[dict]) -> list[dict]:
    """The newest run's row for each (model, checkpoint_step, task, metric), in their first order: what a
    summary should show when the same model was evaluated twice."""
    keys = ("model", "checkpoint_step", "task", "metric")
    newest = {}
    for i in sorted(range(len(rows)), key=lambda i: _order(rows[i].get("date"))):
        newest[tuple(rows[i].get(k) for k in keys)] = i
    return [rows[i] for i in sorted(newest.values())]


def latest(df):
    """latest_rows of a DataFrame."""
    import pandas as pd

    return pd.DataFrame(latest_rows(records(df)), columns=df.columns)


def wide_table(df, with_stderr: bool = True):
    """One row per (model, checkpoint_step), one column per `task metric`, from the latest runs. Cells are
    strings `value ± stderr` when `with_stderr`, else the numbers."""
    import pandas as pd

    cells: dict[tuple, dict[str, object]] = {}
    columns: dict[str, None] = {}  # first-seen order: tasks and metrics as the runs list them
    for r in latest(df).itertuples(index=False):
        step = None if pd.isna(r.checkpoint_step) else int(r.checkpoint_step)
        column = f"{r.task} {r.metric}"
        columns[column] = None
        cell = r.value
        if with_stderr:
            cell = fmt(r.value) + (f" ± {fmt(r.stderr)}" if fmt(r.stderr) else "")
        cells.setdefault((r.model, step), {})[column] = cell
    order = sorted(cells, key=lambda k: (str(k[0]), -1 if k[1] is None else k[1]))
    wide = pd.DataFrame([{"model": m, **cells[(m, s)]} for m, s in order], columns=["model", *columns])
    wide.insert(1, "checkpoint_step", pd.Series([s for _, s in order], dtype=object))
    return wide


# The short view (`geobench results`, the table after `geobench eval`): one row per task with its headline
# metrics. Known headline metrics come first in this order; rates, counts and per-category breakdowns
# (acc_boats beside acc) stay in the long form (`--long`, table.csv).
HEADLINE = ("acc", "acc@1km", "acc@25km", "acc@200km", "acc@750km", "acc@2500km", "geoscore", "median_km",
            "mean_km", "country_acc", "city_acc", "acc_macro", "chance")
NOT_HEADLINE = ("parse_rate", "format_rate", "truncated", "distance_km")
SUMMARY_COLUMNS = ["model", "checkpoint_step", "task", "n_samples", "parsed", "metrics"]


def headline(metrics) -> list[str]:
    """The metrics a short view shows, in HEADLINE order then the task's own (a plugin's f1, bleu, ...)."""
    names = list(dict.fromkeys(metrics))
    keep = [m for m in names if m not in NOT_HEADLINE and not _breakdown(m, names)]
    return sorted(keep, key=lambda m: (HEADLINE.index(m) if m in HEADLINE else len(HEADLINE), names.index(m)))


def _breakdown(metric: str, names: list[str]) -> bool:
    """acc_boats beside acc: a per-category part of a metric that is there itself."""
    base = metric.split("_", 1)[0]
    return metric not in HEADLINE and "_" in metric and base in names


def summary_rows(rows: list[dict]) -> list[dict]:
    """One row per (model, checkpoint, task) of the latest runs: samples, parse rate, headline metrics as
    `name=value` pairs, and `truncated` (completions that hit max_new_tokens). A group row only where a run
    pooled two or more of its tasks, with the metrics its tasks share. Keys: SUMMARY_COLUMNS + truncated."""
    rows = latest_rows(rows)
    parts: dict[tuple, list[dict]] = {}
    for r in rows:
        parts.setdefault((r["run"], r["task"]), []).append(r)
    out = []
    for (run, task), part in parts.items():
        group = part[0]["group"]
        values = {r["metric"]: r["value"] for r in part}
        shown = headline(values)
        if task == group:  # a group's pooled row
            members: dict[str, set] = {}
            for r in rows:
                if r["run"] == run and r["group"] == group and r["task"] != group:
                    members.setdefault(r["task"], set()).add(r["metric"])
            if len(members) == 1:
                continue  # it would repeat its one task
            if members:  # (none: the table was filtered to the group, show it as it is)
                shared = set.intersection(*members.values())
                shown = [m for m in shown if m in shared]
        first = part[0]
        out.append({"model": first["model"], "checkpoint_step": _int(first["checkpoint_step"]), "task": task,
                    "n_samples": _int(first["n_samples"]), "parsed": values.get("parse_rate"),
                    "metrics": "  ".join(f"{m}={fmt(values[m])}" for m in shown),
                    "truncated": _int(values.get("truncated")), "_group": task == group})
    out = sorted_rows(out, ("model", "checkpoint_step", "_group", "task"))
    return [{k: v for k, v in r.items() if k != "_group"} for r in out]


def summary_table(df):
    """summary_rows of a results DataFrame, as a DataFrame (ints stay ints: object columns)."""
    import pandas as pd

    return pd.DataFrame(summary_rows(records(df)), columns=[*SUMMARY_COLUMNS, "truncated"], dtype=object)


def summary_columns(summary) -> list[str]:
    """The short view's columns: checkpoint_step and truncated only where some row has one."""
    rows = summary if isinstance(summary, list) else records(summary)
    cols = [c for c in SUMMARY_COLUMNS if c != "checkpoint_step" or any(r.get(c) is not None for r in rows)]
    return cols + (["truncated"] if any(r.get("truncated") for r in rows) else [])


def _int(v):
    """A step, count or truncation number as an int (None if missing; a string is a cell already formatted)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v if isinstance(v, str) else int(v)


def tidy_ints(df):
    """checkpoint_step and n_samples as ints or None (pandas turns a column of ints with gaps into floats,
    which would print as `500.0000`)."""
    import pandas as pd

    df = df.copy()
    for col in ("checkpoint_step", "n_samples", "truncated"):
        if col in df.columns:
            df[col] = pd.Series([_int(v) for v in df[col]], index=df.index, dtype=object)
    return df


def export_table(df, fmt: str, wide: bool = False, columns: list[str] | None = None) -> str:
    """The table as CSV, GitHub Markdown or a LaTeX tabular (booktabs). Long format: one row per metric, every
    column in CSV, DISPLAY_COLUMNS (or `columns`) otherwise; `wide`: see wide_table."""
    if fmt not in EXPORT_FORMATS:
        raise GeobenchError(f"unknown format {fmt!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}")
    if wide:
        df = wide_table(df, with_stderr=fmt != "csv")
        columns = list(df.columns)
    else:
        df = tidy_ints(df)
        columns = columns or (list(df.columns) if fmt == "csv" else DISPLAY_COLUMNS)
    if fmt == "csv":
        return df[columns].to_csv(index=False)
    if fmt == "md":
        return to_markdown(df, columns) + "\n"
    return to_latex(df, columns)


def parquet_bytes(df, wide: bool = False) -> bytes:
    """The table (long, or `wide`: see wide_table) as parquet, steps and counts as integers."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise GeobenchError("writing parquet needs pyarrow", hint="pip install pyarrow, or save as .csv") from None
    if wide:
        df = wide_table(df, with_stderr=False)
    else:
        df = df.astype({c: "Int64" for c in ("checkpoint_step", "n_samples") if c in df.columns})
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def _latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(df, columns: list[str]) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); numbers right-aligned, text left-aligned."""
    def numeric(values) -> bool:
        cells = [fmt(v) for v in values]
        return all(c.replace(" ± ", "").replace(".", "").replace("-", "").isdigit() for c in cells if c)

    align = "".join("r" if numeric(df[c]) else "l" for c in columns)
    lines = [f"\\begin{{tabular}}{{{align}}}", "\\toprule", " & ".join(_latex(c) for c in columns) + " \\\\",
             "\\midrule"]
    lines += [" & ".join(_latex(fmt(v)) for v in row) + " \\\\" for row in df[columns].itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
