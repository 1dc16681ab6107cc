"""The toy world: deterministic, sane, and with cues a small model can learn (colour-coded, in both views)."""

from __future__ import annotations

import io
import itertools
import json
import math

import numpy as np
import pytest

from geobench.geo import haversine_km
from geobench.tasks.toyworld import (
    CLIMATES,
    GEOCHAIN_FACTS,
    World,
    render_ground,
    render_satellite,
)
from geobench.tasks.toyworld import palette as pal
from geobench.tasks.toyworld.world import _build


@pytest.fixture(scope="module")
def world() -> World:
    return World(0)


@pytest.fixture(scope="module")
def places(world):
    return world.sample_places(600, seed=0)


def png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def near(img, rgb, tol: float = 28.0) -> np.ndarray:
    """Mask of the pixels within `tol` (RGB distance) of a colour."""
    a = np.asarray(img, dtype=np.float64)
    return np.sqrt(((a - np.array(rgb, dtype=np.float64)) ** 2).sum(-1)) <= tol


# ------------------------------------------------------------------------------------------ determinism


def test_world_is_deterministic_and_seed_dependent():
    fresh = _build.__wrapped__(0, 30)  # a real rebuild, not the cache
    w = World(0)
    assert np.array_equal(fresh.country, w.country_grid) and np.array_equal(fresh.land, w.land_grid)
    assert [c.name for c in fresh.countries] == [c.name for c in w.countries]
    assert fresh.countries == w.countries
    other = World(1)
    assert not np.array_equal(other.country_grid, w.country_grid)
    assert [c.name for c in other.countries] != [c.name for c in w.countries]


def test_place_facts_are_deterministic_and_json(world):
    a = [p.facts() for p in world.sample_places(40, seed=3)]
    fresh = World(0)
    fresh._m = _build.__wrapped__(0, 30)
    assert [p.facts() for p in fresh.sample_places(40, seed=3)] == a
    assert [p.facts() for p in world.sample_places(40, seed=4)] != a
    assert json.loads(json.dumps(a)) == a  # plain Python types only
    assert set(GEOCHAIN_FACTS) <= set(a[0]) and len(GEOCHAIN_FACTS) == 13
    assert world.place(a[0]["lat"], a[0]["lon"]).facts() == a[0]  # a place is a pure function of lat, lon


def test_png_bytes_are_deterministic(world, places):
    for p in places[:6]:
        for render in (render_ground, render_satellite):
            assert png(render(world, p, seed=7)) == png(render(world, p, seed=7))
            assert png(render(world, p, seed=7)) != png(render(world, p, seed=8))
    p = places[0]
    w1 = World(1)
    assert png(render_ground(w1, w1.place(p.lat, p.lon), 7)) != png(render_ground(world, p, 7))


@pytest.mark.parametrize("size", [64, 96, 128])
def test_render_sizes_and_mode(world, places, size):
    for render in (render_ground, render_satellite):
        img = render(world, places[1], seed=0, size=size)
        assert img.mode == "RGB" and img.size == (size, size)


# ----------------------------------------------------------------------------------------------- sanity


def test_all_climates_and_facts_occur(places):
    assert {p.climate for p in places} == set(CLIMATES)
    assert {p.settlement for p in places} == {"big_city", "small_town", "rural"}
    for fact in GEOCHAIN_FACTS:
        values = {p.geochain()[fact] for p in places}
        assert values == {True, False}, fact


def test_latitude_facts(world, places):
    for p in places:
        assert p.near_equator == (abs(p.lat) < 10)
        assert p.near_poles == (abs(p.lat) > 66.5)
        assert p.northern_hemisphere == (p.lat >= 0)
        assert p.land and p.country_code is not None
        assert p.flag == (p.settlement != "rural") and p.traffic_lights == (p.settlement == "big_city")
        assert not p.desert or p.climate == "dry"
        assert p.vehicles == p.road and (p.settlement == "rural" or p.road)
    assert world.place(89.9, 0).near_poles and world.place(-89.9, 0).near_poles
    assert world.place(1.0, 0).near_equator and not world.place(1.0, 0).near_poles


def test_sea_places(world):
    sea = [p for p in world.sample_places(200, seed=1, land_only=False) if not p.land]
    assert 10 <= len(sea) <= 60
    for p in sea[:3]:
        assert p.country_code is None and p.settlement == "rural" and p.boats and not p.vehicles
        assert render_ground(world, p).size == render_satellite(world, p).size == (96, 96)


def test_countries_are_distinct(world):
    cs = world.countries
    assert len(cs) == 30
    assert len({c.code for c in cs}) == len({c.name for c in cs}) == 30
    assert all(2 <= len(c.code) <= 3 for c in cs)
    dists = [math.dist(a.palette, b.palette) for a, b in itertools.combinations(cs, 2)]
    assert min(dists) >= 90
    assert {c.driving_side for c in cs} == {"left", "right"}
    assert {c.continent for c in cs} == set(world.continents)
    for c in cs:
        assert sum(city.kind == "big_city" for city in c.cities) == 1 and len(c.cities) >= 2
        for city in c.cities:
            assert world.place(city.lat, city.lon).country_code == c.code
            assert world.place(city.lat, city.lon).settlement == city.kind
    names = [city.name for city in world.cities]
    assert len(names) == len(set(names))


