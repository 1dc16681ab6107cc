"""The cross-run results table: one row per (run, task or group, metric), rebuilt from the run folders.

`rebuild_tables` writes `results/table.csv`, `table.md` (and `table.parquet` with pyarrow) under a file lock,
so the tables never disagree with the run folders and two concurrent runs cannot clobber each other. The
rest filters, reshapes and exports the table for `geobench results` and the report.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from geobench.atomic import atomic_write, current_umask
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


def load_table(output: str | os.PathLike):
    """A DataFrame of every run folder's results (an empty one with the columns if there is none)."""
    import pandas as pd

    rows = []
    for path in sorted(Path(output).glob("*/results.json")):
        try:
            with open(path, encoding="utf-8") as f:
                rows.extend(run_rows(path.parent, json.load(f)))
        except (OSError, ValueError):
            continue  # an unreadable run folder is skipped, not fatal
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return df.sort_values(["task", "metric", "model", "checkpoint_step", "run"], na_position="first",
                          kind="stable").reset_index(drop=True)


def rebuild_tables(output: str | os.PathLike):
    """Rebuild results/table.csv, table.md (and table.parquet) from the run folders, under a file lock."""
    from filelock import FileLock

    out = Path(output)
    with FileLock(str(out / ".table.lock"), timeout=120):
        df = load_table(out)
        atomic_write(out / "table.csv", df.to_csv(index=False))
        atomic_write(out / "table.md", to_markdown(df) + "\n")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            pass
        else:
            fd, tmp = tempfile.mkstemp(prefix=".table.parquet.", dir=out)
            os.fchmod(fd, 0o666 & ~current_umask())
            os.close(fd)
            try:
                df.astype({"checkpoint_step": "Int64", "n_samples": "Int64"}).to_parquet(tmp, index=False)
                os.replace(tmp, out / "table.parquet")
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return df


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


def to_markdown(df, columns: list[str] | None = None) -> str:
    """A GitHub markdown table without the optional `tabulate` dependency."""
    columns = columns or [c for c in df.columns if c != "date"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in df[columns].itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
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
EXPORT_FORMATS = ("csv", "md", "latex")


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


def latest(df):
    """The newest run's row for each (model, checkpoint_step, task, metric): what a summary should show when
    the same model was evaluated twice."""
    keys = ["model", "checkpoint_step", "task", "metric"]
    return (df.sort_values("date", kind="stable", na_position="first")
              .drop_duplicates(keys, keep="last").sort_index().reset_index(drop=True))


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


def summary_table(df):
    """One row per (model, checkpoint, task) of the latest runs: samples, parse rate, headline metrics as
    `name=value` pairs, and `truncated` (completions that hit max_new_tokens). A group row only where a run
    pooled two or more of its tasks, with the metrics its tasks share. Columns: SUMMARY_COLUMNS + truncated."""
    import pandas as pd

    df = latest(df)
    rows = []
    for (run, task), part in df.groupby(["run", "task"], sort=False):
        group = part["group"].iloc[0]
        values = dict(zip(part["metric"], part["value"], strict=True))
        shown = headline(values)
        if task == group:  # a group's pooled row
            members = df[(df["run"] == run) & (df["group"] == group) & (df["task"] != group)]
            if members["task"].nunique() == 1:
                continue  # it would repeat its one task
            if not members.empty:  # (none: the table was filtered to the group, show it as it is)
                shared = set.intersection(*(set(m["metric"]) for _, m in members.groupby("task")))
                shown = [m for m in shown if m in shared]
        first = part.iloc[0]
        rows.append({"model": first["model"], "checkpoint_step": first["checkpoint_step"], "task": task,
                     "n_samples": first["n_samples"], "parsed": values.get("parse_rate"),
                     "metrics": "  ".join(f"{m}={fmt(values[m])}" for m in shown),
                     "truncated": values.get("truncated"), "_group": task == group})
    out = pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, "truncated", "_group"])
    out = out.sort_values(["model", "checkpoint_step", "_group", "task"], na_position="first", kind="stable")
    return tidy_ints(out.drop(columns="_group")).reset_index(drop=True)


def summary_columns(summary) -> list[str]:
    """The short view's columns: checkpoint_step and truncated only where some row has one."""
    cols = [c for c in SUMMARY_COLUMNS if c != "checkpoint_step" or summary[c].notna().any()]
    cut = [v for v in summary["truncated"] if v is not None and v == v]
    return cols + (["truncated"] if any(cut) else [])


def tidy_ints(df):
    """checkpoint_step and n_samples as ints or None (pandas turns a column of ints with gaps into floats,
    which would print as `500.0000`)."""
    import pandas as pd

    df = df.copy()
    for col in ("checkpoint_step", "n_samples", "truncated"):
        if col in df.columns:
            df[col] = pd.Series([None if pd.isna(v) else v if isinstance(v, str) else int(v) for v in df[col]],
                                index=df.index, dtype=object)  # a string is a cell already formatted
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
