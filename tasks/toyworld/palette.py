"""Colours of the toy world, in one place so the world and both renderers agree on them.

The cues are colour-coded on purpose: a tiny ViT with 14-px patches picks up mean colours long before shapes
(notes/learnability.md section 4), so every attribute a model should learn gets its own bold colour.
"""

from __future__ import annotations

RGB = tuple[int, int, int]

# 30 country colours, chosen by farthest-point sampling in RGB over saturated colours: every pair is at least
# 92 apart (Euclidean RGB), so two countries' signs and flags never look alike.
COUNTRY_PALETTE: tuple[RGB, ...] = (
    (0, 0, 120), (255, 255, 0), (90, 255, 255), (255, 15, 255), (0, 240, 15), (240, 0, 0), (90, 75, 255),
    (255, 150, 135), (135, 135, 15), (0, 165, 165), (120, 255, 105), (150, 0, 135), (210, 135, 255),
    (0, 120, 45), (120, 0, 15), (255, 120, 0), (0, 0, 240), (255, 30, 105), (225, 255, 135), (105, 240, 0),
    (15, 255, 120), (0, 120, 255), (90, 165, 210), (45, 75, 165), (150, 0, 240), (195, 75, 180),
    (0, 225, 240), (195, 195, 60), (60, 180, 90), (180, 60, 60),
)

# Roof / architecture tints. Fewer than countries, so they repeat, but bordering countries get different ones.
ROOF_TINTS: tuple[RGB, ...] = (
    (196, 78, 36),    # terracotta
    (56, 78, 136),    # slate blue
    (20, 146, 140),   # teal
    (226, 176, 36),   # ochre
    (112, 18, 44),    # maroon
    (150, 60, 190),   # violet
    (238, 238, 232),  # white
    (40, 40, 46),     # charcoal
    (236, 128, 176),  # pink
    (92, 150, 40),    # moss green
)

SIGN_SHAPES = ("triangle", "circle", "diamond", "square", "octagon", "inverted_triangle", "hexagon", "pentagon")

# Land colour per climate: the same hue is the ground in the street view and the land cover in the tile.
CLIMATE_LAND: dict[str, RGB] = {
    "polar": (236, 240, 246),
    "continental": (84, 96, 58),
    "temperate": (124, 180, 72),
    "dry": (196, 164, 108),
    "tropical": (18, 120, 40),
}
DESERT_LAND: RGB = (240, 212, 142)
CLIMATE_SKY: dict[str, RGB] = {
    "polar": (196, 204, 222),
    "continental": (142, 166, 196),
    "temperate": (118, 180, 236),
    "dry": (204, 216, 226),
    "tropical": (40, 128, 236),
}
SEA: RGB = (26, 84, 184)
ROAD: RGB = (96, 96, 100)
MOUNTAIN: RGB = (132, 98, 84)  # rocky brown, in both views
SNOW: RGB = (250, 250, 252)
SUN: RGB = (255, 234, 110)
CAR_COLOURS: tuple[RGB, ...] = ((214, 40, 40), (240, 240, 240), (40, 70, 170), (250, 200, 40), (70, 70, 74))
