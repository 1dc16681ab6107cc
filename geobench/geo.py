"""Geodesy for geolocation metrics, pinned once so every table means the same thing.

Haversine on a sphere of R = 6371.0088 km (IUGG mean radius), latitude first, degrees. Thresholds use `<=`.
GeoScore = 5000 * exp(-d / 1492.7), unrounded (OSV-5M's definition). An unparseable answer counts as half the
circumference (20037.5 km). `DISTANCE_IMPL` goes into every geolocation task's version.

Country and city accuracy: `globe_match` is GLOBE's name rule (for benchmarks that give names); area keys from
offline reverse geocoding (`geobench.geocode`) are compared with `same_area` / `area_accuracy`.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088
MISS_KM = 20037.5
THRESHOLDS_KM = (1, 25, 200, 750, 2500)
GEOSCORE_DECAY_KM = 1492.7
DISTANCE_IMPL = "haversine_r6371.0088_le"


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km; inputs in degrees (scalars or arrays, broadcast)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def geoscore(distance_km):
    return 5000.0 * np.exp(-np.asarray(distance_km, dtype=np.float64) / GEOSCORE_DECAY_KM)


def sample_metrics(distance_km: float | None) -> dict[str, float]:
    """Per-sample geolocation metrics; None (unparseable) counts as a miss at MISS_KM."""
    parsed = distance_km is not None
    d = float(distance_km) if parsed else MISS_KM
    out = {f"acc@{t}km": float(d <= t) for t in THRESHOLDS_KM}
    out["geoscore"] = float(geoscore(d))
    out["distance_km"] = d
    out["parse_rate"] = float(parsed)
    return out


def aggregate(distances_km, parsed) -> dict[str, float]:
    """Dataset-level metrics from per-sample distances (misses already set to MISS_KM)."""
    d = np.asarray(distances_km, dtype=np.float64)
    ok = np.asarray(parsed, dtype=bool)
    if d.size == 0:
        return {}
    out = {f"acc@{t}km": float(np.mean(d <= t)) for t in THRESHOLDS_KM}
    out["geoscore"] = float(np.mean(geoscore(d)))
    out["median_km"] = float(np.median(d))
    out["mean_km"] = float(np.mean(d))
    out["parse_rate"] = float(np.mean(ok))
    return out


# ---------------------------------------------------------------------------------- country / city accuracy

GLOBE_RATIO = 0.7


def globe_match(pred: str | None, truth: str | None, ratio: float = GLOBE_RATIO) -> bool:
    """GLOBE's name rule (lingli1996/GLOBE `eval.py::match_location`): case-insensitive substring either way,
    and the shorter name at least `ratio` of the longer. An empty prediction or truth never matches.

    E.g. "Paris" ~ "paris" and "United States" ~ "United States of America" (13/24 = 0.54: no match),
    "Korea" ~ "South Korea" (5/11: no), "New York" ~ "New York City" (8/13 = 0.62: no).
    """
    p, t = (pred or "").strip(), (truth or "").strip()
    if not p or not t:
        return False
    pl, tl = p.lower(), t.lower()
    return (pl in tl and len(p) / len(t) >= ratio) or (tl in pl and len(t) / len(p) >= ratio)


def same_area(pred, truth) -> float:
    """1.0 if a predicted area key (country code, city id) equals the truth's, else 0.0; None never matches."""
    return float(pred is not None and truth is not None and pred == truth)


def area_accuracy(pred_keys, true_keys) -> float:
    """Share of samples whose predicted area key equals the truth's (vectorised `same_area`)."""
    p = np.asarray(pred_keys, dtype=object)
    t = np.asarray(true_keys, dtype=object)
    if p.size == 0:
        return float("nan")
    ok = (p == t) & np.array([x is not None for x in p]) & np.array([x is not None for x in t])
    return float(np.mean(ok))
