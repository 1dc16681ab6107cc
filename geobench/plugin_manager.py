"""The plugin manager (named plugin_manager, not plugins: `geobench.plugins` is the built-in plugins package).

It loads every plugin (built-ins included) from the entry-point group `geobench`.

Each plugin is loaded, and each of its hooks is called, inside its own try/except: a broken plugin costs one
warning line naming it and the rest keeps working (`--strict-plugins` / GEOBENCH_STRICT_PLUGINS=1 makes it an
error). GEOBENCH_DISABLE_PLUGINS=a,b blocks plugins by entry-point name.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from geobench import hookspecs
from geobench.errors import GeobenchError

GROUP = "geobench"


@dataclass
class PluginInfo:
    name: str
    source: str  # "built-in", "<dist> <version>" or "in-process"
    module: str
    error: str | None = None


@dataclass
class Registry:
    """What the plugins registered, by kind and name. Lookups give one-line errors with did-you-mean."""

    pm: pluggy.PluginManager
    strict: bool = False
    plugins: list[PluginInfo] = field(default_factory=list)
    tasks: dict[str, Any] = field(default_factory=dict)  # name -> factory
    task_groups: dict[str, str] = field(default_factory=dict)  # name -> group override
    aliases: dict[str, str] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)
    models: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (resolve, description)
    presets: dict[str, Any] = field(default_factory=dict)  # model name -> geobench.presets.ModelPreset
    trainers: dict[str, Any] = field(default_factory=dict)
    rewards: dict[str, Any] = field(default_factory=dict)
    owner: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> plugin name

    # ---------------------------------------------------------------------------------------- lookups
    def task(self, name: str):
        """A fresh task instance for a registered name or alias."""
        real = self.aliases.get(name, name)
        factory = self._get("task", self.tasks, real)
        task = factory()
        if not getattr(task, "name", None):
            raise GeobenchError(f"task plugin for {real!r} returned an object without a name")
        return task

    def backend(self, name: str):
        return self._get("backend", self.backends, name)

    def trainer(self, name: str):
        return self._get("trainer", self.trainers, name)

    def reward(self, name: str):
        return self._get("reward", self.rewards, name)

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

    # ------------------------------------------------------------------------------------- registering
    def _register(self, kind: str, table: dict, name: str, value, plugin: str):
        if not name or not isinstance(name, str):
            raise GeobenchError(f"plugin {plugin!r} registered a {kind} without a name")
        if name in table and self.owner.get((kind, name)) != plugin:
            other = self.owner.get((kind, name))
            raise GeobenchError(f"{kind} {name!r} from plugin {plugin!r} clashes with plugin {other!r}")
        table[name] = value
        self.owner[(kind, name)] = plugin

    def _collect(self):
        """Call each plugin's register hooks, one plugin at a time, so one failure stays local."""
        for hook_name, handler in [
            ("geobench_register_tasks", self._task_registrar),
            ("geobench_register_backends", lambda p: self._simple_registrar("backend", self.backends, p)),
            ("geobench_register_models", self._model_registrar),
            ("geobench_register_trainers", lambda p: self._simple_registrar("trainer", self.trainers, p)),
            ("geobench_register_rewards", lambda p: self._simple_registrar("reward", self.rewards, p)),
        ]:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                self.call_plugin(impl.plugin_name, impl.function, register=handler(impl.plugin_name))

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

    def _task_registrar(self, plugin: str):
        def register(task, name: str | None = None, aliases=(), group: str | None = None):
            real = name or getattr(task, "name", None)
            self._register("task", self.tasks, real, task, plugin)
            if group:
                self.task_groups[real] = group
            for alias in aliases:
                self.aliases[alias] = real

        return register

    def _simple_registrar(self, kind: str, table: dict, plugin: str):
        def register(obj, name: str | None = None):
            self._register(kind, table, name or getattr(obj, "name", None) or getattr(obj, "__name__", None), obj, plugin)

        return register

    def _model_registrar(self, plugin: str):
        def register(name: str, resolve=None, description: str = "", preset=None):
            """`resolve()` -> a local folder for `--model NAME`; `preset`: a geobench.presets.ModelPreset."""
            if resolve is None and preset is None:
                raise GeobenchError(f"plugin {plugin!r} registered model {name!r} with neither resolve nor preset")
            if resolve is not None:
                self._register("model", self.models, name, (resolve, description), plugin)
            if preset is not None:
                from geobench.presets import ModelPreset

                if not isinstance(preset, ModelPreset):
                    raise GeobenchError(f"plugin {plugin!r}: preset for {name!r} is not a geobench.presets.ModelPreset")
                self._register("preset", self.presets, name, preset, plugin)

        return register


def _entry_points():
    return sorted(metadata.entry_points(group=GROUP), key=lambda ep: (ep.dist.name != "geobench", ep.name))


def load(strict: bool | None = None, extra: list[tuple[str, object]] = ()) -> Registry:
    """Build a fresh registry from the installed plugins (plus `extra` in-process plugins, for tests)."""
    if strict is None:
        strict = os.environ.get("GEOBENCH_STRICT_PLUGINS", "").lower() in ("1", "true", "yes")
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
