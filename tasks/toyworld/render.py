"""Street-view and satellite renderers for the toy world: PIL only, 64-128 px, a few ms per image.

Bold over realistic: each attribute a model should learn is a large, colour-coded region that survives the
14-px patches of a small ViT at 56-112 px (notes/learnability.md section 4):
- climate: sky and ground colour (street view) = land-cover colour and texture (tile);
- country: sign colour and shape, flag colour (street view); roof tint in both views;
- driving side: the sign and the cars stand on the driving side of the road;
- latitude: sun height (high near the equator); hemisphere: sun on the right in the north, left in the south;
- settlement: number and height of buildings, traffic lights (street view) = roof density, road grid (tile);
- coast: a sea band with boats (street view) = sea on the side where it really is (tile);
- mountains: brown peaks on the horizon = brown hill-shaded peaks; desert: dunes in both.
Drawing is done in a 96-px coordinate space and scaled, so every size shows the same scene. Randomness is
seeded by (world seed, place, seed, view): the same call gives the same bytes, another seed another picture.
A few things are seeded by the place alone (how many houses, road direction), so both views agree on them.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw, ImageFont

from .palette import (
    CAR_COLOURS,
    CLIMATE_LAND,
    CLIMATE_SKY,
    DESERT_LAND,
    MOUNTAIN,
    RGB,
    ROAD,
    SEA,
    SNOW,
    SUN,
)
from .world import Country, Place, World, _seed

WHITE: RGB = (246, 246, 246)
BLACK: RGB = (20, 20, 20)


# --------------------------------------------------------------------------------------------- helpers


def _rng(world: World, place: Place, *parts: object) -> random.Random:
    return random.Random(_seed(world.seed, round(place.lat, 6), round(place.lon, 6), *parts))


def _jit(rng: random.Random, rgb: RGB, amount: int = 10) -> RGB:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in rgb)  # type: ignore[return-value]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def land_colour(place: Place) -> RGB:
    """The ground / land-cover colour of a place: its climate's, or sand in deserts."""
    return DESERT_LAND if place.desert else CLIMATE_LAND[place.climate]


class _Pen:
    """ImageDraw in a 96-px coordinate space, scaled to the image size."""

    def __init__(self, img: Image.Image):
        self.d = ImageDraw.Draw(img)
        self.k = img.width / 96.0

    def _pts(self, pts):
        return [(x * self.k, y * self.k) for x, y in pts]

    def _w(self, w: float) -> int:
        return max(1, round(w * self.k))

    def rect(self, x0, y0, x1, y1, fill, outline=None, width=1):
        self.d.rectangle(self._pts([(x0, y0), (x1, y1)]), fill=fill, outline=outline,
                         width=self._w(width) if outline else 0)

    def poly(self, pts, fill, outline=None, width=1):
        self.d.polygon(self._pts(pts), fill=fill, outline=outline, width=self._w(width) if outline else 0)

    def ellipse(self, cx, cy, rx, ry, fill, outline=None, width=1):
        self.d.ellipse(self._pts([(cx - rx, cy - ry), (cx + rx, cy + ry)]), fill=fill, outline=outline,
                       width=self._w(width) if outline else 0)

    def line(self, pts, fill, width=1.0):
        self.d.line(self._pts(pts), fill=fill, width=self._w(width))


def _layout(world: World, place: Place) -> random.Random:
    """Randomness of the place itself (not of a picture of it), shared by the street view and the tile."""
    return _rng(world, place, "layout")


def _n_buildings(world: World, place: Place) -> int:
    lay = _layout(world, place)
    if place.settlement == "big_city":
        return lay.randint(8, 11)
    if place.settlement == "small_town":
        return lay.randint(3, 5)
    return 1 if place.road and lay.random() < 0.5 else 0  # a farm by the road


def _road_angle(world: World, place: Place) -> float:
    lay = _layout(world, place)
    lay.random()
    return lay.choice((0.0, 45.0, 90.0, 135.0))


