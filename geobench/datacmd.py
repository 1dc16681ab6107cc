"""The `geobench data` commands (list, pull, verify) and `geobench eval --download`.

Each command is a thin layer over geobench.datasources: it picks the tasks, asks before a large download
(unless --yes), prints one summary line per task, and turns every failure into one line.
"""

from __future__ import annotations

import os
import sys

import click

from geobench import datasources as ds
from geobench import plugin_manager as plugins
from geobench.api import BenchmarkTask
from geobench.errors import GeobenchError

DATA_DIR = click.option("--data-dir", default=None, envvar="GEOBENCH_DATA", show_envvar=True,
                        help="Folder holding real benchmarks, one subfolder per task (default: $GEOBENCH_HOME/benchmarks).")


def _set_data_dir(data_dir: str | None) -> None:
    if data_dir:
        os.environ["GEOBENCH_DATA"] = data_dir


def benchmark_tasks() -> dict[str, BenchmarkTask]:
    """Every registered task that reads a dataset and declares where it is published."""
    reg = plugins.registry()
    out = {}
    for name in sorted(reg.tasks):
        task = reg.task(name)
        if isinstance(task, BenchmarkTask) and task.source is not None:
            out[name] = task
    return out


def pick(spec: str) -> list[BenchmarkTask]:
    """'all' (every task geobench can pull) or comma-separated task names and aliases."""
    tasks = benchmark_tasks()
    if spec.strip() == "all":
        return [t for t in tasks.values() if t.source.pullable]
    reg = plugins.registry()
    chosen = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        real = reg.real_task_name(name) if name in reg.aliases else name
        if real not in tasks:
            if real in reg.tasks:
                raise GeobenchError(f"task {real!r} has no published data to pull (it is built in)")
            reg.task_factory(name)  # an unknown name: one line with a suggestion
        chosen.append(tasks[real])
    if not chosen:
        raise GeobenchError("no task given", hint="e.g. geobench data pull osv5m (see `geobench data list`)")
    return chosen


@click.group("data")
def data_group():
    """Get the published benchmarks: list them, pull (download, verify, lay out), verify what is on disk."""


@data_group.command("list")
@DATA_DIR
def list_cmd(data_dir):
    """Every task with published data: source, licence, size, status here, and what is confirmed."""
    from geobench.screen import print_table

    _set_data_dir(data_dir)
    rows = []
    for name, task in benchmark_tasks().items():
        src = task.source
        rows.append({"task": name, "kind": ds.kind(task), "source": src.describe() or task.source_text(),
                     "licence": src.licence or "unconfirmed", "size": src.size or "unconfirmed",
                     "status": ds.status(task),
                     "facts": "; ".join(x for x in (f"confirmed: {src.confirmed}" if src.confirmed else "",
                                                    f"unconfirmed: {src.unconfirmed}" if src.unconfirmed else "") if x)})
    print_table(rows, ["task", "kind", "status", "licence", "size", "source", "facts"])
    click.echo(f"data dir: {_root()}  (pull: geobench data pull TASK|all)", err=True)


def _root() -> str:
    from geobench.data import data_root

    return str(data_root())


@data_group.command("pull")
@click.argument("tasks")
@DATA_DIR
@click.option("--revision", default=None, help="Hub revision (branch, tag or commit) instead of the task's pinned one.")
@click.option("--shards", type=click.IntRange(min=1), default=None,
              help="Only the first N shards of a sharded set (e.g. 1 of OSV-5M's 5 test zips).")
@click.option("--yes", "-y", is_flag=True, help=f"Do not ask before downloading more than {ds.human(ds.ASK_ABOVE)}.")
def pull_cmd(tasks, data_dir, revision, shards, yes):
    """Download, verify and lay out TASK[,TASK...] (or all) in the data dir, in the layout its loader reads.

    \b
    A second pull of complete data downloads nothing; a killed pull, run again, keeps the files that were
    complete. Tasks released on request print where to ask and where to put the files, and exit 1.
    """
    _set_data_dir(data_dir)
    chosen = pick(tasks)
    confirm = (lambda _: True) if yes else _ask
    failed = []
    for task in chosen:
        if not task.source.pullable:
            click.echo(ds.on_request_text(task) if ds.kind(task) == "on request" else ds.manual_text(task), err=True)
            failed.append(task.name)
            continue
        try:
            click.echo(ds.pull(task, revision=revision, shards=shards, confirm=confirm,
                               say=lambda s: click.echo(s, err=True)))
        except GeobenchError as e:
            if len(chosen) == 1:
                raise
            click.echo(f"geobench: error: {e}", err=True)  # the other tasks still get pulled
            failed.append(task.name)
    if failed:
        raise click.exceptions.Exit(1)


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return click.confirm(question, default=False, err=True)


@data_group.command("verify")
@click.argument("tasks")
@DATA_DIR
def verify_cmd(tasks, data_dir):
    """Re-check the files of TASK[,TASK...] on disk against the record of their pull (size and CRC-32)."""
    _set_data_dir(data_dir)
    for task in pick(tasks) if tasks != "all" else [t for t in benchmark_tasks().values() if ds.record(t)]:
        click.echo(ds.verify(task))


def pull_missing(spec, yes: bool = False) -> None:
    """`geobench eval --download`: pull the Hub-hosted data of the named tasks (or every task, for 'all' or a
    group) whose data is missing, before the run."""
    from geobench.api import HubSource
    from geobench.selection import split_spec

    reg = plugins.registry()
    names = [n for n in split_spec(spec) if isinstance(n, str)]
    tasks = benchmark_tasks()
    wanted = []
    for name in names:
        if name in tasks or name in reg.aliases:
            wanted.append(tasks.get(name) or tasks.get(reg.real_task_name(name)))
        else:  # 'all' or a group
            wanted += [t for n, t in tasks.items() if name == "all" or reg.group_of(n, t) == name]
    for task in wanted:
        if task is None or not isinstance(task.source, HubSource) or not task.source.pullable:
            continue
        if task.data_status() is None:
            continue
        click.echo(ds.pull(task, confirm=(lambda _: True) if yes else _ask,
                           say=lambda s: click.echo(s, err=True)), err=True)
