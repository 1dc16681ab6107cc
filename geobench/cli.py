"""The `geobench` command line: eval, tasks, plugins, results, plus whatever plugins add.

User errors are one line on stderr and exit code 2, never a traceback (GEOBENCH_DEBUG=1 shows it). This module
and the plugins it loads must not import torch: `geobench --help` and `geobench tasks` stay fast.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from geobench import plugin_manager as plugins
from geobench.errors import GeobenchError


def _debug() -> bool:
    return os.environ.get("GEOBENCH_DEBUG", "").lower() in ("1", "true", "yes")


def print_table(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    """A table on stdout: rich when stdout is a terminal, plain aligned text otherwise (pipes, CI, tests)."""
    cells = [[("" if r.get(c) is None else _cell(r.get(c))) for c in columns] for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(c)
        for row in cells:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    if title:
        click.echo(title)
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(v) -> str:
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


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
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary lines on stderr.")
@DATA_DIR
def eval_cmd(model, tasks, backend, model_args, batch_size, gen_kwargs, limit, seed, output, run_name, no_cache,
             cache_path, checkpoint_step, quiet, data_dir):
    """Evaluate a model on tasks; writes results/<run>/ and rebuilds results/table.csv."""
    from geobench.evaluator import evaluate

    _set_data_dir(data_dir)
    res = evaluate(model, tasks, backend=backend, model_args=model_args, batch_size=batch_size,
                   gen_kwargs=gen_kwargs, limit=limit, seed=seed, output=output, run_name=run_name,
                   use_cache=not no_cache, cache_path=cache_path, checkpoint_step=checkpoint_step,
                   progress=not quiet)
    rows = [{"task": task, "metric": k.split(",")[0], "value": v,
             "stderr": metrics.get(k.replace(",", "_stderr,", 1))}
            for task, metrics in res["results"].items() for k, v in metrics.items()
            if "," in k and "_stderr," not in k]
    print_table(rows, ["task", "metric", "value", "stderr"], title=f"{res['config']['model']} ({res['config']['backend']})")
    if "run_dir" in res:
        click.echo(f"results: {res['run_dir']}/results.json  table: {os.path.join(output, 'table.csv')}")


@cli.command("tasks")
@click.option("--group", default=None, help="Only tasks of this group.")
@DATA_DIR
def tasks_cmd(group, data_dir):
    """List registered tasks: name, group, version, data status and metrics."""
    _set_data_dir(data_dir)
    reg = plugins.registry()
    rows = []
    for name in sorted(reg.tasks):
        task = reg.task(name)
        g = reg.group_of(name, task)
        if group and g != group:
            continue
        missing = task.data_status()
        rows.append({"name": name, "group": g, "version": task.version,
                     "data": "available" if missing is None else f"missing: {missing}",
                     "metrics": ", ".join(task.higher_is_better)})
    print_table(rows, ["name", "group", "version", "data", "metrics"])


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
@click.option("--task", "task", default=None, help="Only this task.")
@click.option("--metric", default=None, help="Only this metric.")
@click.option("--model", default=None, help="Only this model.")
@click.option("--compare-reference", is_flag=True,
              help="Show your latest numbers beside the published ones (Geo-R1 paper) for matching task/metric.")
def results_cmd(output, task, metric, model, compare_reference):
    """Show the results table rebuilt from every run folder under --output."""
    from geobench.results import compare_with_reference, load_table

    if not os.path.isdir(output):
        raise GeobenchError(f"no results folder {output!r}", hint="run `geobench eval` first or pass --output")
    df = load_table(output)
    for col, value in (("task", task), ("metric", metric), ("model", model)):
        if value is not None:
            df = df[df[col] == value]
    if df.empty:
        click.echo("no results match", err=True)
        return
    if compare_reference:
        both = compare_with_reference(df)
        if both.empty:
            click.echo("none of these tasks has published reference numbers (see geobench/reference/paper.csv)",
                       err=True)
            return
        print_table(both.to_dict("records"), ["task", "metric", "model", "value", "source"])
        return
    cols = ["model", "checkpoint_step", "task", "metric", "value", "stderr", "n_samples", "run"]
    print_table(df.astype(object).where(df.notna(), None).to_dict("records"), cols)


def _add_plugin_commands(reg: plugins.Registry) -> None:
    for impl in reg.pm.hook.geobench_register_commands.get_hookimpls():
        reg.call_plugin(impl.plugin_name, impl.function, cli=cli)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if "--strict-plugins" in argv:
            os.environ["GEOBENCH_STRICT_PLUGINS"] = "1"
            plugins.set_registry(None)
        _add_plugin_commands(plugins.registry())
        cli.main(args=argv, prog_name="geobench", standalone_mode=False)
        return 0
    except GeobenchError as e:
        if _debug():
            traceback.print_exc()
        click.echo(f"geobench: error: {e}", err=True)
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
        click.echo("geobench: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("geobench: interrupted", err=True)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug, not a user error: one line unless debugging
        if _debug():
            raise
        click.echo(f"geobench: internal error: {type(e).__name__}: {e} (GEOBENCH_DEBUG=1 shows the traceback)",
                   err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