def _shape(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    """Polygon of a sign glyph; None for a circle."""
    if shape == "circle":
        return None
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + 0.8 * r), (cx - r, cy + 0.8 * r)]
    if shape == "inverted_triangle":
        return [(cx - r, cy - 0.8 * r), (cx + r, cy - 0.8 * r), (cx, cy + r)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if shape == "square":
        q = 0.85 * r
        return [(cx - q, cy - q), (cx + q, cy - q), (cx + q, cy + q), (cx - q, cy + q)]
    sides = {"pentagon": 5, "hexagon": 6, "octagon": 8}[shape]
    start = -math.pi / 2 if sides == 5 else math.pi / sides
    return [(cx + r * math.cos(start + 2 * math.pi * i / sides), cy + r * math.sin(start + 2 * math.pi * i / sides))
            for i in range(sides)]


def _luma(rgb: RGB) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


# ------------------------------------------------------------------------------------------ street view


def render_ground(world: World, place: Place, seed: int = 0, size: int = 96) -> Image.Image:
    """A street view of `place` (RGB, size x size): what a person standing there, facing east, would see."""
    rng = _rng(world, place, seed, "ground")
    country = world.country_of(place)
    img = Image.new("RGB", (size, size), _jit(rng, CLIMATE_SKY[place.climate], 6))
    pen = _Pen(img)
    yh = 50 + rng.uniform(-3, 3)  # horizon
    cx = 48 + rng.uniform(-2, 2)  # vanishing point of the road
    pen.rect(0, yh - 12, 96, yh, _mix(CLIMATE_SKY[place.climate], WHITE, 0.25))  # haze near the horizon

    # Sun: noon elevation 90 - |lat|; facing east, it is to the south: right in the north, left in the south.
    elev = 90.0 - abs(place.lat)
    sy = yh - 9 - (yh - 18) * elev / 90.0
    sx = (76 if place.northern_hemisphere else 20) + rng.uniform(-4, 4)
    pen.ellipse(sx, sy, 7, 7, SUN)

    if place.mountainous:
        _ground_mountains(pen, rng, yh)
    sea_h = 0.0
    if not place.land:
        sea_h = 96 - yh
    elif place.near_coast:
        sea_h = 11 + rng.uniform(-1, 1)
    if sea_h:
        pen.rect(0, yh, 96, yh + sea_h, _jit(rng, SEA, 6))
        for _ in range(rng.randint(1, 2)):
            _boat(pen, rng, rng.uniform(8, 88), yh + min(sea_h, 40) * rng.uniform(0.55, 0.9),
                  1.0 if place.land else 1.6)
    if not place.land:
        return img

    yg = yh + sea_h
    land = land_colour(place)
    pen.rect(0, yg, 96, 96, _jit(rng, land, 8))
    _ground_texture(pen, rng, place, yg)
    side = 1 if place.driving_side == "right" else -1
    _buildings_ground(pen, rng, place, country, _n_buildings(world, place), yg, cx)
    _trees_ground(pen, rng, place, yg, cx)
    if place.road:
        _road_ground(pen, rng, place, yg, cx, side)
    if place.traffic_lights:
        _traffic_light(pen, cx - side * rng.uniform(20, 24), yg + rng.uniform(12, 16))
    if place.flag:
        _flag(pen, rng, country, 48 - side * 39, yg + 14)
    _sign(pen, rng, country, cx + side * rng.uniform(30, 35), yg - 4 + rng.uniform(-3, 3), yg + 16)
    return img


def _ground_mountains(pen: _Pen, rng: random.Random, yh: float) -> None:
    for _ in range(3):
        px, h, w = rng.uniform(10, 86), rng.uniform(20, 32), rng.uniform(20, 30)
        pen.poly([(px - w, yh + 1), (px, yh - h), (px + w, yh + 1)], _jit(rng, MOUNTAIN, 8))
        t = 0.35
        pen.poly([(px - w * t, yh - h * (1 - t)), (px, yh - h), (px + w * t, yh - h * (1 - t))], SNOW)


def _boat(pen: _Pen, rng: random.Random, x: float, y: float, s: float) -> None:
    hull = rng.choice(((200, 40, 40), WHITE, (240, 200, 40)))
    pen.poly([(x - 7 * s, y - 3 * s), (x + 7 * s, y - 3 * s), (x + 5 * s, y), (x - 5 * s, y)], hull)
    pen.line([(x, y - 3 * s), (x, y - 12 * s)], BLACK, 1)
    pen.poly([(x + 0.5, y - 12 * s), (x + 0.5, y - 4 * s), (x + 6 * s, y - 4 * s)], WHITE)


def _ground_texture(pen: _Pen, rng: random.Random, place: Place, yg: float) -> None:
    c = place.climate
    if place.desert:
        for _ in range(4):  # dunes
            y = rng.uniform(yg + 4, 92)
            x = rng.uniform(-10, 70)
            pen.poly([(x, y), (x + 14, y - 5), (x + 34, y)], (220, 186, 116))
    elif c == "polar":
        for _ in range(6):  # snow drifts
            pen.ellipse(rng.uniform(0, 96), rng.uniform(yg + 3, 94), rng.uniform(5, 12), 1.5, (196, 212, 232))
    elif c == "dry":
        for _ in range(10):  # shrubs
            pen.ellipse(rng.uniform(0, 96), rng.uniform(yg + 2, 94), 2.5, 1.8, (128, 118, 66))
    elif c == "temperate":
        for _ in range(3):  # fields
            y = rng.uniform(yg + 2, 90)
            pen.rect(0, y, 96, y + rng.uniform(2, 4), (160, 200, 92))
    else:  # tropical, continental: darker specks of undergrowth
        col = (8, 88, 28) if c == "tropical" else (60, 66, 40)
        for _ in range(12):
            pen.ellipse(rng.uniform(0, 96), rng.uniform(yg + 2, 94), 2.0, 1.5, col)


def _trees_ground(pen: _Pen, rng: random.Random, place: Place, yg: float, cx: float) -> None:
    n = round(place.tree_cover * 6)
    for _ in range(n):
        yb = rng.uniform(yg + 3, 80)
        depth = (yb - yg) / max(1.0, 96 - yg)  # 0 at the horizon, 1 at the bottom
        half_road = 3 + 28 * depth
        x = rng.choice((rng.uniform(2, cx - half_road - 6), rng.uniform(cx + half_road + 6, 94)))
        h = 9 + 14 * depth
        if place.climate == "tropical":  # palm
            pen.line([(x, yb), (x + 2, yb - h)], (110, 76, 40), 2)
            pen.ellipse(x + 2, yb - h, h * 0.45, h * 0.18, (20, 150, 50))
        elif place.climate == "continental":  # conifer
            pen.poly([(x - h * 0.3, yb), (x, yb - h), (x + h * 0.3, yb)], (26, 66, 38))
        elif place.climate == "dry":  # cactus
            pen.rect(x - 1.5, yb - h * 0.8, x + 1.5, yb, (70, 130, 60))
            pen.rect(x - 5, yb - h * 0.55, x - 1.5, yb - h * 0.45, (70, 130, 60))
        else:  # round broadleaf
            pen.line([(x, yb), (x, yb - h * 0.5)], (100, 70, 40), 2)
            pen.ellipse(x, yb - h * 0.65, h * 0.35, h * 0.35, (46, 128, 44))


def _road_ground(pen: _Pen, rng: random.Random, place: Place, yg: float, cx: float, side: int) -> None:
    pen.poly([(cx - 2, yg), (cx + 2, yg), (cx + 30, 96), (cx - 30, 96)], _jit(rng, ROAD, 6))
    for k in range(4):  # centre dashes, longer near the camera
        t0, t1 = 0.1 + 0.24 * k, 0.2 + 0.24 * k
        y0, y1 = yg + (96 - yg) * t0 ** 1.3, yg + (96 - yg) * t1 ** 1.3
        pen.line([(cx, y0), (cx, y1)], (236, 236, 220), 1 + 2 * t1)
    n = {"big_city": 3, "small_town": 2}.get(place.settlement, 1)
    for k in range(n):  # driving away from us, on the driving side
        depth = (0.9 - k * 0.28) * rng.uniform(0.9, 1.05)
        yb = yg + (96 - yg) * depth
        half_road = 2 + 28 * depth
        x = cx + side * half_road * 0.5
        w, h = 16 * depth + 2, 10 * depth + 1.5
        body = rng.choice(CAR_COLOURS)
        pen.rect(x - w / 2, yb - h, x + w / 2, yb - h * 0.15, body)
        pen.rect(x - w * 0.35, yb - h * 0.95, x + w * 0.35, yb - h * 0.6, (40, 50, 66))
        pen.rect(x - w / 2, yb - h * 0.15, x - w * 0.3, yb, BLACK)
        pen.rect(x + w * 0.3, yb - h * 0.15, x + w / 2, yb, BLACK)
        pen.rect(x - w / 2, yb - h * 0.45, x - w * 0.38, yb - h * 0.3, (255, 30, 30))
        pen.rect(x + w * 0.38, yb - h * 0.45, x + w / 2, yb - h * 0.3, (255, 30, 30))


def _buildings_ground(pen: _Pen, rng: random.Random, place: Place, country: Country | None, n: int,
                      yg: float, cx: float) -> None:
    if not n or country is None:
        return
    roof = _jit(rng, country.roof, 6)
    slots = [x for x in range(4, 94, 9) if abs(x - cx) > 9]
    xs = sorted(rng.sample(slots, min(n, len(slots))))
    for x in xs:
        x += rng.uniform(-2, 2)
        if place.settlement == "big_city":
            w, h = rng.uniform(9, 13), rng.uniform(18, 40)
            pen.rect(x - w / 2, yg - h, x + w / 2, yg + 1, _mix(roof, (150, 150, 156), 0.45))
            for wy in range(int(yg - h + 8), int(yg - 2), 5):  # window rows
                pen.line([(x - w / 2 + 2, wy), (x + w / 2 - 2, wy)], (226, 236, 246), 1)
            pen.rect(x - w / 2, yg - h, x + w / 2, yg - h + 5, roof)
        else:
            w, h = rng.uniform(11, 15), rng.uniform(7, 10)
            base = yg + 3
            pen.rect(x - w / 2, base - h, x + w / 2, base, _jit(rng, (226, 214, 190), 8))
            pen.poly([(x - w / 2 - 2, base - h), (x, base - h - 7), (x + w / 2 + 2, base - h)], roof)


def _traffic_light(pen: _Pen, x: float, yb: float) -> None:
    pen.line([(x, yb), (x, yb - 30)], (60, 60, 64), 2)
    pen.rect(x - 3.5, yb - 44, x + 3.5, yb - 28, BLACK)
    for k, col in enumerate(((255, 30, 30), (255, 200, 0), (40, 220, 60))):
        pen.ellipse(x, yb - 40.5 + 5 * k, 2.2, 2.2, col)


def _flag(pen: _Pen, rng: random.Random, country: Country | None, x: float, yb: float) -> None:
    if country is None:
        return
    top = 10 + rng.uniform(-2, 2)
    pen.line([(x, yb), (x, top)], (70, 70, 70), 1.5)
    d = 1 if x < 48 else -1
    x1 = x + d * 20
    pen.rect(min(x, x1), top, max(x, x1), top + 13, _jit(rng, country.palette, 5))
    pen.rect(min(x, x1), top + 5, max(x, x1), top + 8, WHITE)


def _sign(pen: _Pen, rng: random.Random, country: Country | None, x: float, y: float, yb: float) -> None:
    if country is None:
        return
    r = 13 + rng.uniform(-1, 1)  # 26 px across at 96 px: wider than a 14-px patch even at 56 px
    pen.line([(x, y), (x, yb)], (90, 90, 96), 2)
    fill = _jit(rng, country.palette, 5)
    pts = _shape(country.sign_shape, x, y, r)
    if pts is None:
        pen.ellipse(x, y, r, r, fill, BLACK, 1.5)
    else:
        pen.poly(pts, fill, BLACK, 1.5)
    if pen.k >= 0.9:  # the letters: legible from 96 px up
        font = ImageFont.load_default_imagefont()
        ink = BLACK if _luma(country.palette) > 120 else WHITE
        pen.d.text((x * pen.k, y * pen.k), country.sign_text, fill=ink, font=font, anchor="mm")


# -------------------------------------------------------------------------------------------- satellite


def render_satellite(world: World, place: Place, seed: int = 0, size: int = 96) -> Image.Image:
    """A north-up top-down tile centred on `place` (RGB, size x size), a few km across."""
    rng = _rng(world, place, seed, "satellite")
    country = world.country_of(place)
    img = Image.new("RGB", (size, size), _jit(rng, land_colour(place), 6) if place.land else SEA)
    pen = _Pen(img)
    if not place.land:
        _boats_top(pen, rng, [(0, 0), (96, 0), (96, 96), (0, 96)], rng.randint(1, 3))
        return img
    _cover_top(pen, rng, place)
    if place.mountainous:
        _peaks_top(pen, rng, place)
    roads = _roads_top(pen, rng, world, place)
    if country is not None:
        _roofs_top(pen, rng, place, country, roads, _n_buildings(world, place))
    if place.near_coast:
        _sea_top(img, pen, rng, place)
    return img


def _cover_top(pen: _Pen, rng: random.Random, place: Place) -> None:
    c, t = place.climate, place.tree_cover
    if place.desert:
        for _ in range(7):  # dunes
            y0, amp, ph = rng.uniform(-4, 96), rng.uniform(2, 4), rng.uniform(0, 6.3)
            pen.line([(x, y0 + amp * math.sin(x / 9 + ph)) for x in range(-4, 101, 6)], (214, 178, 104), 3)
    elif c == "polar":
        for _ in range(5):  # crevasses and drifts
            x, y = rng.uniform(0, 96), rng.uniform(0, 96)
            pen.line([(x, y), (x + rng.uniform(-20, 20), y + rng.uniform(-8, 8))], (192, 208, 230), 2)
    elif c == "dry":
        for _ in range(18):
            pen.ellipse(rng.uniform(0, 96), rng.uniform(0, 96), 1.6, 1.6, (140, 122, 72))
    elif c == "temperate":
        for _ in range(rng.randint(3, 5)):  # fields
            x, y = rng.uniform(-10, 86), rng.uniform(-10, 86)
            pen.rect(x, y, x + rng.uniform(14, 30), y + rng.uniform(10, 22),
                     rng.choice(((156, 200, 90), (100, 160, 56), (198, 196, 112))))
    trees = {"tropical": (8, 86, 28), "continental": (30, 58, 34), "temperate": (40, 110, 40)}.get(c)
    if trees and not place.desert:
        r = 4.5 if c == "tropical" else 2.5
        for _ in range(int(8 + 50 * t)):
            pen.ellipse(rng.uniform(0, 96), rng.uniform(0, 96), r, r, trees)


def _peaks_top(pen: _Pen, rng: random.Random, place: Place) -> None:
    """Hill-shaded pyramids seen from above: faces towards the north-west lit, the others in shadow."""
    snowy = place.climate == "polar" or place.elevation_m > 3800
    for _ in range(6):
        cx, cy, r = rng.uniform(6, 90), rng.uniform(6, 90), rng.uniform(12, 18)
        n = 6
        ring = [(cx + r * rng.uniform(0.7, 1.0) * math.cos(a), cy + r * rng.uniform(0.7, 1.0) * math.sin(a))
                for a in (2 * math.pi * (i + rng.uniform(-0.2, 0.2)) / n for i in range(n))]
        for i in range(n):
            (x0, y0), (x1, y1) = ring[i], ring[(i + 1) % n]
            facing = math.atan2((y0 + y1) / 2 - cy, (x0 + x1) / 2 - cx)  # outward direction of the face
            lit = 0.5 + 0.5 * math.cos(facing - math.radians(225))  # light from the north-west (up-left)
            pen.poly([(cx, cy), (x0, y0), (x1, y1)], _mix(_mix(MOUNTAIN, BLACK, 0.3), _mix(MOUNTAIN, WHITE, 0.5), lit))
        if snowy:
            pen.poly([(cx + 0.3 * (x - cx), cy + 0.3 * (y - cy)) for x, y in ring], SNOW)


def _roads_top(pen: _Pen, rng: random.Random, world: World, place: Place) -> list[tuple]:
    """Draw the roads; return them as ((x0, y0), (x1, y1), half width) so roofs can keep off them."""
    roads: list[tuple] = []
    if not place.road:
        return roads
    if place.settlement == "big_city":
        off = rng.uniform(4, 12)
        for k in range(4):
            v = off + 24 * k
            roads += [((v, -2), (v, 98), 3.0), ((-2, v), (98, v), 3.0)]
    else:
        a = math.radians(_road_angle(world, place))
        dx, dy = math.sin(a), -math.cos(a)
        c = (48 + rng.uniform(-8, 8), 48 + rng.uniform(-8, 8))
        roads.append(((c[0] - 80 * dx, c[1] - 80 * dy), (c[0] + 80 * dx, c[1] + 80 * dy), 3.0))
        if place.settlement == "small_town":  # a crossing street
            roads.append(((c[0] + 80 * dy, c[1] - 80 * dx), (c[0] - 80 * dy, c[1] + 80 * dx), 2.5))
    for p0, p1, hw in roads:
        pen.line([p0, p1], ROAD, 2 * hw)
    return roads


def _dist_to_segment(x: float, y: float, p0, p1) -> float:
    (x0, y0), (x1, y1) = p0, p1
    vx, vy = x1 - x0, y1 - y0
    t = max(0.0, min(1.0, ((x - x0) * vx + (y - y0) * vy) / (vx * vx + vy * vy)))
    return math.hypot(x - x0 - t * vx, y - y0 - t * vy)


def _roofs_top(pen: _Pen, rng: random.Random, place: Place, country: Country, roads: list, n: int) -> None:
    roof = _jit(rng, country.roof, 6)
    edge = _mix(roof, BLACK, 0.5)
    if place.settlement == "big_city":
        spots = [(x + rng.uniform(-2, 2), y + rng.uniform(-2, 2)) for x in range(6, 96, 12) for y in range(6, 96, 12)]
        spots = [s for s in spots if rng.random() < 0.85]
        half = (3.5, 5.0)
    else:
        spots = []
        for _ in range(6 * n):  # along the roads
            if len(spots) == 2 * n or not roads:
                break
            p0, p1, hw = rng.choice(roads)
            t = rng.uniform(0.3, 0.7)
            bx, by = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
            ln = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
            nx, ny = -(p1[1] - p0[1]) / ln, (p1[0] - p0[0]) / ln
            off = rng.choice((-1, 1)) * (hw + 6)
            spots.append((bx + off * nx, by + off * ny))
        half = (3.0, 4.0)
    for x, y in spots:
        if not -2 <= x <= 98 or not -2 <= y <= 98:
            continue
        hw_, hh_ = rng.uniform(*half), rng.uniform(*half)
        if any(_dist_to_segment(x, y, p0, p1) < hw + min(hw_, hh_) for p0, p1, hw in roads):
            continue
        pen.rect(x - hw_, y - hh_, x + hw_, y + hh_, roof, edge, 1)


def _sea_top(img: Image.Image, pen: _Pen, rng: random.Random, place: Place) -> None:
    """Sea on the side where it is (sea_bearing), all around if the place is almost surrounded by it."""
    mask = Image.new("L", img.size, 0)
    mpen = _Pen(mask)
    if place.sea_share >= 0.75 or place.sea_bearing is None:
        n = 14
        pts = [(48 + math.cos(2 * math.pi * i / n) * rng.uniform(28, 36),
                48 + math.sin(2 * math.pi * i / n) * rng.uniform(28, 36)) for i in range(n)]
        mpen.rect(0, 0, 96, 96, 255)
        mpen.poly(pts, 0)
        sea_pts = [(0, 0), (96, 0), (96, 6), (0, 6)]
    else:
        b = math.radians(place.sea_bearing)
        dx, dy = math.sin(b), -math.cos(b)  # image y points south
        px, py = -dy, dx
        off = 30 - 16 * place.sea_share  # more sea in the tile when more directions see it
        coast = [(48 + off * dx + s * px + rng.uniform(-2, 2) * dx, 48 + off * dy + s * py + rng.uniform(-2, 2) * dy)
                 for s in range(-72, 73, 12)]
        far = [(48 + 90 * dx + 72 * px, 48 + 90 * dy + 72 * py), (48 + 90 * dx - 72 * px, 48 + 90 * dy - 72 * py)]
        mpen.poly(coast + far, 255)
        mid = 48 + (off + 14) * dx, 48 + (off + 14) * dy
        sea_pts = [(mid[0] - 10 * px, mid[1] - 10 * py), (mid[0] + 10 * px, mid[1] + 10 * py)]
    img.paste(_jit(rng, SEA, 6), mask=mask)
    _boats_top(pen, rng, sea_pts, rng.randint(1, 2))


def _boats_top(pen: _Pen, rng: random.Random, area: list[tuple[float, float]], n: int) -> None:
    xs, ys = [p[0] for p in area], [p[1] for p in area]
    for _ in range(n):
        x = rng.uniform(max(3, min(xs)), min(93, max(xs)))
        y = rng.uniform(max(3, min(ys)), min(93, max(ys)))
        pen.line([(x - 6, y), (x - 1, y)], (150, 190, 236), 1.5)  # wake
        pen.rect(x - 2, y - 1.5, x + 3, y + 1.5, WHITE)


# ------------------------------------------------------------------------------------------------ tools


def contact_sheet(images: list[Image.Image], cols: int = 8, pad: int = 2) -> Image.Image:
    """Images in a grid, for looking at many renders at once."""
    if not images:
        raise ValueError("no images")
    w, h = images[0].size
    rows = math.ceil(len(images) / cols)
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), (255, 255, 255))
    for i, im in enumerate(images):
        sheet.paste(im, (pad + (i % cols) * (w + pad), pad + (i // cols) * (h + pad)))
    return sheet
