"""Geolocation tasks: where was this photo taken? Free-form reasoning, then coordinates.

One base class (`GeolocationTask`) owns the prompt, the parsing and the metrics; subclasses only read a
benchmark's files in its published layout. Every task is also a GRPO environment: `score` is the reward.

Metrics (pinned in DESIGN.md, computed in `geobench.geo`): haversine distance (R = 6371.0088 km) between the
parsed (lat, lon) and the truth, `acc@{1,25,200,750,2500}km` (`<=`), `geoscore` (5000·exp(-d/1492.7),
unrounded), `median_km`, `mean_km`, `parse_rate` (an unparseable answer counts as d = 20037.5 km),
`format_rate` (Geo-R1's `<think>..</think><answer>..</answer>` format), and `country_acc` / `city_acc`: the
prediction and the truth fall in the same country / nearest GeoNames place, by offline reverse geocoding of
both points (`geobench.geocode`; on the toy world its own countries and cities). Benchmarks that give city and
country names (MP16-Reason, IMAGEO-Bench GSS) also report `country_name_acc` / `city_name_acc` with GLOBE's
rule (`geo.globe_match`) on the names the model wrote (`country: X` / `city: Y`), or, where it wrote none,
the names of its predicted point.

Data comes from `geobench.data.benchmark_dir(<task>)` ($GEOBENCH_DATA/<task>/ or $GEOBENCH_DATA_<TASK>) in the
layout each loader's docstring gives; `GeolocationFolder` and `GeolocationHF` read any CSV/JSONL + image
folder or a local Hugging Face `datasets` copy. `geoloc_toy` is the same pipe on the offline toy world.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from geobench import geo, geocode, parse
from geobench.api import BenchmarkTask, Doc, GenConfig, ScaffoldItem, Truth, mean_with_stderr, user
from geobench.errors import GeobenchError
from geobench.parse import THINK_ANSWER
from geobench.stats import bootstrap_stderr

PROMPT = ("Where was this photo taken? Look for clues such as landscape, vegetation, climate, architecture, roads, "
          "signs, language and the sun, and estimate the location. The final answer is the location as "
          "(latitude, longitude) in decimal degrees, negative for south and west. " + THINK_ANSWER)
PROMPT_NAMES = ("Where was this photo taken? Look for clues such as landscape, vegetation, climate, architecture, "
                "roads, signs, language and the sun, and estimate the location. The final answer has three lines: "
                "country: [country name], city: [city name], coordinates: (latitude, longitude) in decimal "
                "degrees, negative for south and west. " + THINK_ANSWER)

BASE_METRICS = [f"acc@{t}km" for t in geo.THRESHOLDS_KM] + ["geoscore", "parse_rate", "format_rate",
                                                              "country_acc", "city_acc"]
NAME_METRICS = ["country_name_acc", "city_name_acc"]


class GeolocationTask(BenchmarkTask):
    """Base of every geolocation task: prompt, parsing, metrics. Subclasses implement `load(split)`.

    A subclass sets `name`, `source` (where the benchmark is published) and `source_note` (the same in the
    words of the missing-data message), `splits`, and `expected(split)` (the files that must exist), and
    returns `Doc`s with fields `lat`, `lon` (and `country` / `city` names if the benchmark has them: set
    `ask_names = True`).
    """

    group = "geolocation"
    version = f"1.0-{geo.DISTANCE_IMPL}"
    default_gen = GenConfig(max_new_tokens=1024)  # Geo-R1 writes ~380 tokens on average, up to 2048
    splits: ClassVar[tuple[str, ...]] = ("test",)
    source_note: ClassVar[str] = ""  # where to get the data, as the missing-data message says it
    ask_names: ClassVar[bool] = False
    description = "geolocation: predict (lat, lon) of a photo"

    def __init__(self, root: str | os.PathLike | None = None, *, folder: str | os.PathLike | None = None):
        if root is not None and folder is not None:
            raise GeobenchError(f"{type(self).__name__}: give root= or folder= (its old name), not both")
        root = root if root is not None else folder
        super().__init__(Path(root).expanduser() if root is not None else None)

    # ------------------------------------------------------------------------------------------- data

    @property
    def folder(self) -> Path | None:
        """The dataset folder given to the constructor (None: the data dir's default)."""
        return self._root

    def source_text(self) -> str:
        return self.source_note or super().source_text()

    def load(self, split: str) -> list[Doc]:
        raise NotImplementedError

    def docs(self, split: str | None = None, limit: int | None = None) -> list[Doc]:
        split = split or self.split
        if split not in self.splits:
            raise GeobenchError(f"task {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}")
        missing = self.data_status()
        if missing:
            raise GeobenchError(f"task {self.name!r}: {missing}")
        docs = self.load(split)
        if limit is not None:
            docs = docs[:limit]
        self._annotate(docs)
        return docs

    def _annotate(self, docs: list[Doc]) -> None:
        """Ground-truth area keys for country/city accuracy, looked up in one batch."""
        todo = [d for d in docs if "gt_country_key" not in d.fields]
        if not todo:
            return
        areas = self.locate([d.fields["lat"] for d in todo], [d.fields["lon"] for d in todo])
        for d, a in zip(todo, areas, strict=True):
            d.fields["gt_country_key"], d.fields["gt_city_key"] = a["country_key"], a["city_key"]

    def locate(self, lats, lons) -> list[dict[str, Any]]:
        """Area of each point: country_key, city_key (compared for accuracy), country_name, city_name."""
        p = geocode.lookup(lats, lons)
        return [{"country_key": p.country_code[i], "city_key": p.city_key[i], "country_name": p.country[i],
                 "city_name": p.city[i]} for i in range(len(p))]

    # ----------------------------------------------------------------------------------------- prompt

    def to_messages(self, doc: Doc) -> list[dict]:
        return user(doc.images[0], PROMPT_NAMES if self.ask_names else PROMPT)

    # ---------------------------------------------------------------------------------------- scoring

    @property
    def metric_names(self) -> list[str]:
        return BASE_METRICS + (NAME_METRICS if self.ask_names else [])

    @property
    def higher_is_better(self) -> dict[str, bool]:  # type: ignore[override]
        hib = {m: True for m in self.metric_names}
        hib.update({"median_km": False, "mean_km": False})
        return hib

    def extract(self, doc: Doc, completion: str) -> Any:
        point = parse.coordinates(completion)
        coords = list(point) if point is not None else None
        if not self.ask_names:
            return coords
        return {"coordinates": coords, **parse.location_names(completion)}

    def score(self, doc: Doc, completion: str) -> dict[str, float]:
        point = parse.coordinates(completion)
        truth = (float(doc.fields["lat"]), float(doc.fields["lon"]))
        dist = None if point is None else float(geo.haversine_km(*truth, *point))
        out = geo.sample_metrics(dist)
        out["format_rate"] = float(parse.is_think_answer(completion))
        if "gt_country_key" not in doc.fields:
            self._annotate([doc])
        area = self.locate([point[0]], [point[1]])[0] if point is not None else None
        out["country_acc"] = geo.same_area(area and area["country_key"], doc.fields["gt_country_key"])
        out["city_acc"] = geo.same_area(area and area["city_key"], doc.fields["gt_city_key"])
        if self.ask_names:
            names = parse.location_names(completion)
            country = names["country"] or (area and area["country_name"])
            city = names["city"] or (area and area["city_name"])
            out["country_name_acc"] = float(geo.globe_match(country, doc.fields.get("country")))
            out["city_name_acc"] = float(geo.globe_match(city, doc.fields.get("city")))
        return out

    def aggregate(self, per_sample: list[dict[str, float]]) -> dict[str, float]:
        """Means (from sums and counts, with stderr) of the per-sample metrics, plus median and mean km."""
        if not per_sample:
            return {}
        out = mean_with_stderr([{k: v for k, v in m.items() if k != "distance_km"} for m in per_sample])
        distances = [m["distance_km"] for m in per_sample]
        full = geo.aggregate(distances, [m["parse_rate"] for m in per_sample])
        out["median_km"], out["mean_km"] = full["median_km"], full["mean_km"]
        # A median has no closed-form standard error: a seeded bootstrap (reruns agree), as lm-eval does for
        # its non-mean metrics; the mean's is the usual sample stderr.
        out["median_km_stderr"] = bootstrap_stderr(distances, np.median, iters=200 if len(distances) > 20000 else 1000)
        out["mean_km_stderr"] = mean_with_stderr([{"d": d} for d in distances])["d_stderr"]
        return out

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg.update({"distance_impl": geo.DISTANCE_IMPL, "data": str(self.root()), "source": self.source_text(),
                    "area_impl": self.area_impl()})
        return cfg

    def area_impl(self) -> str:
        return geocode.IMPL

    # ------------------------------------------------------------------------------------ scaffolding

    def scaffold_items(self, split: str = "train", limit: int | None = None, *,
                       need_template: bool = True) -> list[ScaffoldItem]:
        """Each doc's point with its country and city: the benchmark's names, else reverse-geocoded ones."""
        docs = list(self.docs(split, limit))
        named = [d for d in docs if not d.fields.get("country") or not d.fields.get("city")]
        areas = dict(zip((d.id for d in named), geocode.area_names([d.fields["lat"] for d in named],
                                                           [d.fields["lon"] for d in named]), strict=True)) \
            if named else {}
        items = []
        for d in docs:
            facts: dict[str, Any] = {"lat": float(d.fields["lat"]), "lon": float(d.fields["lon"])}
            area = areas.get(d.id, {})
            facts["country"] = d.fields.get("country") or area.get("country")
            facts["city"] = d.fields.get("city") or area.get("city")
            facts["city_geocoded"] = not d.fields.get("city")
            # A reverse-geocoded "city" is the nearest GeoNames place (often a suburb): stated in templates,
            # but only a benchmark's own city names are checked.
            items.append(scaffold_item(d, facts, city=d.fields.get("city"), vocab={}))
        return items


def scaffold_item(doc: Doc, facts: dict[str, Any], city: str | None,
                  vocab: dict[str, frozenset[str]]) -> ScaffoldItem:
    """The scaffold item of one geolocation doc: `facts` hold lat, lon and what else is known; `city` is the
    city name the fact-check holds the reasoning to."""
    lat, lon = facts["lat"], facts["lon"]
    truth = Truth("geolocation", f"({lat:.2f}, {lon:.2f})", lat=lat, lon=lon, country=facts.get("country") or None,
                  city=city or None, continent=facts.get("continent") or None,
                  climate=facts.get("climate") or None, vocab=vocab)
    names = ", ".join(x for x in (facts.get("city"), facts.get("country")) if x)
    return ScaffoldItem(doc, facts, truth, f"({lat:.4f}, {lon:.4f})" + (f", {names}" if names else ""))


