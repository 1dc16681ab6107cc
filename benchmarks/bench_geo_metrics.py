"""Geolocation metrics at scale: 1,000,000 haversine distances + every distance metric in < 0.2 s.

    python benchmarks/bench_geo_metrics.py [--n 1000000] [--repeat 5]

Times (best of --repeat, one process, numpy): `geo.haversine_km` on N random pairs, then `geo.aggregate`
(acc@{1,25,200,750,2500}km, geoscore, median_km, mean_km, parse_rate) on those distances. Reported
separately, because it is not part of the 0.2 s budget: offline reverse geocoding (`geobench.geocode`) of
10,000 points (first call loads the GeoNames table), and `parse.coordinates` on 10,000 completions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--geocode-n", type=int, default=10_000)
    args = ap.parse_args()
    from geobench import geo, geocode, parse

    rng = np.random.default_rng(0)
    lat1, lat2 = np.degrees(np.arcsin(rng.uniform(-1, 1, (2, args.n))))
    lon1, lon2 = rng.uniform(-180, 180, (2, args.n))
    parsed = rng.random(args.n) < 0.95

    t_dist, d = best(lambda: geo.haversine_km(lat1, lon1, lat2, lon2), args.repeat)
    d = np.where(parsed, d, geo.MISS_KM)
    t_agg, agg = best(lambda: geo.aggregate(d, parsed), args.repeat)
    total = t_dist + t_agg
    print(f"n={args.n:,}: haversine {t_dist * 1e3:.1f} ms + metrics {t_agg * 1e3:.1f} ms = {total * 1e3:.1f} ms "
          f"(target < 200 ms) {'OK' if total < 0.2 else 'MISSED'}")
    print("  " + ", ".join(f"{k}={v:.4g}" for k, v in agg.items()))

    g = args.geocode_n
    glat, glon = lat1[:g], lon1[:g]
    t0 = time.perf_counter()
    geocode.lookup(glat[:1], glon[:1])
    t_load = time.perf_counter() - t0
    t_geo, places = best(lambda: geocode.lookup(glat, glon), args.repeat)
    same = np.mean(geocode.lookup(lat2[:g], lon2[:g]).country_code == places.country_code)
    print(f"reverse geocoding: load {t_load:.2f} s once, then {g:,} points in {t_geo * 1e3:.1f} ms "
          f"({t_geo / g * 1e6:.2f} us/point); random pairs in the same country: {same:.3f}")

    texts = [f"<think>clues</think><answer>({a:.4f}, {b:.4f})</answer>" if i % 3 == 0 else
             f"<answer>Latitude: {abs(a):.4f}° {'N' if a >= 0 else 'S'}, Longitude: {abs(b):.4f}° "
             f"{'E' if b >= 0 else 'W'}</answer>" if i % 3 == 1 else f"I think it is near {a:.3f}, {b:.3f}."
             for i, (a, b) in enumerate(zip(glat, glon, strict=True))]
    t_parse, out = best(lambda: [parse.coordinates(t) for t in texts], 1)
    ok = sum(p is not None for p in out)
    print(f"parse.coordinates: {len(texts):,} completions in {t_parse * 1e3:.0f} ms "
          f"({t_parse / len(texts) * 1e6:.0f} us each), {ok:,} parsed")


if __name__ == "__main__":
    main()
