"""Lazy re-exports for a plugin package's light entry module (PEP 562).

An entry-point module must import only the core, yet users and tests reach public names through the package
(`from geobench.tasks.crossview import CVCities`). `reexport(__name__, {name: module})` returns the module-level
`__getattr__` and `__dir__` that import each name from its module on first access. A module name without a dot
is relative to the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def reexport(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for `package`, where `where` maps each public name to the module defining it."""

    def __getattr__(name: str) -> Any:
        if name in where:
            module = where[name]
            return getattr(importlib.import_module(module if "." in module else f"{package}.{module}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *where])

    return __getattr__, __dir__