def test_neighbours(world, places):
    for i, p in enumerate(places[:25]):
        nb, radius = world.neighbours_with_radius(p, k=3, radius_km=40.0, seed=i)
        assert len(nb) == 3 and radius >= 40.0
        assert world.neighbours(p, k=3, radius_km=40.0, seed=i) == nb  # deterministic
        for q in nb:
            assert q.land and q != p
            assert 0 < float(haversine_km(p.lat, p.lon, q.lat, q.lon)) <= radius + 1e-6
            assert q.visual_key() != p.visual_key()  # a model can tell the true tile from this one
        assert len({(q.lat, q.lon) for q in nb}) == 3
    # A radius too small to hold 3 different places is widened, and the widened radius is honoured.
    p = places[0]
    nb, radius = world.neighbours_with_radius(p, k=3, radius_km=0.5, seed=0)
    assert radius > 0.5
    assert all(float(haversine_km(p.lat, p.lon, q.lat, q.lon)) <= radius + 1e-6 for q in nb)
    same = world.neighbours(p, k=3, radius_km=60.0, seed=0, distinct=False)
    assert len(same) == 3 and p not in same


# ------------------------------------------------------------------------------------------ learnability


def test_country_colour_is_on_the_sign_and_flag(world, places):
    """Each street view carries a big patch of its country's palette colour, and little of the others'."""
    for p in places[:40]:
        img = render_ground(world, p, seed=1)
        own = world.country_of(p).palette
        assert near(img, own).sum() >= 120, p.country_code
        others = [c.palette for c in world.countries if math.dist(c.palette, own) > 90]
        assert np.median([near(img, o).sum() for o in others]) < 20


def test_sign_on_the_driving_side_and_sun_on_the_equator_side(world, places):
    rural = [p for p in places if p.settlement == "rural"][:40]  # no flag, no towers hiding the sun
    assert {p.driving_side for p in rural} == {"left", "right"}
    for p in rural:
        img = render_ground(world, p, seed=2)
        xs = np.nonzero(near(img, world.country_of(p).palette))[1]
        assert (xs.mean() > 48) == (p.driving_side == "right")
        sun = np.nonzero(near(img, pal.SUN, 20))[1]
        assert (sun.mean() > 48) == p.northern_hemisphere


def test_climate_colour_differs_in_both_views(world, places):
    """Mean ground colour (street view, lower corners) and land-cover colour (tile) separate the climates."""
    ground: dict[str, list] = {c: [] for c in CLIMATES}
    tile: dict[str, list] = {c: [] for c in CLIMATES}
    for p in places:
        if p.settlement != "rural" or p.desert or p.mountainous or p.near_coast or len(ground[p.climate]) >= 8:
            continue
        g = np.asarray(render_ground(world, p, seed=3), dtype=float)
        ground[p.climate].append(np.concatenate([g[84:, :10], g[84:, 86:]], axis=1).reshape(-1, 3).mean(0))
        tile[p.climate].append(np.asarray(render_satellite(world, p, seed=3), dtype=float).reshape(-1, 3).mean(0))
    for views in (ground, tile):
        means = {c: np.mean(v, axis=0) for c, v in views.items()}
        assert all(len(v) >= 3 for v in views.values()), {c: len(v) for c, v in views.items()}
        for a, b in itertools.combinations(CLIMATES, 2):
            assert math.dist(means[a], means[b]) > 30, (a, b)


def test_roofs_share_the_country_tint_and_show_density(world, places):
    counts: dict[str, list[int]] = {"big_city": [], "small_town": [], "rural": []}
    for p in places[:150]:
        roof = world.country_of(p).roof
        tile = render_satellite(world, p, seed=4)
        if math.dist(roof, pal.CLIMATE_LAND[p.climate]) < 60 or math.dist(roof, pal.DESERT_LAND) < 60:
            continue  # a white roof on snow: count is meaningless
        counts[p.settlement].append(int(near(tile, roof, 24).sum()))
        if p.settlement != "rural":
            assert near(render_ground(world, p, seed=4), roof, 24).sum() >= 40  # the same tint on the street
    big, town, rural = (np.mean(counts[k]) for k in ("big_city", "small_town", "rural"))
    assert big > 2 * town > 0 and town > 2 * rural


def test_coast_shows_in_both_views(world, places):
    for p in [q for q in places if q.near_coast][:10] + [q for q in places if not q.near_coast][:10]:
        g = near(render_ground(world, p, seed=5), pal.SEA, 20).sum()
        s = near(render_satellite(world, p, seed=5), pal.SEA, 20).sum()
        assert (g > 150) == p.near_coast and (s > 300) == p.near_coast, p
