"""Every hook of geobench: the whole plugin contract on one page.

Hooks receive a host-owned `register` callback instead of returning lists (simonw/llm's style): validation,
aliases and name clashes stay in the host. Built-in tasks, backends and trainers use these same hooks.
Whatever a `register` call takes as an object (a Task class or factory, a Backend class, a trainer, a reward
function, a model's `resolve`, a toy dataset's `export`) may also be given as a `"module:attr"` string with
`name=`: the registry imports it the first time that name is looked up, so listing plugins stays fast.
"""

import pluggy

hookspec = pluggy.HookspecMarker("geobench")
hookimpl = pluggy.HookimplMarker("geobench")


@hookspec
def geobench_register_tasks(register):
    """Register tasks: `register(TaskClassOrFactory, name=None, aliases=(), group=None)`.

    A factory is any zero-argument callable returning a `geobench.Task`; `name` defaults to its `.name`.
    """


@hookspec
def geobench_register_backends(register):
    """Register model backends: `register(BackendClass, name=None)`.

    The class is called as `BackendClass(model: str, **model_args)`; a classmethod
    `from_loaded(model, processor, **kw)` lets trainers evaluate an in-memory model.
    """


@hookspec
def geobench_register_models(register):
    """Register named models: `register(name, resolve=None, description="", preset=None)`.

    `resolve()` returns a local folder (building or locating it); `--model NAME` then loads that folder.
    `preset` (a `geobench.presets.ModelPreset`) gives a hub id its prompt suffix, generation and pixel defaults.
    """


@hookspec
def geobench_register_trainers(register):
    """Register trainers: `register(TrainerClass, name=None)`; used by `geobench train NAME`."""


@hookspec
def geobench_register_rewards(register):
    """Register reward functions: `register(fn, name=None)` with `fn(completions, **columns) -> list[float]`."""


@hookspec
def geobench_register_commands(cli):
    """Add CLI subcommands: `cli` is the top-level click group (`@cli.command()` works)."""


@hookspec
def geobench_results_written(run):
    """Event: a run's results were written. `run` is a `geobench.results.RunInfo` (folder, results dict)."""


@hookspec
def geobench_register_toy_datasets(register):
    """Register offline toy datasets: `register(name, export, version="1")`.

    `export(folder: Path, splits: dict[str, int], seed: int)` writes the dataset (images and metadata) in the
    layout of the real benchmark its toy task reads; `geobench.toydata.ensure(name)` builds it once under
    $GEOBENCH_HOME. Bump `version` whenever the output changes, so stale data is never reused.
    """


@hookspec
def geobench_register_reward_presets(register):
    """Register reward presets: `register(name, rewards)`, `rewards` a list of (registered reward name, weight).

    `rewards: NAME` in a GRPO config takes the preset's rewards with their weights (TRL sums them weighted).
    """
