"""The registry: what the plugins registered, by kind and name, loaded lazily.

(Named plugin_manager, not plugins: `geobench.plugins` is the built-in plugins package.)

Every plugin, built-ins included, is a module named in the entry-point group `geobench`. Its register hooks
name what it provides; what they register may be the object itself or a `"module:attr"` string, imported the
first time that name is looked up (lm-eval's registry does the same), so `geobench --help` and `geobench tasks`
never import torch. The kinds of things a plugin can register are one table, `KINDS`; all hook calls go
through `Registry.call_hook`, each plugin inside its own try/except: a broken plugin costs one warning line
naming it (`--strict-plugins` / GEOBENCH_STRICT_PLUGINS=1 makes it an error). GEOBENCH_DISABLE_PLUGINS=a,b
blocks plugins by entry-point name.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from geobench import hookspecs
from geobench.args import env_flag
from geobench.errors import GeobenchError

GROUP = "geobench"


@dataclass
class PluginInfo:
    name: str
    source: str  # "built-in", "<dist> <version>" or "in-process"
    module: str
    error: str | None = None


class Lazy:
    """A `"module:attr"` reference, imported on first use."""

    def __init__(self, spec: str, plugin: str):
        module, sep, attr = spec.partition(":")
        if not sep or not module or not attr:
            raise GeobenchError(f"plugin {plugin!r}: bad reference {spec!r} (expected 'module:attr')")
        self.spec, self.plugin = spec, plugin

    def load(self) -> Any:
        module, _, attr = self.spec.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except GeobenchError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken plugin module is one line naming it
            raise GeobenchError(f"plugin {self.plugin!r} failed to load {self.spec}: {type(e).__name__}: {e}") from e
        return obj

    def __repr__(self) -> str:
        return f"Lazy({self.spec!r})"


class Table(dict):
    """name -> registered object; a `Lazy` value is imported when it is first read, then kept."""

    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, Lazy):
            value = value.load()
            super().__setitem__(name, value)
        return value

    def get(self, name, default=None):
        return self[name] if name in self else default

    def items(self):
        return [(k, self[k]) for k in self]

    def values(self):
        return [self[k] for k in self]


def _lazy(value: Any, plugin: str) -> Any:
    return Lazy(value, plugin) if isinstance(value, str) else value


@dataclass(frozen=True)
class Kind:
    """One kind of plugin: the hook that registers it and the registry table it fills."""

    name: str  # "task", "backend", ...
    hook: str  # the hookspec's name
    table: str  # the Registry attribute


# A new kind of plugin: one row here, one hookspec in hookspecs.py (and, if its `register` takes more than
# `(obj, name=None)`, one `_register_<kind>` method below).
KINDS = (
    Kind("task", "geobench_register_tasks", "tasks"),
    Kind("backend", "geobench_register_backends", "backends"),
    Kind("model", "geobench_register_models", "models"),
    Kind("trainer", "geobench_register_trainers", "trainers"),
    Kind("reward", "geobench_register_rewards", "rewards"),
    Kind("toy_dataset", "geobench_register_toy_datasets", "toy_datasets"),
    Kind("reward_preset", "geobench_register_reward_presets", "reward_presets"),
)


@dataclass
class Registry:
    """What the plugins registered, by kind and name. Lookups give one-line errors with did-you-mean."""

    pm: pluggy.PluginManager
    strict: bool = False
    plugins: list[PluginInfo] = field(default_factory=list)
    tasks: Table = field(default_factory=Table)  # name -> Task class or factory
    task_groups: dict[str, str] = field(default_factory=dict)  # name -> group given at registration
    aliases: dict[str, str] = field(default_factory=dict)
    backends: Table = field(default_factory=Table)
    models: Table = field(default_factory=Table)  # name -> (resolve, description)
    presets: Table = field(default_factory=Table)  # model name -> geobench.presets.ModelPreset
    trainers: Table = field(default_factory=Table)
    rewards: Table = field(default_factory=Table)
    toy_datasets: Table = field(default_factory=Table)  # name -> (export, version)
    reward_presets: Table = field(default_factory=Table)  # name -> [(reward name, weight), ...]
    owner: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> plugin name

    # ---------------------------------------------------------------------------------------- lookups
    def task(self, name: str):
        """A fresh task instance for a registered name or alias."""
        task = self.task_factory(name)()
        if not getattr(task, "name", None):
            raise GeobenchError(f"task plugin for {self.real_task_name(name)!r} returned an object without a name")
        return task

    def real_task_name(self, name: str) -> str:
        return self.aliases.get(name, name)

    def task_factory(self, name: str):
        return self._get("task", self.tasks, self.real_task_name(name))

    def backend(self, name: str):
        return self._get("backend", self.backends, name)

    def trainer(self, name: str):
        return self._get("trainer", self.trainers, name)

    def reward(self, name: str):
        return self._get("reward", self.rewards, name)

    def model(self, name: str) -> tuple[Callable[[], Any], str]:
        """(resolve, description) of a registered model name."""
        resolve, description = self._get("model", self.models, name)
        if isinstance(resolve, Lazy):
            resolve = resolve.load()
            dict.__setitem__(self.models, name, (resolve, description))
        return resolve, description

    def toy_dataset(self, name: str) -> tuple[Callable, str]:
        """(export, version) of a registered toy dataset."""
        export, version = self._get("toy dataset", self.toy_datasets, name)
        if isinstance(export, Lazy):
            export = export.load()
            dict.__setitem__(self.toy_datasets, name, (export, version))
        return export, version

    def reward_preset(self, name: str) -> list[tuple[str, float]]:
        """[(reward name, weight), ...] of a registered reward preset."""
        return self._get("reward preset", self.reward_presets, name)

    def preset(self, name: str):
        """(registered name, ModelPreset) for a preset named explicitly; hub ids match case-insensitively."""
        from geobench.presets import find

        real = find(self.presets, name) or name
        return real, self._get("preset", self.presets, real)

    def group_of(self, name: str, task=None) -> str:
        return self.task_groups.get(name) or getattr(task, "group", "") or ""

    def _get(self, kind: str, table: dict, name: str):
        if name in table:
            return table[name]
        names = sorted(table) + (sorted(self.aliases) if kind == "task" else [])
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(table)) or 'none'}"
        raise GeobenchError(f"unknown {kind} {name!r}", hint=hint)

    # ------------------------------------------------------------------------------------------ hooks
    def call_hook(self, hook: str, registrar: Callable[[str], Callable] | None = None, **kwargs) -> None:
        """Call every plugin's implementation of `hook`, one plugin at a time, so one failure stays local.
        With `registrar`, each plugin gets `register=registrar(its name)`."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            extra = {"register": registrar(impl.plugin_name)} if registrar else {}
            self.call_plugin(impl.plugin_name, impl.function, **extra, **kwargs)

    def call_plugin(self, plugin: str, fn, **kwargs):
        """Run one plugin's hook function; a failure is reported with the plugin's name."""
        try:
            return fn(**kwargs)
        except Exception as e:  # noqa: BLE001 - any plugin bug must stay local
            self._fail(plugin, f"{type(e).__name__}: {e}")

    def _fail(self, plugin: str, error: str):
        msg = f"plugin {plugin!r} failed: {error}"
        for info in self.plugins:
            if info.name == plugin and info.error is None:
                info.error = error
        if self.strict:
            raise GeobenchError(msg, hint="remove it, fix it, or run without --strict-plugins")
        print(f"geobench: warning: {msg}", file=sys.stderr)

    def _collect(self) -> None:
        for kind in KINDS:
            self.call_hook(kind.hook, registrar=functools.partial(self._registrar, kind))

    def _registrar(self, kind: Kind, plugin: str) -> Callable:
        """The `register` callback one plugin gets for one kind."""
        special = getattr(self, f"_register_{kind.name}", None)
        return functools.partial(special, plugin) if special else self._simple_registrar(kind, plugin)

    # ------------------------------------------------------------------------------------- registering
    def _register(self, kind: str, table: dict, name: str, value, plugin: str):
        if not name or not isinstance(name, str):
            raise GeobenchError(f"plugin {plugin!r} registered a {kind} without a name")
        if name in table and self.owner.get((kind, name)) != plugin:
            other = self.owner.get((kind, name))
            raise GeobenchError(f"{kind} {name!r} from plugin {plugin!r} clashes with plugin {other!r}")
        dict.__setitem__(table, name, value)
        self.owner[(kind, name)] = plugin

    @staticmethod
    def _name_of(obj, name: str | None, plugin: str, kind: str) -> str:
        if name:
            return name
        if isinstance(obj, str):
            raise GeobenchError(f"plugin {plugin!r} registered a {kind} by reference ({obj!r}) without name=")
        return getattr(obj, "name", None) or getattr(obj, "__name__", None)

    def _simple_registrar(self, kind: Kind, plugin: str):
        def register(obj, name: str | None = None):
            self._register(kind.name, getattr(self, kind.table), self._name_of(obj, name, plugin, kind.name),
                           _lazy(obj, plugin), plugin)

        return register

    def _register_task(self, plugin: str, task, name: str | None = None, aliases=(), group: str | None = None):
        real = self._name_of(task, name, plugin, "task")
        self._register("task", self.tasks, real, _lazy(task, plugin), plugin)
        if group:
            self.task_groups[real] = group
        for alias in aliases:
            self.aliases[alias] = real

    def _register_model(self, plugin: str, name: str, resolve=None, description: str = "", preset=None):
        """`resolve()` -> a local folder for `--model NAME`; `preset`: a geobench.presets.ModelPreset."""
        if resolve is None and preset is None:
            raise GeobenchError(f"plugin {plugin!r} registered model {name!r} with neither resolve nor preset")
        if resolve is not None:
            self._register("model", self.models, name, (_lazy(resolve, plugin), description), plugin)
        if preset is not None:
            from geobench.presets import ModelPreset

            if not isinstance(preset, ModelPreset):
                raise GeobenchError(f"plugin {plugin!r}: preset for {name!r} is not a geobench.presets.ModelPreset")
            self._register("preset", self.presets, name, preset, plugin)

    def _register_reward_preset(self, plugin: str, name: str, rewards):
        try:
            pairs = [(str(n), float(w)) for n, w in rewards]
        except (TypeError, ValueError):
            raise GeobenchError(f"plugin {plugin!r}: reward preset {name!r} must be a list of (reward name, weight)") from None
        self._register("reward_preset", self.reward_presets, name, pairs, plugin)

    def _register_toy_dataset(self, plugin: str, name: str, export, version: str = "1"):
        self._register("toy_dataset", self.toy_datasets, name, (_lazy(export, plugin), str(version)), plugin)


