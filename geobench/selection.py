"""Which tasks a run means: `--tasks` and `--task-args` parsed once, into task instances.

A task spec is a comma-separated string (or a list) of task names, aliases, group names and `all`; Task
instances in a list are used as they are. Task config (`--task-args`) becomes the constructor keywords of
the task, checked against what the constructor accepts.
"""

from __future__ import annotations

import difflib
import inspect

from geobench.api import Task
from geobench.args import parse_kv
from geobench.errors import GeobenchError
from geobench.plugin_manager import Registry


def split_spec(spec: str | list | tuple) -> list[str | Task]:
    """'a, b,,c' -> ['a', 'b', 'c']; a list keeps its Task instances and stripped names."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return [s.strip() if isinstance(s, str) else s for s in items if not isinstance(s, str) or s.strip()]


def task_from_spec(reg: Registry, task: str | Task, task_args: str | dict | None = None) -> Task:
    """One task: a Task instance as it is, or a registered name/alias built with its `task_args`."""
    if isinstance(task, Task):
        return task
    return make_task(reg, task, parse_kv(task_args, "--task-args"))


def select_tasks(reg: Registry, spec: str | list[str | Task],
                 task_args: dict[str, dict] | None = None) -> list[Task]:
    """Resolve 'all', group names, task names and aliases (comma-separated or a list) to task instances;
    Task instances in a list are used as they are. `task_args` maps a task name to its config (constructor
    keywords, see `make_task`).

    'all' and groups take only tasks whose data is available; a task named explicitly with missing data
    is a one-line error saying what is missing.
    """
    task_args = task_args or {}
    items = split_spec(spec)
    chosen: dict[str, Task] = {t.name: t for t in items if isinstance(t, Task)}
    names = [s for s in items if isinstance(s, str)]
    if not names and not chosen:
        raise GeobenchError("no tasks given", hint="try --tasks all, or see `geobench tasks`")
    for name in names:
        if name == "all" or (name not in reg.tasks and name not in reg.aliases and _is_group(reg, name)):
            for tname in sorted(reg.tasks):
                task = make_task(reg, tname, task_args.get(tname))
                if (name == "all" or reg.group_of(tname, task) == name) and task.data_status() is None:
                    chosen.setdefault(task.name, task)
            continue
        if name not in reg.tasks and name not in reg.aliases:
            raise unknown_task(reg, name)
        task = make_task(reg, name, task_args.get(reg.real_task_name(name), task_args.get(name)))
        missing = task.data_status()
        if missing:
            raise GeobenchError(f"task {task.name!r}: {missing}")
        chosen.setdefault(task.name, task)
    if not chosen:
        raise GeobenchError(f"no task with available data matches {spec!r}", hint="see `geobench tasks`")
    unused = sorted(set(task_args) - set(chosen) - {n for n in task_args if reg.real_task_name(n) in chosen})
    if unused:
        raise GeobenchError(f"task config given for {', '.join(map(repr, unused))}, which is not being run")
    return list(chosen.values())


def make_task(reg: Registry, name: str, args: dict | None = None) -> Task:
    """A registered task built with its config `args` (its constructor's keywords, e.g. crossview_toy's k);
    unknown keys and bad values are one-line errors naming the task and the keys it knows."""
    if not args:
        return reg.task(name)
    real = reg.real_task_name(name)
    factory = reg.task_factory(name)  # an unknown name: one line with a suggestion
    known = config_keys(factory)
    if known is not None:
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise GeobenchError(f"task {real!r}: unknown config key{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(map(repr, unknown))}", hint=f"known: {', '.join(known) or 'none'}")
    try:
        return factory(**args)
    except GeobenchError as e:
        raise GeobenchError(f"task {real!r}: {e}") from None
    except (TypeError, ValueError) as e:
        raise GeobenchError(f"task {real!r}: bad config {args}: {e}") from None


def config_keys(factory) -> list[str] | None:
    """The keywords a task factory accepts, following `**kwargs` up a class's bases; None if unknowable."""
    chain = [c.__init__ for c in factory.__mro__ if "__init__" in vars(c) and c is not object] \
        if isinstance(factory, type) else [factory]
    known: list[str] = []
    for fn in chain:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return None
        known += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                  and p.name != "self" and p.name not in known]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return known
    return known if isinstance(factory, type) else None


def parse_task_args(value: str | dict | None, spec) -> dict[str, dict]:
    """{task: {key: value}} from a per-task dict, or from 'k=v,...' / a flat dict when one task is named."""
    if not value:
        return {}
    if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
        return {str(k): dict(v) for k, v in value.items()}
    names = [n for n in split_spec(spec) if isinstance(n, str)]
    if len(names) != 1 or names[0] == "all":
        raise GeobenchError("task config without task names needs exactly one task named in --tasks",
                            hint="or pass {task: {key: value}} to evaluate(task_args=...)")
    return {names[0]: parse_kv(value, "--task-args")}


def _is_group(reg: Registry, name: str) -> bool:
    return name in groups(reg)


def groups(reg: Registry) -> list[str]:
    """Every task group name (registered with a task, or the task's own `group`)."""
    return sorted({g for t in reg.tasks if (g := reg.group_of(t, reg.task(t)))})


def unknown_task(reg: Registry, name: str) -> GeobenchError:
    """One line for a name that is no task, alias or group, suggesting the closest of all three."""
    kinds = {**{g: "group" for g in groups(reg)}, **{a: "alias" for a in reg.aliases}, **{t: "" for t in reg.tasks}}
    close = difflib.get_close_matches(name, list(kinds), n=2, cutoff=0.6)
    if not close:
        return GeobenchError(f"unknown task {name!r}", hint="see `geobench tasks` for tasks and groups, or use 'all'")
    said = [f"{c!r}" + (f" (a {kinds[c]} of {reg.real_task_name(c)!r})" if kinds[c] == "alias" else
                        " (a group)" if kinds[c] == "group" else "") for c in close]
    return GeobenchError(f"unknown task {name!r}", hint=f"did you mean {' or '.join(said)}?")


