"""The toy world: a seeded procedural planet and its street-view / satellite renderers (offline, CPU, PIL)."""

from .render import contact_sheet, render_ground, render_satellite
from .world import (
    CLIMATES,
    GEOCHAIN_FACTS,
    SETTLEMENTS,
    City,
    Country,
    Place,
    World,
)

__all__ = ["CLIMATES", "GEOCHAIN_FACTS", "SETTLEMENTS", "City", "Country", "Place", "World", "contact_sheet",
           "render_ground", "render_satellite"]
