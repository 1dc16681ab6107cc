"""Answer parsing: coordinates and names in the forms models really write, adversarial input, never raising."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobench import parse

PARIS = (48.8566, 2.3522)
SYDNEY = (-33.8688, 151.2093)

# (completion, expected (lat, lon) or None). Real-looking completions first, then malformed and adversarial.
COORDINATE_TABLE = [
    # Geo-R1 format, the forms models write
    ("<think>Haussmann facades, Metro sign.</think><answer>(48.8566, 2.3522)</answer>", PARIS),
    ("<think>x</think>\n<answer>\n48.8566, 2.3522\n</answer>", PARIS),
    ("<think>x</think><answer>[48.8566, 2.3522]</answer>", PARIS),
    ("<answer>48.8566 2.3522</answer>", PARIS),
    ("<answer>lat: 48.8566, lon: 2.3522</answer>", PARIS),
    ("<answer>Latitude: 48.8566\nLongitude: 2.3522</answer>", PARIS),
    ("<answer>latitude=48.8566; longitude=2.3522</answer>", PARIS),
    ("<answer>lng: 2.3522, lat: 48.8566</answer>", PARIS),  # longitude first, labelled
    ("<answer>48.8566°N, 2.3522°E</answer>", PARIS),
    ("<answer>48.8566 N 2.3522 E</answer>", PARIS),
    ("<answer>N 48.8566, E 2.3522</answer>", PARIS),
    ("<answer>N 48.8566 E 2.3522</answer>", PARIS),
    ("<answer>2.3522° E, 48.8566° N</answer>", PARIS),  # hemisphere letters decide the axis
    ("<answer>Latitude: 48.8566° N\nLongitude: 2.3522° E</answer>", PARIS),
    ("<answer>33°52'S 151°12'E</answer>", (-(33 + 52 / 60), 151.2)),
    ("<answer>48°51′24″N 2°21′08″E</answer>", (48 + 51 / 60 + 24 / 3600, 2 + 21 / 60 + 8 / 3600)),
    ("<answer>48° 51' 24\" N, 2° 21' 8\" E</answer>", (48 + 51 / 60 + 24 / 3600, 2 + 21 / 60 + 8 / 3600)),
    ("<answer>33 deg 52 min S, 151 deg 12 min E</answer>", (-(33 + 52 / 60), 151.2)),
    ('<answer>{"lat": 48.8566, "lon": 2.3522}</answer>', PARIS),
    ('<answer>{"latitude": "48.8566", "longitude": "2.3522"}</answer>', PARIS),
    ('<answer>{"address": "Rue de Rivoli, Paris", "reverse_geocoding": {"coordinates": '
     '{"latitude": 48.8566, "longitude": 2.3522}}}</answer>', PARIS),
    ('<answer>{"lat/lng": "48.8566, 2.3522", "reasoning": "..."}</answer>', PARIS),
    ('<answer>{"coordinates": [48.8566, 2.3522]}</answer>', PARIS),
    ('<answer>{"type": "Point", "coordinates": [2.3522, 48.8566]}</answer>', PARIS),  # GeoJSON: lon first
    ("<answer>country: France\ncity: Paris\ncoordinates: (48.8566, 2.3522)</answer>", PARIS),
    ("<answer>Paris, France (48.8566° N, 2.3522° E)</answer>", PARIS),
    ("<answer>(48.8566, 2.3522), i.e. 48°51'24\"N 2°21'8\"E</answer>", PARIS),  # the same point twice
    ("<answer>(\u221233.8688, 151.2093)</answer>", SYDNEY),  # unicode minus
    ("<answer>(\u201333.8688, 151.2093)</answer>", SYDNEY),  # en dash
    ("<answer>(\uff0d33.8688, 151.2093)</answer>", SYDNEY),  # full-width minus
    ("<answer>(-33.8688,151.2093)</answer>", SYDNEY),
    ("<answer>(33.8688 S, 151.2093 E)</answer>", SYDNEY),
    ("<answer>-0.0, -0.0</answer>", (0.0, 0.0)),
    ("<answer>(90, 180)</answer>", (90.0, 180.0)),  # the edges are valid
    ("<answer>(-90, -180)</answer>", (-90.0, -180.0)),
    # no tags: the whole text, last mention wins; the think block is ignored
    ("It looks like Paris: (48.8566, 2.3522)", PARIS),
    ("I think it is (\u221212.5, 130.1)", (-12.5, 130.1)),
    ("<think>Maybe (51.5, -0.12)?</think> Final answer: 48.8566, 2.3522", PARIS),
    ("Route 66, 12 km north of town. Final: 48.8566, 2.3522", PARIS),
    ("First guess (51.5, -0.12), but the signs are French, so (48.8566, 2.3522).", PARIS),
    ("<answer>(1, 2)</answer> <answer>(3, 4)</answer>", (3.0, 4.0)),  # the last answer block wins
    ("<think>x</think><answer>(48.8566, 2.3522)", PARIS),  # unclosed final answer (truncated)
    # malformed
    ("", None),
    ("<answer></answer>", None),
    ("<answer>Paris, France</answer>", None),
    ("<answer>somewhere in Europe</answer>", None),
    ("<answer>(48.8566)</answer>", None),
    ("<answer>lat: 48.8566</answer>", None),
    ("<answer>(48,85; 2,35)</answer>", None),  # decimal commas: ambiguous, refused
    ("<think>I need more time to think about (48.8", None),  # truncated inside the think block
    # adversarial
    ("<answer>(95, 10)</answer>", None),
    ("<answer>(10, 181)</answer>", None),
    ("<answer>(nan, 10)</answer>", None),
    ("<answer>(NaN, NaN)</answer>", None),
    ("<answer>(inf, 10)</answer>", None),
    ('<answer>{"lat": NaN, "lon": 3}</answer>', None),
    ('<answer>{"lat": Infinity, "lon": 3}</answer>', None),
    ('<answer>{"lat": true, "lon": 3}</answer>', None),
    ("<answer>(1e400, 5)</answer>", None),
    ("<answer>(1e5, 5)</answer>", None),
    ("<answer>(99999999999999999999999999, 5)</answer>", None),
    ("<answer>(" + "9" * 400 + ", 5)</answer>", None),
    ("<answer>(48.8566, 2.3522) or (51.5074, -0.1278)</answer>", None),  # hedging between two places
    ("<answer>(48.8566, 2.3522) (95, 10)</answer>", None),  # a valid point next to an impossible one
    ("<answer>48°75'N 2°21'E</answer>", None),  # 75 minutes
    ("<answer>v2.0, 1.5</answer>", None),
]


@pytest.mark.parametrize("text, expected", COORDINATE_TABLE)
def test_coordinates_table(text, expected):
    got = parse.coordinates(text)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-9)


NAME_TABLE = [
    ("<answer>country: France\ncity: Paris</answer>", ("France", "Paris")),
    ("<answer>Country: **France (FR)**, City: Paris.</answer>", ("France", "Paris")),
    ("<answer>country: Korea, Republic of; city: Seoul</answer>", ("Korea, Republic of", "Seoul")),
    ("<answer>city: Paris | country: France | coordinates: (48.85, 2.35)</answer>", ("France", "Paris")),
    ('<answer>{"address": {"city": "Paris", "country": "France"}, "lat": 48.85, "lon": 2.35}</answer>',
     ("France", "Paris")),
    ("no tags at all. country: Japan\ncity: Kyoto", ("Japan", "Kyoto")),
    ("<answer>(48.85, 2.35)</answer>", (None, None)),
    ("", (None, None)),
    ("<answer>country: </answer>", (None, None)),
]


@pytest.mark.parametrize("text, expected", NAME_TABLE)
def test_location_names_table(text, expected):
    got = parse.location_names(text)
    assert (got["country"], got["city"]) == expected


def test_answer_and_format_helpers_keep_their_contract():
    assert parse.answer("<think>a</think><answer> B </answer>") == "B"
    assert parse.answer("<think>a</think> free text") == "free text"
    assert parse.has_answer_tags("<answer>x</answer>") and not parse.has_answer_tags("x")
    assert parse.is_think_answer("<think>a</think>\n<answer>(1, 2)</answer>")
    assert not parse.is_think_answer("<answer>(1, 2)</answer>")
    assert not parse.is_think_answer("<think>a</think><answer>(1, 2)</answer> trailing")
    assert parse.choice("<answer>(c)</answer>", 4) == "C" and parse.yes_no("<answer>Yes.</answer>") == "yes"


# ------------------------------------------------------------------------------------------ properties


def _in_range(p):
    return p is None or (math.isfinite(p[0]) and math.isfinite(p[1]) and -90 <= p[0] <= 90 and -180 <= p[1] <= 180)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_and_only_valid_points(text):
    assert _in_range(parse.coordinates(text))
    assert _in_range(parse.coordinates(f"<answer>{text}</answer>"))
    names = parse.location_names(text)
    assert set(names) == {"country", "city"}


ALPHABET = st.sampled_from(list("0123456789.,;:-+ ()[]{}°'\"NSEW\n\u2212\u2032\u2033latonitudeg<>/answerthink"))


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, max_size=80))
def test_never_raises_on_coordinate_like_noise(text):
    assert _in_range(parse.coordinates(text))
    assert _in_range(parse.coordinates(f"<think>x</think><answer>{text}</answer>"))


LATS = st.floats(-90, 90, allow_nan=False)
LONS = st.floats(-180, 180, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(LATS, LONS, st.sampled_from(["tuple", "bare", "labelled", "lon_first", "hemi", "hemi_prefix", "json", "unicode"]))
def test_round_trip_decimal_forms(lat, lon, form):
    la, lo = round(lat, 5), round(lon, 5)
    text = {
        "tuple": f"({la}, {lo})",
        "bare": f"{la:.5f}, {lo:.5f}",
        "labelled": f"Latitude: {la}, Longitude: {lo}",
        "lon_first": f"lon={lo} lat={la}",
        "hemi": f"{abs(la)}°{'N' if la >= 0 else 'S'} {abs(lo)}°{'E' if lo >= 0 else 'W'}",
        "hemi_prefix": f"{'N' if la >= 0 else 'S'} {abs(la)}, {'E' if lo >= 0 else 'W'} {abs(lo)}",
        "json": f'{{"lat": {la}, "lon": {lo}}}',
        "unicode": f"({la}, {lo})".replace("-", "\u2212"),
    }[form]
    got = parse.coordinates(f"<think>reasoning</think><answer>{text}</answer>")
    assert got == pytest.approx((la, lo), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(LATS, LONS)
def test_round_trip_dms(lat, lon):
    def dms(v, pos, neg):
        v_abs = abs(v)
        d = int(v_abs)
        m = int((v_abs - d) * 60)
        s = round((v_abs - d - m / 60) * 3600, 2)
        if s >= 60:
            s = 59.99
        return f"{d}°{m}'{s}\"{pos if v >= 0 else neg}", (d + m / 60 + s / 3600) * (1 if v >= 0 else -1)

    lat_text, lat_val = dms(lat, "N", "S")
    lon_text, lon_val = dms(lon, "E", "W")
    got = parse.coordinates(f"<answer>{lat_text} {lon_text}</answer>")
    assert got == pytest.approx((lat_val, lon_val), abs=1e-9)


def test_pathological_inputs_are_fast():
    inputs = ["lat " * 100_000, "(" * 100_000, "{" * 100_000, "1.5, " * 100_000, "N 1 " * 50_000,
              "lat: 1 lon: 2 " * 20_000, '{"lat": 1, "lon": 2} ' * 20_000, "{\"a\":" * 5_000 + "1" + "}" * 5_000,
              "<answer>" + "(1.5, 2.5) " * 50_000 + "</answer>", "country: " * 50_000]
    t0 = time.perf_counter()
    for text in inputs:
        parse.coordinates(text)
        parse.location_names(text)
    # A ReDoS guard, not a speed check (that is benchmarks/bench_speed_checks.py, < 5 s): a backtracking
    # pattern on these 100k-char inputs takes minutes; the parsers take well under a second.
    assert time.perf_counter() - t0 < 60
