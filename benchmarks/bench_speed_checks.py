"""Speed checks moved out of the correctness tests (a wall-time bound fails on a loaded machine, not on a bug).

    python -m pytest benchmarks/bench_speed_checks.py -o addopts=""

pytest-benchmark times each call (several rounds, reports min/mean) and each check asserts the budget on the
best round, so one descheduled round does not fail it. `python -m pytest` alone never collects this file
(testpaths = tests), and the project's addopts pass --benchmark-skip, hence `-o addopts=""`. The tests
that named these budgets keep only generous hang / ReDoS guards:
- tests/test_geolocation.py: 10,000 reverse-geocode lookups (budget 1.0 s);
- tests/test_rewards.py: the format reward on adversarial text (0.5 s) and every reward on a 100k-char
  completion (5 s);
- tests/test_parse.py: the parsers on pathological 100k-char inputs (5 s).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")


def best(benchmark) -> float:
    return benchmark.stats.stats.min


def test_reverse_geocode_10k_points(benchmark):
    from geobench import geocode

    rng = np.random.default_rng(2)
    lat, lon = np.degrees(np.arcsin(rng.uniform(-1, 1, 10_000))), rng.uniform(-180, 180, 10_000)
    geocode.lookup(lat[:1], lon[:1])  # the GeoNames table loads once per process
    batch = benchmark(geocode.lookup, lat, lon)
    assert len(batch) == 10_000
    assert best(benchmark) < 1.0


def test_format_reward_on_adversarial_text(benchmark):
    from geobench.trainers import rewards as R

    text = "<think>" + "</think><answer>" * 6000
    assert benchmark(R.REWARDS["format"], [text]) == [0.0]
    assert best(benchmark) < 0.5


def test_every_reward_on_a_long_completion(benchmark):
    from geobench.trainers import rewards as R

    words = "the street has red roofs and palm trees near a dry river bed \u00e9\u00e8 \u4e2d\u6587 ".split()
    body = " ".join(words[i % len(words)] + str(i % 97) for i in range(16_000))
    text = f"<think>{body}</think><answer>B</answer>"
    cands = [{"letter": L} for L in "ABCD"]
    cols = dict(answer=["B"], candidates=[cands], lat=[0.0], lon=[0.0])
    names = ["format", "accuracy", "repetition", "shaped_pairing", "geoscore"]
    benchmark(lambda: {name: R.REWARDS[name]([text], **cols)[0] for name in names})
    assert best(benchmark) < 5.0


def test_parsers_on_pathological_inputs(benchmark):
    from geobench import parse

    inputs = ["lat " * 100_000, "(" * 100_000, "{" * 100_000, "1.5, " * 100_000, "N 1 " * 50_000,
              "lat: 1 lon: 2 " * 20_000, '{"lat": 1, "lon": 2} ' * 20_000, "{\"a\":" * 5_000 + "1" + "}" * 5_000,
              "<answer>" + "(1.5, 2.5) " * 50_000 + "</answer>", "country: " * 50_000]

    def run():
        for text in inputs:
            parse.coordinates(text)
            parse.location_names(text)

    benchmark.pedantic(run, rounds=3)
    assert best(benchmark) < 5.0