def _entry_points():
    return sorted(metadata.entry_points(group=GROUP), key=lambda ep: (ep.dist.name != "geobench", ep.name))


def load(strict: bool | None = None, extra: list[tuple[str, object]] = ()) -> Registry:
    """Build a fresh registry from the installed plugins (plus `extra` in-process plugins, for tests)."""
    if strict is None:
        strict = env_flag("GEOBENCH_STRICT_PLUGINS")
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    reg = Registry(pm=pm, strict=strict)
    blocked = {b.strip() for b in os.environ.get("GEOBENCH_DISABLE_PLUGINS", "").split(",") if b.strip()}
    seen: set[str] = set()
    for ep in _entry_points():
        if ep.name in blocked or ep.name in seen:
            continue
        seen.add(ep.name)
        dist = ep.dist
        source = "built-in" if dist is not None and dist.name == "geobench" else (
            f"{dist.name} {dist.version}" if dist is not None else "unknown")
        reg.plugins.append(PluginInfo(ep.name, source, ep.value))
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not stop the others
            reg._fail(ep.name, f"{type(e).__name__}: {e}")
    for name, obj in extra:
        if name in blocked:
            continue
        reg.plugins.append(PluginInfo(name, "in-process", getattr(obj, "__name__", type(obj).__name__)))
        pm.register(obj, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        reg._fail(getattr(e, "plugin_name", "?") or "?", str(e))
    reg._collect()
    return reg


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load()
    return _REGISTRY


def set_registry(reg: Registry | None) -> None:
    """Replace (or with None, reset) the process-wide registry; used by the CLI's --strict-plugins and tests."""
    global _REGISTRY
    _REGISTRY = reg
