"""The toy world: a seeded procedural planet and its street-view / satellite renderers (offline, CPU, PIL).

Light on purpose: the package is imported on the way to its `plugin` entry point, so the public names below
load from their modules (numpy, PIL) on first use.
"""

from __future__ import annotations

import importlib

_PUBLIC = {"contact_sheet": "render", "render_ground": "render", "render_satellite": "render",
           **{n: "world" for n in ("CLIMATES", "GEOCHAIN_FACTS", "SETTLEMENTS", "City", "Country", "Place", "World")}}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_PUBLIC])
