"""Core pieces: metrics, parsing, generation settings, key=value parsing, task selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobench import GenConfig, GeobenchError, geo, parse
from geobench.api import ImageRef, mean_with_stderr
from geobench.evaluator import parse_kv, select_tasks
from geobench.plugin_manager import load


def test_haversine_known_distances():
    # against the spherical law of cosines (an independent formula) and a quarter meridian = R*pi/2
    def cosines(la1, lo1, la2, lo2):
        la1, lo1, la2, lo2 = map(math.radians, (la1, lo1, la2, lo2))
        c = math.sin(la1) * math.sin(la2) + math.cos(la1) * math.cos(la2) * math.cos(lo2 - lo1)
        return geo.EARTH_RADIUS_KM * math.acos(max(-1.0, min(1.0, c)))

    for pts in [(48.8566, 2.3522, 51.5074, -0.1278), (-33.9, 151.2, 40.7, -74.0), (89.9, 0, -89.9, 180)]:
        assert geo.haversine_km(*pts) == pytest.approx(cosines(*pts), rel=1e-9)
    assert geo.haversine_km(0, 0, 90, 0) == pytest.approx(geo.EARTH_RADIUS_KM * math.pi / 2)
    assert geo.haversine_km(10, 179.9, 10, -179.9) == pytest.approx(21.9, abs=0.1)  # across the antimeridian
    assert geo.haversine_km(5, 5, 5, 5) == 0.0
    d = geo.haversine_km(np.zeros(3), np.zeros(3), np.array([0, 1, 2]), np.zeros(3))
    assert d.shape == (3,) and d[0] == 0


def test_thresholds_are_inclusive_and_misses_are_counted():
    m = geo.sample_metrics(25.0)
    assert m["acc@25km"] == 1.0 and m["acc@1km"] == 0.0 and m["parse_rate"] == 1.0
    miss = geo.sample_metrics(None)
    assert miss["distance_km"] == geo.MISS_KM and miss["acc@2500km"] == 0.0 and miss["parse_rate"] == 0.0
    assert miss["geoscore"] == pytest.approx(5000 * math.exp(-20037.5 / 1492.7))


@pytest.mark.parametrize("text, expected", [
    ("<think>hmm</think><answer>(48.85, 2.35)</answer>", (48.85, 2.35)),
    ("<answer>lat: -33.9, lon: 18.4</answer>", (-33.9, 18.4)),
    ("<answer>48.85°N, 2.35°E</answer>", (48.85, 2.35)),
    ("<answer>33°52'S 151°12'E</answer>", (-(33 + 52 / 60), 151.2)),
    ('<answer>{"lat": 10.5, "lon": -20}</answer>', (10.5, -20.0)),
    ("I think it is (\u221212.5, 130.1)", (-12.5, 130.1)),
    ("<answer>(95, 10)</answer>", None),
    ("<answer>(nan, 10)</answer>", None),
    ("<answer>Paris</answer>", None),
    ("", None),
    ("<answer>(1, 2)</answer> <answer>(3, 4)</answer>", (3.0, 4.0)),
])
def test_coordinates(text, expected):
    got = parse.coordinates(text)
    assert got == (pytest.approx(expected) if expected else None)


@pytest.mark.parametrize("text, expected", [
    ("<answer>B</answer>", "B"), ("<answer>(c)</answer>", "C"), ("The answer is D.", "D"),
    ("<answer>A or B</answer>", None), ("<answer>E</answer>", None), ("", None),
])
def test_choice(text, expected):
    assert parse.choice(text, 4) == expected


def test_format_check():
    assert parse.is_think_answer("<think>a</think>\n<answer>B</answer>")
    assert not parse.is_think_answer("<answer>B</answer>")
    assert not parse.is_think_answer("<think>a</think><answer>B</answer> extra")


_ANSWERISH = st.lists(st.sampled_from(["<answer>", "</answer>", "<think>", "</think>", "lat", "lon", ":", ",", "-",
                                         "1", "45.5", "200", "N", "S", "E", "W", "°", " ", "\n", "(", ")", "A", "b",
                                         "yes", "no", "country: ", "city: ", "{", "}", '"', "nan", "inf"]),
                      max_size=20).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _ANSWERISH))
def test_parsers_never_raise(text):
    """On any text the parsers return their documented types and ranges, never raise."""
    coords = parse.coordinates(text)
    if coords is not None:
        lat, lon = coords
        assert isinstance(lat, float) and isinstance(lon, float)
        assert math.isfinite(lat) and math.isfinite(lon)
        assert -90 <= lat <= 90 and -180 <= lon <= 180, coords
    assert parse.choice(text, 4) in (None, "A", "B", "C", "D")
    assert parse.choice(text, 2) in (None, "A", "B")
    assert parse.yes_no(text) in (None, "yes", "no")
    ans = parse.answer(text)
    assert isinstance(ans, str) and ans == ans.strip() and len(ans) <= len(text)
    names = parse.location_names(text)
    assert set(names) == {"country", "city"}
    assert all(v is None or (isinstance(v, str) and v.strip()) for v in names.values()), names


def test_genconfig_validation_and_determinism():
    g = GenConfig().updated(max_new_tokens="12", do_sample="true", temperature="0.7", stop="</answer>|\n\n")
    assert g.max_new_tokens == 12 and g.do_sample and g.stop == ("</answer>", "\n\n")
    assert not g.deterministic and g.updated(seed=1).deterministic and GenConfig().deterministic
    with pytest.raises(GeobenchError, match="unknown generation setting"):
        GenConfig().updated(max_tokens=3)
    with pytest.raises(GeobenchError):
        GenConfig(max_new_tokens=0)


def test_parse_kv():
    assert parse_kv("a=1,b=x,c=true,d=0.5,e=none", "x") == {"a": 1, "b": "x", "c": True, "d": 0.5, "e": None}
    with pytest.raises(GeobenchError, match="key=value"):
        parse_kv("a", "--model-args")


def test_mean_with_stderr_uses_sums_and_counts():
    out = mean_with_stderr([{"acc": 1.0}, {"acc": 0.0}, {"acc": 1.0, "other": 2.0}])
    assert out["acc"] == pytest.approx(2 / 3) and out["other"] == 2.0
    assert out["acc_stderr"] == pytest.approx(np.std([1, 0, 1], ddof=1) / math.sqrt(3))


def test_select_tasks_all_groups_and_errors():
    reg = load()
    available = sorted(n for n in reg.tasks if reg.task(n).data_status() is None)
    assert [t.name for t in select_tasks(reg, "all")] == available
    assert {"geoloc_toy", "crossview_toy", "scene_toy"} <= set(available)
    assert [t.name for t in select_tasks(reg, "crossview")] == ["crossview_toy"]
    with pytest.raises(GeobenchError, match="no tasks"):
        select_tasks(reg, " , ")


def test_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(GeobenchError, match="cannot decode image .*bad.png"):
        ImageRef(path=str(bad)).open()
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(GeobenchError, match="empty"):
        ImageRef(path=str(empty)).open()
    with pytest.raises(GeobenchError, match="not found"):
        ImageRef(path=str(tmp_path / "missing.png")).open()
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(big)
    with pytest.raises(GeobenchError, match="too large"):
        ImageRef(path=str(big)).open(max_pixels=1_000_000)


def test_truncated_completions_are_counted_and_warned(tmp_path):
    import geobench
    from geobench.evaluator import summary_lines

    class Cut(geobench.Backend):
        name = "cut"

        def fingerprint(self):
            return None

        def generate(self, requests):
            for i, _ in enumerate(requests):
                yield i, geobench.Completion(text="<think>and so on", n_tokens=64,
                                             finish_reason="length" if i % 2 else "stop")

    res = geobench.evaluate(Cut(), "geoloc_toy", limit=6, output=None, progress=False)
    assert res["results"]["geoloc_toy"]["truncated,none"] == 3
    assert any(line.startswith("warning: geoloc_toy: 3 of 6 completions hit max_new_tokens")
               for line in summary_lines(res))
