"""The toy world: a seeded procedural planet and its street-view / satellite renderers (offline, CPU, PIL).

Light on purpose: the package is imported on the way to its `plugin` entry point, so the public names below
load from their modules (numpy, PIL) on first use.
"""

from __future__ import annotations

from geobench.lazy import reexport

_PUBLIC = {"contact_sheet": "render", "render_ground": "render", "render_satellite": "render",
           **{n: "world" for n in ("CLIMATES", "GEOCHAIN_FACTS", "SETTLEMENTS", "City", "Country", "Place", "World")}}

__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = reexport(__name__, _PUBLIC)
