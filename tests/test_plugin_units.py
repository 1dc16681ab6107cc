"""The built-in plugins keep to the house plan: each entry-point module is light, so listing plugins never loads a
model library (that no unit imports another is checked tree-wide by tests/test_house_plan.py)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

import geobench
from geobench import plugin_manager
from geobench.errors import GeobenchError

HEAVY = ("torch", "transformers", "openai", "lm_eval", "vllm")


def plugin_entry_points() -> dict[str, str]:
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="geobench")
           if ep.value.startswith("geobench.plugins.")}
    assert {"dummy", "hf", "openai", "vllm", "lmeval", "tiny_model", "model_presets"} <= set(eps), eps
    return eps


@pytest.mark.parametrize("name", sorted(plugin_entry_points()))
def test_entry_point_module_imports_no_model_library(name):
    module = plugin_entry_points()[name]
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"{module} imports {r.stdout.strip()}"


def test_backends_are_registered_by_reference():
    """The model backends' classes load on first lookup, not when the registry is built."""
    reg = plugin_manager.load()
    for name in ("hf", "vllm", "openai", "lm-eval"):
        raw = dict.__getitem__(reg.backends, name)
        assert isinstance(raw, plugin_manager.Lazy), (name, raw)


def test_from_loaded_is_a_one_line_error_where_a_backend_has_none():
    dummy = plugin_manager.registry().backend("dummy")
    assert dummy.from_loaded.__func__ is geobench.Backend.from_loaded.__func__
    with pytest.raises(GeobenchError) as e:
        dummy.from_loaded(object(), object(), batch_size=2)
    msg = str(e.value)
    assert "'dummy' cannot evaluate an in-memory model" in msg and "\n" not in msg
    with pytest.raises(GeobenchError, match="cannot evaluate an in-memory model"):
        geobench.Backend.from_loaded(object(), object())
