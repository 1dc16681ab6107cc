"""What `geobench tasks` shows: one short row per task, and everything about one task (`geobench tasks NAME`).

The list stays narrow (data: available / missing, and how to get it), because a full missing-data message names
every file; the one-task view gives those files one per line, the data folder, the source and the metrics.
"""

from __future__ import annotations

import dataclasses

from geobench import datasources
from geobench.api import BenchmarkTask, Task, UrlSource
from geobench.plugin_manager import Registry
from geobench.selection import config_keys, unknown_task

LIST_METRICS = 4  # metrics named in the list; the rest are counted (all of them: `geobench tasks NAME`)


def list_row(reg: Registry, name: str, task: Task) -> dict:
    """The row of `geobench tasks`: name, group, version, data status in a few words, metrics."""
    metrics = list(task.higher_is_better)
    shown = ", ".join(metrics[:LIST_METRICS]) + (f", +{len(metrics) - LIST_METRICS} more"
                                                 if len(metrics) > LIST_METRICS else "")
    return {"name": name, "group": reg.group_of(name, task), "version": task.version,
            "data": data_word(task), "metrics": shown}


def data_word(task: Task) -> str:
    """available, or missing with how to get it in a word: pull (`geobench data pull NAME`), on request, manual."""
    missing = task.data_status()
    if missing is None:
        return "available"
    if isinstance(task, BenchmarkTask) and task.source is not None:
        return "missing (pull)" if task.pull_command() else f"missing ({datasources.kind(task)})"
    return "missing"


def details(reg: Registry, name: str) -> list[tuple[str, str]]:
    """Everything about one task (a name or alias), as (field, value) lines."""
    if name not in reg.tasks and name not in reg.aliases:
        raise unknown_task(reg, name)
    real = reg.real_task_name(name)
    task = reg.task(real)
    aliases = sorted(a for a, t in reg.aliases.items() if t == real)
    out = [("task", real + (f" (aliases: {', '.join(aliases)})" if aliases else "")),
           ("group", reg.group_of(real, task) or "none"), ("version", str(task.version))]
    if task.description:
        out.append(("about", task.description))
    out.append(("plugin", reg.owner.get(("task", real), "?")))
    out += _data_fields(task)
    hib = task.higher_is_better
    sides = [f"{', '.join(names)} ({word} is better)" for word, up in (("higher", True), ("lower", False))
             if (names := [m for m, h in hib.items() if bool(h) is up])]
    out.append(("metrics", "; ".join(sides) or "none declared"))
    if getattr(task, "reward_metric", ""):
        out.append(("reward", f"{task.reward_metric} (GRPO's accuracy reward)"))
    gen = {k: v for k, v in dataclasses.asdict(task.default_gen).items() if v not in (None, (), [])}
    out.append(("generation", ", ".join(f"{k}={v}" for k, v in gen.items())))
    keys = config_keys(reg.task_factory(real))
    if keys:
        out.append(("task args", ", ".join(keys) + f"  (--tasks {real} --task-args k=v,...)"))
    return out


def _data_fields(task: Task) -> list[tuple[str, str]]:
    if not isinstance(task, BenchmarkTask):
        why = task.data_status()
        return [("data", "available" if why is None else why)]
    root = task.root()
    out = [("data", f"{datasources.status(task)} (default split: {task.split})"), ("folder", f"{root}/")]
    for split in getattr(task, "splits", ()) or (task.split,):
        try:
            expected = task.expected(split)
        except Exception as e:  # noqa: BLE001 - a plugin's expected() may reject a split it lists
            out.append((f"split {split}", f"cannot tell: {e}"))
            continue
        absent = [e for e in expected if not (root / e).exists()]
        if not absent:
            out.append((f"split {split}", "all there" if expected else "nothing declared"))
        else:
            out.append((f"split {split}", f"missing {len(absent)} of {len(expected)}:\n" + "\n".join(absent)))
    src = task.source
    if src is None:
        out.append(("source", task.source_text()))
        return out
    kind, where = datasources.kind(task), src.describe() or task.source_text()
    if isinstance(src, UrlSource) and src.entries():
        where = "\n".join(e.url for e in src.entries())  # one URL a line: whole, so it can be copied
    out.append(("source", where if where.startswith(kind) else f"{kind}:{chr(10) if chr(10) in where else ' '}{where}"))
    if src.homepage and src.homepage not in (src.describe() or ""):
        out.append(("homepage", src.homepage))
    for field, label in (("where", "ask at"), ("instructions", "what to get")):
        if getattr(src, field, ""):
            out.append((label, getattr(src, field)))
    out.append(("licence", src.licence or "unconfirmed"))
    out.append(("size", src.size or "unconfirmed"))
    pull = task.pull_command()
    out.append(("get it", pull if pull else f"put the files in {root}/ (geobench cannot download it)"))
    return out
