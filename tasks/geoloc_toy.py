"""`geoloc_toy`: geolocation on a small procedurally rendered planet, offline and deterministic.

Each image is a ground-level view whose cues depend on the place: the ground colour follows the climate band
(latitude), the sun is higher near the equator, and a road sign's colour encodes the 30-degree longitude
sector. The data is written once to `$GEOBENCH_HOME/data/geoloc_toy-v1/` in the IM2GPS-style layout the real
loaders read (a CSV of id, lat, lon plus an image folder), so the pipe is exercised exactly as with real data.
"""

from __future__ import annotations

import csv
import math
import os
import random
import shutil
import tempfile
from pathlib import Path

from geobench import geo, parse
from geobench.api import Doc, GenConfig, ImageRef, Task, mean_with_stderr, user
from geobench.hookspecs import hookimpl

N_DOCS = 100
SEED = 20251001
LAYOUT_VERSION = "v1"
THINK_ANSWER = ("First output the thinking process in <think> </think> tags and then output the final answer in "
                "<answer> </answer> tags.")
PROMPT = ("Where was this photo taken? Give the location as (latitude, longitude) in decimal degrees. "
          + THINK_ANSWER)

CLIMATE_GROUND = [  # (max |lat|, ground rgb)
    (15, (34, 120, 40)),  # tropical
    (30, (214, 190, 120)),  # dry
    (50, (110, 160, 70)),  # temperate
    (66, (90, 110, 80)),  # continental / boreal
    (91, (235, 240, 245)),  # polar
]
SECTOR_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                  (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def data_dir() -> Path:
    home = Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))
    return home / "data" / f"geoloc_toy-{LAYOUT_VERSION}"


def render(lat: float, lon: float, size: int = 64):
    """A ground-level view of (lat, lon): sky, sun, ground by climate, a sign coloured by longitude sector."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (135, 190, 235))
    d = ImageDraw.Draw(img)
    horizon = size * 5 // 8
    ground = next(rgb for limit, rgb in CLIMATE_GROUND if abs(lat) < limit)
    d.rectangle([0, horizon, size, size], fill=ground)
    sun_y = int(horizon * (0.15 + 0.75 * abs(lat) / 90))  # high sun near the equator
    d.ellipse([size // 8, sun_y - 4, size // 8 + 8, sun_y + 4], fill=(255, 240, 150))
    sector = int((lon + 180) // 30) % 12
    sx = size * 5 // 8
    d.rectangle([sx + 3, horizon - 14, sx + 5, horizon + 6], fill=(80, 80, 80))
    d.rectangle([sx - 4, horizon - 22, sx + 12, horizon - 12], fill=SECTOR_COLOURS[sector])
    if lat < 0:  # a southern-hemisphere marker on the sign
        d.rectangle([sx - 4, horizon - 12, sx + 12, horizon - 10], fill=(20, 20, 20))
    return img


def build(folder: Path, n: int = N_DOCS, seed: int = SEED) -> Path:
    """Write images/ and test.csv (IMG_ID,LAT,LON) atomically: a killed build leaves nothing behind."""
    rng = random.Random(seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (tmp / "images").mkdir()
        with open(tmp / "test.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["IMG_ID", "LAT", "LON"])
            for i in range(n):
                lat = math.degrees(math.asin(rng.uniform(-0.97, 0.97)))  # uniform on the sphere
                lon = rng.uniform(-180, 180)
                name = f"toy_{i:05d}.png"
                render(lat, lon).save(tmp / "images" / name, optimize=False)
                w.writerow([name, f"{lat:.5f}", f"{lon:.5f}"])
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


class GeolocToy(Task):
    name = "geoloc_toy"
    version = f"1.0-{geo.DISTANCE_IMPL}"
    group = "geolocation"
    description = "toy-world geolocation: predict (lat, lon) from a rendered ground view"
    higher_is_better = {**{f"acc@{t}km": True for t in geo.THRESHOLDS_KM}, "geoscore": True, "median_km": False,
                        "mean_km": False, "parse_rate": True}
    default_gen = GenConfig(max_new_tokens=256)

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else data_dir()

    def docs(self, split=None, limit=None):
        if not (self.folder / "test.csv").exists():
            build(self.folder)
        with open(self.folder / "test.csv", newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                if limit is not None and i >= limit:
                    break
                yield Doc(id=row["IMG_ID"], fields={"lat": float(row["LAT"]), "lon": float(row["LON"])},
                          images=[ImageRef(path=str(self.folder / "images" / row["IMG_ID"]))])

    def to_messages(self, doc):
        return user(doc.images[0], PROMPT)

    def extract(self, doc, completion):
        return parse.coordinates(completion)

    def score(self, doc, completion):
        pred = parse.coordinates(completion)
        dist = None if pred is None else float(geo.haversine_km(doc.fields["lat"], doc.fields["lon"], *pred))
        return geo.sample_metrics(dist)

    def aggregate(self, per_sample):
        out = mean_with_stderr([{k: v for k, v in m.items() if k != "distance_km"} for m in per_sample])
        full = geo.aggregate([m["distance_km"] for m in per_sample], [m["parse_rate"] for m in per_sample])
        out["median_km"], out["mean_km"] = full["median_km"], full["mean_km"]
        return out


@hookimpl
def geobench_register_tasks(register):
    register(GeolocToy)
