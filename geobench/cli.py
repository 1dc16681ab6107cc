"""The `geobench` command line: eval, tasks, plugins, results, plus whatever plugins add.

User errors are one line on stderr and exit code 2, never a traceback (GEOBENCH_DEBUG=1 shows it). This module
and the plugins it loads must not import torch: `geobench --help` and `geobench tasks` stay fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from geobench import plugin_manager as plugins
from geobench.errors import GeobenchError
from geobench.screen import print_fields, print_table  # noqa: F401 - print_table is public here too


def _debug() -> bool:
    return os.environ.get("GEOBENCH_DEBUG", "").lower() in ("1", "true", "yes")


DATA_DIR = click.option("--data-dir", default=None, envvar="GEOBENCH_DATA", show_envvar=True,
                        help="Folder holding real benchmarks, one subfolder per task (default: $GEOBENCH_HOME/benchmarks).")


def _set_data_dir(data_dir: str | None) -> None:
    if data_dir:
        os.environ["GEOBENCH_DATA"] = data_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="geobench")
@click.option("--strict-plugins", is_flag=True, help="Fail when any plugin fails to load (default: warn).")
def cli(strict_plugins: bool):
    """Evaluate and post-train vision-language models on geospatial reasoning.

    \b
    Quick start (offline, CPU):
      geobench eval --model tiny --tasks all      # built-in tiny model on every task with data
      geobench tasks                              # what is registered, and whether its data is there
      geobench results                            # the results table of every run under results/
    """


@cli.command("eval")
@click.option("--model", "-m", required=True, help="Hub id, local folder, or a registered name (e.g. tiny).")
@click.option("--tasks", "-t", default="all", show_default=True,
              help="Comma-separated task names, groups, or 'all' (every task whose data is available).")
@click.option("--backend", "-b", default="hf", show_default=True,
              help="Model backend: hf, vllm, openai, lm-eval, dummy, or a plugin's (see `geobench plugins`).")
@click.option("--model-args", default=None, help="k=v,... passed to the backend (dtype, device, max_pixels, ...).")
@click.option("--batch-size", default="1", show_default=True, help="Integer or 'auto'. 1 is the reference mode.")
@click.option("--gen-kwargs", default=None, help="k=v,... generation overrides (max_new_tokens, do_sample, ...).")
@click.option("--limit", type=int, default=None, help="Evaluate only the first N docs of each task.")
@click.option("--seed", type=int, default=None, help="Seed for python/numpy and for sampling (enables caching).")
@click.option("--output", "-o", default="results", show_default=True, help="Results folder.")
@click.option("--run-name", default=None, help="Run folder name (default: <model>__<timestamp>).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the response cache.")
@click.option("--cache-path", default=None, help="Response cache file (default: $GEOBENCH_HOME/responses.sqlite).")
@click.option("--checkpoint-step", type=int, default=None, help="Training step to record (default: from path).")
@click.option("--task-args", default=None,
              help="k=v,... task config when one task is named (e.g. k=2,difficulty=easy for crossview_toy).")
@click.option("--preset", default=None,
              help="Model preset (prompt suffix, generation and pixel defaults; see `geobench plugins`), or none.")
@click.option("--system-prompt", default=None,
              help="A system message for every request: TEXT, or @FILE. Recorded in results.json; part of the cache key.")
@click.option("--prompt-template", default=None,
              help="Rewrite each task's prompt text: TEXT, @FILE or FILE with {prompt} (the task's text) and/or "
                   "{question} (the same without the think/answer instruction). Recorded; part of the cache key.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="A bad sample (corrupt image, bad row): stop with one line, or skip it and count it per reason.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary lines on stderr.")
@click.option("--download", is_flag=True,
              help="First pull the missing Hub-hosted data of the tasks (as `geobench data pull`).")
@DATA_DIR
def eval_cmd(model, tasks, backend, model_args, batch_size, gen_kwargs, limit, seed, output, run_name, no_cache,
             cache_path, checkpoint_step, task_args, preset, system_prompt, prompt_template, on_error, quiet, download,
             data_dir):
    """Evaluate a model on tasks; writes results/<run>/ and rebuilds results/table.csv."""
    from geobench.evaluator import evaluate
    from geobench.messages import read_prompt

    _set_data_dir(data_dir)
    if download:
        from geobench.datacmd import pull_missing

        pull_missing(tasks)
    res = evaluate(model, tasks, backend=backend, model_args=model_args, batch_size=batch_size,
                   gen_kwargs=gen_kwargs, limit=limit, seed=seed, output=output, run_name=run_name,
                   use_cache=not no_cache, cache_path=cache_path, checkpoint_step=checkpoint_step,
                   task_args=task_args, preset=preset, on_error=on_error, progress=not quiet,
                   system_prompt=read_prompt(system_prompt, "--system-prompt"),
                   prompt_template=read_prompt(prompt_template, "--prompt-template", files=True))
    from geobench.distributed import is_main

    if not is_main():  # data-parallel: rank 0 prints the table, as it writes the run folder
        return
    from geobench.tables import run_rows

    _print_summary(run_rows(Path(res.get("run_dir") or "run"), res),
                   title=f"{res['config']['model']} ({res['config']['backend']})")
    if "run_dir" in res:
        click.echo(f"results: {res['run_dir']}/results.json  table: {os.path.join(output, 'table.csv')}  "
                   f"(every metric: geobench results --long)")


@cli.command("tasks")
@click.argument("name", required=False)
@click.option("--group", default=None, help="Only tasks of this group.")
@DATA_DIR
def tasks_cmd(name, group, data_dir):
    """List registered tasks: name, group, version, data status and metrics.

    With NAME: everything about one task: its data folder and each split's missing files, where to get the
    data, its metrics, generation defaults and task args.
    """
    from geobench import taskinfo
    from geobench.selection import groups

    _set_data_dir(data_dir)
    reg = plugins.registry()
    if name and name not in reg.tasks and name not in reg.aliases and name in groups(reg):
        name, group = None, name  # a group name lists its tasks
    if name:
        print_fields(taskinfo.details(reg, name))
        return
    rows = []
    for tname in sorted(reg.tasks):
        task = reg.task(tname)
        if group and reg.group_of(tname, task) != group:
            continue
        rows.append(taskinfo.list_row(reg, tname, task))
    print_table(rows, ["name", "group", "version", "data", "metrics"])
    if any(r["data"] != "available" for r in rows):
        click.echo("what a task needs and where to get it: geobench tasks NAME; (pull): geobench data pull NAME",
                   err=True)


@cli.command("plugins")
def plugins_cmd():
    """List loaded plugins, where they come from, and what failed."""
    reg = plugins.registry()
    provides: dict[str, list[str]] = {}
    for (kind, name), owner in sorted(reg.owner.items()):
        provides.setdefault(owner, []).append(f"{kind}:{name}")
    rows = [{"plugin": p.name, "source": p.source, "module": p.module,
             "status": "ok" if p.error is None else f"FAILED: {p.error}",
             "provides": ", ".join(provides.get(p.name, []))} for p in reg.plugins]
    print_table(rows, ["plugin", "source", "module", "status", "provides"])


@cli.command("results")
@click.option("--output", "-o", default="results", show_default=True, help="Results folder.")
@click.option("--task", "tasks", multiple=True, help="Only this task or group (repeatable).")
@click.option("--metric", "metrics", multiple=True, help="Only this metric (repeatable).")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--checkpoint", "checkpoints", multiple=True,
              help="Only this training step (repeatable); 'none' = not a checkpoint, 'last' = each model's last.")
@click.option("--compare-reference", is_flag=True,
              help="Show your latest numbers beside the published ones (Geo-R1 paper) for matching task/metric.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "md", "latex", "parquet"]), default=None,
              help="Output format (default: a table, or from the --save extension: .csv, .md, .tex, .parquet).")
@click.option("--wide", is_flag=True, help="One row per model and checkpoint, one column per task and metric.")
@click.option("--save", "save", default=None, help="Write to this file (atomically) instead of stdout.")
@click.option("--long", "--all", "long", is_flag=True,
              help="Every metric, group row and run, one row each (the default shows one row per task).")
def results_cmd(output, tasks, metrics, models, checkpoints, compare_reference, fmt, wide, save, long):
    """Show or export the results table rebuilt from every run folder under --output.

    The default view is one row per model, checkpoint and task (its latest run) with the headline metrics;
    --long (or --metric, --wide, --format, --save) gives one row per metric, as in results/table.csv.
    """
    from geobench import tables as res

    if not os.path.isdir(output):
        raise GeobenchError(f"no results folder {output!r}", hint="run `geobench eval` first or pass --output")
    fmt = fmt or _format_from_path(save)
    df = res.filter_table(res.load_table(output), models=models, tasks=tasks, metrics=metrics, checkpoints=checkpoints)
    if df.empty:
        click.echo("no results match", err=True)
        return
    columns = res.DISPLAY_COLUMNS
    if compare_reference:
        df, wide = res.compare_with_reference(df), False
        columns = ["task", "metric", "model", "value", "source"]
        if df.empty:
            click.echo("none of these tasks has published reference numbers (see geobench/reference/paper.csv)",
                       err=True)
            return
    if fmt == "table" and not save and not (long or wide or compare_reference or metrics):
        _print_summary(res.records(df))
        click.echo("one row per task (latest run); every metric, group row and run: geobench results --long",
                   err=True)
        return
    if fmt == "table" and not save:
        if wide:
            df = res.wide_table(df)
            columns = list(df.columns)
        print_table(res.records(res.tidy_ints(df)), columns)
        return
    if fmt == "parquet":
        if not save:
            raise GeobenchError("parquet is a binary format", hint="pass --save FILE.parquet")
        data = res.parquet_bytes(df, wide=wide)
    else:
        data = res.export_table(df, "md" if fmt == "table" else fmt, wide=wide,
                                columns=columns if compare_reference else None)
    if save:
        try:
            res.atomic_write(save, data)
        except OSError as e:
            raise GeobenchError(f"cannot write {save!r}: {e.strerror or e}") from None
        click.echo(f"wrote {save}", err=True)
    else:
        click.echo(data, nl=False)


def _print_summary(rows: list[dict], title: str | None = None) -> None:
    """The short view of results-table rows: one row per task with its headline metrics (tables.summary_rows)."""
    from geobench import tables

    summary, short = tables.summary_rows(rows), {"checkpoint_step": "step", "n_samples": "n"}
    columns = [short.get(c, c) for c in tables.summary_columns(summary)]
    print_table([{short.get(k, k): v for k, v in r.items()} for r in summary], columns, title=title)


def _format_from_path(path: str | None) -> str:
    """The export format a file name asks for (`.csv`, `.md`, `.tex`, `.parquet`); a plain table for stdout."""
    if not path:
        return "table"
    ext = os.path.splitext(path)[1].lower()
    formats = {".csv": "csv", ".md": "md", ".markdown": "md", ".tex": "latex", ".latex": "latex",
               ".parquet": "parquet"}
    if ext not in formats:
        raise GeobenchError(f"cannot tell the format of {path!r} from its extension",
                            hint="use .csv, .md, .tex or .parquet, or pass --format")
    return formats[ext]


@cli.command("report")
@click.argument("runs", nargs=-1)
@click.option("--results", "-r", "results_dir", default="results", show_default=True,
              help="Results folder that run names refer to (and that is reported when no RUN is given).")
@click.option("--out", default="report", show_default=True,
              help="Report folder: index.html, PNGs, results.csv. An earlier report there is replaced.")
@click.option("--train-dir", multiple=True,
              help="Training output folder with train_log.jsonl (repeatable). Found automatically for "
                   "checkpoints whose folder is still there.")
@click.option("--title", default="geobench report", show_default=True, help="Page title.")
@click.option("--compare", nargs=2, metavar="RUN_A RUN_B", default=None,
              help="Compare two runs sample by sample (flips, error change, paired bootstrap); alone, the report "
                   "holds just these two.")
@DATA_DIR
def report_cmd(runs, results_dir, out, train_dir, title, compare, data_dir):
    """Write a static HTML report (plots, tables, the paper's numbers) of runs and training logs.

    \b
    RUN is a run folder, a run name under --results, a whole results folder, or a training output folder.
    No RUN: every run under --results.
    """
    from geobench import report

    _set_data_dir(data_dir)
    found, trains, pair = report.collect_compare(list(runs), results_dir, list(train_dir), compare)
    try:
        summary = report.build(out, found, trains, title=title, compare=pair)
    except OSError as e:
        raise GeobenchError(f"cannot write the report to {out!r}: {e.strerror or e}") from None
    for name, sec in summary["sections"].items():
        for note in sec["notes"]:
            click.echo(f"{name}: {note}", err=True)
    click.echo(f"report: {os.path.join(out, 'index.html')} ({len(found)} runs, "
               f"{sum(len(s['images']) for s in summary['sections'].values())} figures, "
               f"{len(summary['samples'])} sample pages)")
    for page in summary["compare"]:
        click.echo(f"compare: {os.path.join(out, page)}")
    if pair and not summary["compare"]:
        click.echo("compare: the two runs share no task with samples: nothing to compare", err=True)


def _add_core_commands() -> None:
    from geobench.cachecmd import cache_group
    from geobench.datacmd import data_group
    from geobench.samplescmd import samples_cmd

    cli.add_command(data_group)
    cli.add_command(cache_group)
    cli.add_command(samples_cmd)


_add_core_commands()


def _add_plugin_commands(reg: plugins.Registry) -> None:
    reg.call_hook("geobench_register_commands", cli=cli)


def _rank() -> str:
    """" (rank R of N)" in a data-parallel job, so the one error line says which process it came from."""
    from geobench import distributed

    try:
        w = distributed.world()
    except GeobenchError:
        return ""
    return f" (rank {w.rank} of {w.size})" if w.size > 1 else ""


class Terminated(BaseException):
    """SIGTERM (torchrun stopping the other ranks when one fails, a batch scheduler's time limit), handled like
    Ctrl-C: a run folder that holds nothing yet is removed, the cache and journals keep what finished. Not a
    KeyboardInterrupt, which click would turn into "aborted"."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    import signal
    import threading

    own = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if own else None
    try:
        return _main(argv)
    finally:
        if own:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str]) -> int:
    try:
        if "--strict-plugins" in argv:
            os.environ["GEOBENCH_STRICT_PLUGINS"] = "1"
            plugins.set_registry(None)
        _add_plugin_commands(plugins.registry())
        rv = cli.main(args=argv, prog_name="geobench", standalone_mode=False)
        return rv if isinstance(rv, int) else 0  # a command's click.exceptions.Exit(n) comes back as n
    except GeobenchError as e:
        if _debug():
            traceback.print_exc()
        click.echo(f"geobench: error{_rank()}: {e}", err=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        hint = ""
        ctx = getattr(e, "ctx", None)
        if ctx is not None:
            hint = f" (see `{ctx.command_path} --help`)"
        click.echo(f"geobench: error: {e.format_message()}{hint}", err=True)
        return e.exit_code
    except click.Abort:
        click.echo(f"geobench: aborted{_rank()}", err=True)
        return 130
    except Terminated:
        click.echo(f"geobench: terminated{_rank()}", err=True)
        return 143
    except KeyboardInterrupt:
        click.echo(f"geobench: interrupted{_rank()}", err=True)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug, not a user error: one line unless debugging
        if _debug():
            raise
        click.echo(f"geobench: internal error{_rank()}: {type(e).__name__}: {e} (GEOBENCH_DEBUG=1 shows the "
                   "traceback)", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
