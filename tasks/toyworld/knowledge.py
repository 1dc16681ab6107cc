"""What the scaffolding stage knows about the toy planet: its closed name lists and each country's facts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .world import World

WORLD_SEED = 0  # the planet every toy dataset is rendered from

# Plain names for the toy countries' sign colours (the saturated RGB of palette.COUNTRY_PALETTE, all named);
# any other colour gets the nearest name.
COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "navy": (0, 0, 120), "yellow": (255, 255, 0), "aqua": (90, 255, 255), "magenta": (255, 15, 255),
    "green": (0, 240, 15), "red": (240, 0, 0), "violet": (90, 75, 255), "salmon": (255, 150, 135),
    "olive": (135, 135, 15), "teal": (0, 165, 165), "light green": (120, 255, 105), "plum": (150, 0, 135),
    "lilac": (210, 135, 255), "dark green": (0, 120, 45), "maroon": (120, 0, 15), "orange": (255, 120, 0),
    "blue": (0, 0, 240), "pink": (255, 30, 105), "cream": (225, 255, 135), "lime": (105, 240, 0),
    "mint": (15, 255, 120), "azure": (0, 120, 255), "sky blue": (90, 165, 210), "steel blue": (45, 75, 165),
    "purple": (150, 0, 240), "orchid": (195, 75, 180), "turquoise": (0, 225, 240), "mustard": (195, 195, 60),
    "sea green": (60, 180, 90), "brick": (180, 60, 60),
}

_VOCABS: dict[tuple[int, int], dict[str, frozenset[str]]] = {}


def toy_world() -> World:
    """The toy planet (building it is cached per seed)."""
    return World(WORLD_SEED)


def vocab(world: World) -> dict[str, frozenset[str]]:
    """Closed name lists of a toy world: "country", "city", "continent" (computed once per planet)."""
    key = (world.seed, len(world.countries))
    if key not in _VOCABS:
        _VOCABS[key] = {"country": frozenset(c.name for c in world.countries),
                        "city": frozenset(c.name for c in world.cities), "continent": frozenset(world.continents)}
    return _VOCABS[key]


def colour_name(rgb: Iterable[int]) -> str:
    """The nearest of a few plain colour names (toy countries' sign colours are saturated RGB)."""
    r, g, b = rgb
    return min(COLOUR_NAMES, key=lambda n: sum((x - y) ** 2 for x, y in zip((r, g, b), COLOUR_NAMES[n], strict=True)))


def country_facts(world: World, code: str | None) -> dict[str, Any]:
    """Sign colour/shape, driving side, name and continent of a toy country (empty at sea)."""
    if not code:
        return {}
    try:
        c = world.country(code)
    except KeyError:
        return {}
    return {"country": c.name, "continent": c.continent, "sign_colour": colour_name(c.palette),
            "sign_shape": c.sign_shape.replace("_", " "), "driving_side": c.driving_side}
