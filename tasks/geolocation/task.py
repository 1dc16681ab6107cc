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

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from geobench import data, geo, parse, toydata
from geobench.api import Doc, GenConfig, ImageRef, Task, mean_with_stderr, user
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

THINK_ANSWER = ("First output the thinking process in <think> </think> tags and then output the final answer in "
                "<answer> </answer> tags.")
PROMPT = ("Where was this photo taken? Look for clues such as landscape, vegetation, climate, architecture, roads, "
          "signs, language and the sun, and estimate the location. The final answer is the location as "
          "(latitude, longitude) in decimal degrees, negative for south and west. " + THINK_ANSWER)
PROMPT_NAMES = ("Where was this photo taken? Look for clues such as landscape, vegetation, climate, architecture, "
                "roads, signs, language and the sun, and estimate the location. The final answer has three lines: "
                "country: [country name], city: [city name], coordinates: (latitude, longitude) in decimal "
                "degrees, negative for south and west. " + THINK_ANSWER)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
BASE_METRICS = [f"acc@{t}km" for t in geo.THRESHOLDS_KM] + ["geoscore", "parse_rate", "format_rate",
                                                              "country_acc", "city_acc"]
NAME_METRICS = ["country_name_acc", "city_name_acc"]


class GeolocationTask(Task):
    """Base of every geolocation task: prompt, parsing, metrics. Subclasses implement `load(split)`.

    A subclass sets `name`, `source` (where the benchmark is published), `splits`, and `expected()` (the files
    that must exist), and returns `Doc`s with fields `lat`, `lon` (and `country` / `city` names if the
    benchmark has them: set `ask_names = True`).
    """

    group = "geolocation"
    version = f"1.0-{geo.DISTANCE_IMPL}"
    default_gen = GenConfig(max_new_tokens=1024)  # Geo-R1 writes ~380 tokens on average, up to 2048
    splits: ClassVar[tuple[str, ...]] = ("test",)
    source: ClassVar[str] = ""
    ask_names: ClassVar[bool] = False
    description = "geolocation: predict (lat, lon) of a photo"

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder).expanduser() if folder is not None else None

    # ------------------------------------------------------------------------------------------- data

    def root(self) -> Path:
        return self.folder if self.folder is not None else data.benchmark_dir(self.name)

    def expected(self) -> list[str]:
        """Files/folders (relative to root) that must exist."""
        return []

    def data_status(self) -> str | None:
        return data.missing(self.root(), self.expected(), self.source)

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
        from geobench import geocode

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
        import numpy as np

        from geobench.stats import bootstrap_stderr

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
        cfg.update({"distance_impl": geo.DISTANCE_IMPL, "data": str(self.root()), "source": self.source,
                    "area_impl": self.area_impl()})
        return cfg

    def area_impl(self) -> str:
        from geobench import geocode

        return geocode.IMPL


# --------------------------------------------------------------------------------------- CSV helpers


def _pick(columns: Iterable[str], candidates: Iterable[str], path: Path, what: str) -> str:
    """The first candidate column present; a one-line error naming the file if none is."""
    cols = list(columns)
    for c in candidates:
        if c in cols:
            return c
    raise GeobenchError(f"{path}: no {what} column (looked for {', '.join(candidates)}); found {', '.join(cols)}")


def _check_unique(ids: list[str], path: Path) -> list[bool]:
    """Which ids to keep: the first of each; a repeat is a bad sample (skipped with on_error="skip")."""
    seen: dict[str, int] = {}
    keep = []
    for i, x in enumerate(ids, 1):
        if x in seen:
            data.skip(data.DataError(f"{path}: duplicate image id {x!r} (rows {seen[x]} and {i})", "duplicated id"))
            keep.append(False)
            continue
        seen[x] = i
        keep.append(True)
    return keep


def _image_index(folder: Path) -> dict[str, str]:
    """Every image under `folder` by file stem and by file name -> path relative to `folder`."""
    index: dict[str, str] = {}
    for dirpath, _, files in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS):
                rel = f if rel_dir == "." else os.path.join(rel_dir, f)
                index.setdefault(f, rel)
                index.setdefault(os.path.splitext(f)[0], rel)
    return index


def rows_to_docs(rows: list[dict], path: Path, image_root: Path, *, id_col: str | None, image_col: str,
                 lat_col: str, lon_col: str, country_col: str | None = None, city_col: str | None = None,
                 default_ext: str = "", index: dict[str, str] | None = None, swap_lat_lon: bool = False,
                 extra: Iterable[str] = ()) -> list[Doc]:
    """Docs from table rows: image files joined safely under `image_root` (or looked up in `index`),
    ground truth validated (NaN / out of range is a one-line error naming the row), ids unique."""
    docs: list[Doc] = []
    for i, row in enumerate(rows, 1):
        try:
            docs.append(_row_doc(row, f"{path} row {i}", image_root, id_col=id_col, image_col=image_col,
                                 lat_col=lat_col, lon_col=lon_col, country_col=country_col, city_col=city_col,
                                 default_ext=default_ext, index=index, swap_lat_lon=swap_lat_lon, extra=extra))
        except data.DataError as e:
            data.skip(e)
    return [d for d, keep in zip(docs, _check_unique([d.id for d in docs], path), strict=True) if keep]


def _row_doc(row: dict, where: str, image_root: Path, *, id_col, image_col, lat_col, lon_col, country_col,
             city_col, default_ext, index, swap_lat_lon, extra) -> Doc:
    """One table row as a Doc; a bad row is a DataError naming it."""
    name = str(row.get(image_col) or "").strip()
    if not name:
        raise data.DataError(f"{where}: empty {image_col}", "bad row")
    if index is not None:
        rel = index.get(name) or index.get(os.path.splitext(name)[0])
        if rel is None:
            raise data.DataError(f"{where}: no image for {name!r} under {image_root}", "missing image")
        name = rel
    elif default_ext and not os.path.splitext(name)[1]:
        name += default_ext
    try:
        image = data.safe_join(image_root, name)
    except data.DataError as e:
        raise data.DataError(f"{where}: {e}", e.reason) from None
    a, b = (lon_col, lat_col) if swap_lat_lon else (lat_col, lon_col)
    lat, lon = data.lat_lon(row.get(a), row.get(b), where)
    fields: dict[str, Any] = {"lat": lat, "lon": lon}
    if country_col:
        fields["country"] = str(row.get(country_col) or "").strip()
    if city_col:
        fields["city"] = str(row.get(city_col) or "").strip()
    for k in extra:
        if k in row:
            fields[k] = row[k]
    doc_id = str(row.get(id_col) if id_col else row.get(image_col)).strip()
    return Doc(id=doc_id, fields=fields, images=[ImageRef(path=str(image))])


def _first_existing(root: Path, candidates: Iterable[str]) -> str | None:
    return next((c for c in candidates if (root / c).is_dir()), None)


# ------------------------------------------------------------------------------------- real benchmarks


class Im2gps3k(GeolocationTask):
    """IM2GPS3K (Vo, Jacobs & Hays, ICCV 2017; 2,997 Flickr photos), test only.

    Layout (as distributed by TIBHannover/GeoEstimation and used by GeoCLIP, G3, Img2Loc)::

        im2gps3k/
          im2gps3k_places365.csv   IMG_ID,AUTHOR,LAT,LON,S3_Label,S16_Label,S365_Label,Prob_indoor,...
          images/<IMG_ID>          (or im2gps3ktest/<IMG_ID>: the folder of the published im2gps3ktest.zip)

    IMG_ID is the image file name (e.g. `1000269685_e60e9cdfb4_1125_78841376@N00.jpg`). Only IMG_ID, LAT and
    LON are read. An early version of GeoEstimation's `meta/im2gps3k_places365.csv` labels the coordinate
    columns `LON,LAT` while the values are latitude then longitude (row 1 is Bermuda, 32.33, -64.76; the
    repository's README documents the order lat, lon); that header is recognised and read as lat, lon.
    """

    name = "im2gps3k"
    source = ("metadata: github.com/TIBHannover/GeoEstimation meta/im2gps3k_places365.csv; images: im2gps3ktest.zip "
              "from the Revisiting IM2GPS project (Vo et al. 2017)")
    description = "IM2GPS3K: 2,997 Flickr photos; predict (lat, lon)"
    csv_files: ClassVar[dict[str, str]] = {"test": "im2gps3k_places365.csv"}
    image_dirs: ClassVar[tuple[str, ...]] = ("images", "im2gps3ktest")
    extra_columns: ClassVar[tuple[str, ...]] = ()

    def expected(self) -> list[str]:
        root = self.root()
        return [self.csv_files[self.split], _first_existing(root, self.image_dirs) or self.image_dirs[0]]

    def load(self, split: str) -> list[Doc]:
        root = self.root()
        path = root / self.csv_files[split]
        rows = data.read_csv(path, required=("IMG_ID", "LAT", "LON"))
        columns = list(rows[0])
        swap = columns[:4] == ["IMG_ID", "AUTHOR", "LON", "LAT"]
        if swap:
            warnings.warn(f"{path}: header says LON,LAT but GeoEstimation's values are lat, lon; reading them as "
                          "lat, lon", stacklevel=2)
        image_root = root / (_first_existing(root, self.image_dirs) or self.image_dirs[0])
        return rows_to_docs(rows, path, image_root, id_col=None, image_col="IMG_ID", lat_col="LAT",
                            lon_col="LON", swap_lat_lon=swap, extra=self.extra_columns)


class Yfcc4k(Im2gps3k):
    """YFCC4K (Vo et al. 2017; 4,536 photos from YFCC100M), test only.

    Layout (as used by G3 and Img2Loc)::

        yfcc4k/
          yfcc4k_places365.csv   IMG_ID,...,LAT,LON,...  (IMG_ID = image file name)
          images/<IMG_ID>        (or yfcc4k/<IMG_ID>: the folder of the published yfcc4k.zip)
    """

    name = "yfcc4k"
    source = ("metadata yfcc4k_places365.csv (G3 / Img2Loc releases, GeoEstimation lineage); images: yfcc4k.zip "
              "from the Revisiting IM2GPS project (Vo et al. 2017)")
    description = "YFCC4K: 4,536 YFCC100M photos; predict (lat, lon)"
    csv_files = {"test": "yfcc4k_places365.csv"}
    image_dirs = ("images", "yfcc4k")


class Mp16Reason(GeolocationTask):
    """MP16-Reason test (GLOBE, Li et al., NeurIPS 2025, arXiv 2506.14674; ~12k images), with names.

    Layout (GLOBE's `examples/train/grpo/globe/eval.py`, dataset "mp16-reason-test-12k")::

        mp16_reason/
          mp16-reason-test-12k.csv   IMG_ID (or id), LAT (or latitude), LON (or longitude), city, country
          eval_images/<IMG_ID>       (or images/); an IMG_ID without extension gets ".jpg", as in eval.py

    City/country accuracy follows GLOBE's rule on the names; distances as everywhere.
    """

    name = "mp16_reason"
    source = "huggingface.co/globe-project (MP16-Reason) with github.com/lingli1996/GLOBE"
    description = "MP16-Reason test: Flickr photos with city/country; predict names and (lat, lon)"
    ask_names = True
    csv_file: ClassVar[str] = "mp16-reason-test-12k.csv"
    image_dirs: ClassVar[tuple[str, ...]] = ("eval_images", "images")

    def expected(self) -> list[str]:
        return [self.csv_file, _first_existing(self.root(), self.image_dirs) or self.image_dirs[0]]

    def load(self, split: str) -> list[Doc]:
        root = self.root()
        path = root / self.csv_file
        rows = data.read_csv(path, required=())
        cols = list(rows[0])
        image_root = root / (_first_existing(root, self.image_dirs) or self.image_dirs[0])
        return rows_to_docs(rows, path, image_root, id_col=None,
                            image_col=_pick(cols, ("IMG_ID", "id"), path, "image id"),
                            lat_col=_pick(cols, ("LAT", "latitude"), path, "latitude"),
                            lon_col=_pick(cols, ("LON", "longitude"), path, "longitude"),
                            country_col=_pick(cols, ("country",), path, "country"),
                            city_col=_pick(cols, ("city",), path, "city"), default_ext=".jpg")


class ImageoGss(GeolocationTask):
    """IMAGEO-Bench dataset 1, GSS (Li et al., arXiv 2508.01608): 6,152 street images, 396 cities, 123 countries.

    Layout (zenodo 10.5281/zenodo.16670471 images + the metadata CSV of github.com/Lingyao1219/
    benchmark-reverse-geocoding, `analysis/dataset1_info.csv`)::

        imageo_gss/
          dataset1_info.csv   image_id,source,...,city,city_id,country,continent,latitude,longitude,...,img_path,...
          dataset1/<image_id>.<ext>   (or IMAGEO-Bench-datasets/dataset1/, the folder of the zenodo archive)

    Images are matched by file stem = image_id (the extension, .jpeg/.jpg/.png, is not fixed by the CSV).
    IMAGEO's own scoring compares names exactly; here GLOBE's rule is used, plus distances.
    """

    name = "imageo_gss"
    source = ("zenodo.org/records/16670471 (IMAGEO-Bench-datasets/dataset1) with "
              "github.com/Lingyao1219/benchmark-reverse-geocoding analysis/dataset1_info.csv")
    description = "IMAGEO-Bench GSS: 6,152 global street images; city/country accuracy and km errors"
    ask_names = True
    csv_file: ClassVar[str] = "dataset1_info.csv"
    image_dirs: ClassVar[tuple[str, ...]] = ("dataset1", "IMAGEO-Bench-datasets/dataset1")

    def expected(self) -> list[str]:
        return [self.csv_file, _first_existing(self.root(), self.image_dirs) or self.image_dirs[0]]

    def load(self, split: str) -> list[Doc]:
        root = self.root()
        path = root / self.csv_file
        rows = data.read_csv(path, required=("image_id", "latitude", "longitude", "city", "country"))
        image_root = root / (_first_existing(root, self.image_dirs) or self.image_dirs[0])
        return rows_to_docs(rows, path, image_root, id_col="image_id", image_col="image_id", lat_col="latitude",
                            lon_col="longitude", country_col="country", city_col="city",
                            index=_image_index(image_root))


class Osv5m(GeolocationTask):
    """OpenStreetView-5M test split (Astruc et al., CVPR 2024): 210,122 street-view images.

    Layout (the Hugging Face dataset `osv5m/osv5m` after `scripts/download-dataset.py` unzips the shards)::

        osv5m/
          test.csv        id,latitude,longitude,thumb_original_url,country,sequence,...,region,sub-region,city,...
          images/test/    <id>.jpg, directly or in the shard sub-folders the zips unpack to (00/, 01/, ...)
    """

    name = "osv5m"
    source = "huggingface.co/datasets/osv5m/osv5m (test.csv + images/test/*.zip, unzipped)"
    description = "OSV-5M test: 210k street-view images; predict (lat, lon)"
    csv_file: ClassVar[str] = "test.csv"
    image_dir: ClassVar[str] = "images/test"

    def expected(self) -> list[str]:
        return [self.csv_file, self.image_dir]

    def load(self, split: str) -> list[Doc]:
        root = self.root()
        path = root / self.csv_file
        rows = data.read_csv(path, required=("id", "latitude", "longitude"))
        image_root = root / self.image_dir
        return rows_to_docs(rows, path, image_root, id_col="id", image_col="id", lat_col="latitude",
                            lon_col="longitude", index=_image_index(image_root))


# ----------------------------------------------------------------------------------------- generic loaders


class GeolocationFolder(GeolocationTask):
    """Any folder of images + a CSV or JSONL of (image, lat, lon[, country, city]).

        task = GeolocationFolder("~/data/mybench", csv="test.csv", image_col="file", lat_col="lat",
                                 lon_col="lng", image_dir="photos", name="mybench")
        geobench.evaluate("Qwen/Qwen2.5-VL-7B-Instruct", [task])

    Image names are joined under `root/image_dir` and may not leave it. With `country_col` / `city_col`
    the prompt also asks for names and GLOBE's rule scores them.
    """

    source = "a local folder you point to"

    def __init__(self, root: str | os.PathLike, csv: str | None = None, jsonl: str | None = None, *,
                 image_col: str = "IMG_ID", lat_col: str = "LAT", lon_col: str = "LON", id_col: str | None = None,
                 image_dir: str = ".", country_col: str | None = None, city_col: str | None = None,
                 name: str = "geolocation_folder", delimiter: str = ",",
                 max_new_tokens: int | None = None):
        if (csv is None) == (jsonl is None):
            raise GeobenchError("GeolocationFolder needs exactly one of csv= or jsonl=")
        super().__init__(root)
        self.name = name
        self.table = csv or jsonl
        self.is_jsonl = jsonl is not None
        self.columns = dict(image_col=image_col, lat_col=lat_col, lon_col=lon_col, id_col=id_col,
                            country_col=country_col, city_col=city_col)
        self.image_dir = image_dir
        self.delimiter = delimiter
        self.ask_names = bool(country_col or city_col)
        if max_new_tokens is not None:
            self.default_gen = GenConfig(max_new_tokens=max_new_tokens)

    def expected(self) -> list[str]:
        return [self.table, self.image_dir]

    def load(self, split: str) -> list[Doc]:
        root = self.root()
        path = data.safe_join(root, self.table)
        required = [c for c in (self.columns["image_col"], self.columns["lat_col"], self.columns["lon_col"],
                                self.columns["id_col"], self.columns["country_col"], self.columns["city_col"]) if c]
        if self.is_jsonl:
            rows = data.read_jsonl(path, required=required)
        else:
            rows = data.read_csv(path, required=required, delimiter=self.delimiter)
        return rows_to_docs(rows, path, data.safe_join(root, self.image_dir), **self.columns)


class GeolocationHF(GeolocationTask):
    """A Hugging Face `datasets` copy on local disk (`save_to_disk` folder, or a folder of parquet/csv/json
    files that `load_dataset` reads offline), with an image column and latitude/longitude columns.

        task = GeolocationHF("~/data/osv5m_mini", split="test", image_col="image", lat_col="latitude",
                             lon_col="longitude")

    The image column may be an `Image` feature (bytes or paths) or a string path relative to the folder.
    """

    source = "a local Hugging Face datasets folder (datasets.save_to_disk or data files)"

    def __init__(self, path: str | os.PathLike, split: str = "test", *, image_col: str = "image",
                 lat_col: str = "latitude", lon_col: str = "longitude", id_col: str | None = None,
                 country_col: str | None = None, city_col: str | None = None, name: str = "geolocation_hf",
                 max_new_tokens: int | None = None):
        super().__init__(path)
        self.name = name
        self.split = split
        self.splits = (split,)
        self.columns = dict(image_col=image_col, lat_col=lat_col, lon_col=lon_col, id_col=id_col,
                            country_col=country_col, city_col=city_col)
        self.ask_names = bool(country_col or city_col)
        if max_new_tokens is not None:
            self.default_gen = GenConfig(max_new_tokens=max_new_tokens)

    def expected(self) -> list[str]:
        return ["."]

    def _dataset(self, split: str):
        import datasets  # lazy: heavy, and only this loader needs it

        root = self.root()
        try:
            if (root / "dataset_dict.json").exists() or (root / "state.json").exists():
                ds = datasets.load_from_disk(str(root))
                if isinstance(ds, datasets.DatasetDict):
                    if split not in ds:
                        raise GeobenchError(f"{root}: no split {split!r}; splits: {', '.join(ds)}")
                    ds = ds[split]
            else:
                ds = datasets.load_dataset(str(root), split=split)
        except GeobenchError:
            raise
        except (FileNotFoundError, ValueError, KeyError, OSError) as e:
            raise GeobenchError(f"{root}: cannot read as a Hugging Face dataset ({type(e).__name__}: {e})") from None
        cols = self.columns
        absent = [c for c in cols.values() if c and c not in ds.column_names]
        if absent:
            raise GeobenchError(f"{root}: missing column(s) {', '.join(absent)}; found {', '.join(ds.column_names)}")
        if isinstance(ds.features[cols["image_col"]], datasets.Image):
            ds = ds.cast_column(cols["image_col"], datasets.Image(decode=False))
        return ds

    def load(self, split: str) -> list[Doc]:
        root = self.root()
        ds = self._dataset(split)
        c = self.columns
        docs = []
        for i, row in enumerate(ds):
            where = f"{root} [{split}] row {i + 1}"
            try:
                image = self._image(row[c["image_col"]], root, where)
                lat, lon = data.lat_lon(row[c["lat_col"]], row[c["lon_col"]], where)
            except data.DataError as e:
                data.skip(e)
                continue
            fields: dict[str, Any] = {"lat": lat, "lon": lon}
            for key in ("country", "city"):
                if c[f"{key}_col"]:
                    fields[key] = str(row[c[f"{key}_col"]] or "").strip()
            doc_id = str(row[c["id_col"]]) if c["id_col"] else str(i)
            docs.append(Doc(id=doc_id, fields=fields, images=[image]))
        return [d for d, keep in zip(docs, _check_unique([d.id for d in docs], root), strict=True) if keep]

    @staticmethod
    def _image(value, root: Path, where: str) -> ImageRef:
        if isinstance(value, dict):
            if value.get("bytes"):
                return ImageRef(data=value["bytes"])
            value = value.get("path")
        if isinstance(value, str | os.PathLike) and str(value):
            p = Path(value)
            if p.is_absolute():  # datasets built from local files store absolute paths
                return ImageRef(path=str(p))
            try:
                return ImageRef(path=str(data.safe_join(root, str(value))))
            except data.DataError as e:
                raise data.DataError(f"{where}: {e}", e.reason) from None
        raise data.DataError(f"{where}: no image (neither bytes nor a path)", "missing image")


# ---------------------------------------------------------------------------------------------- toy world

TOY_CSV = {"test": "im2gps3k_places365.csv", "train": "mp16_places365.csv"}
TOY_META = ("country", "country_code", "city", "continent", "climate", "settlement", "land", "near_coast",
            "island", "desert", "mountainous", "driving_side")
TOY_SPLIT_SEED = {"test": 1, "train": 2}
TOY_WORLD_SEED = 0  # one planet for every toy dataset; `seed` only changes which places are sampled


def export(folder: Path, splits: dict[str, int], seed: int) -> None:
    """Write the toy geolocation dataset in the IM2GPS3K layout (so `Im2gps3k`'s loader reads it).

    - `im2gps3k_places365.csv` (test) and `mp16_places365.csv` (train: MP-16 is the im2gps lineage's training
      set, same columns): IMG_ID, AUTHOR, LAT, LON, then toy metadata columns (country, country_code, city =
      nearest toy city, continent, climate, settlement, ...);
    - `images/<IMG_ID>`: 96 px street views rendered by `render_ground`;
    - `places.jsonl`: every `Place.facts()` with its IMG_ID and split (for the scaffolding stage);
    - `world.json`: the planet's seed (always TOY_WORLD_SEED) and the sampling seed, so scoring rebuilds the
      same planet.
    Deterministic: the same (splits, seed) gives the same bytes.
    """
    import csv

    from geobench.tasks.toyworld import World, render_ground

    world = World(TOY_WORLD_SEED)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "world.json").write_text(json.dumps({"world_seed": TOY_WORLD_SEED, "sample_seed": seed,
                                                   "n_countries": len(world.countries),
                                                   "toy_version": toydata.TOY_VERSION}, sort_keys=True) + "\n")
    with open(folder / "places.jsonl", "w", encoding="utf-8") as facts_out:
        for split in ("test", "train"):
            n = int(splits.get(split, 0))
            places = world.sample_places(n, seed=seed * 1000 + TOY_SPLIT_SEED[split]) if n else []
            with open(folder / TOY_CSV[split], "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["IMG_ID", "AUTHOR", "LAT", "LON", *TOY_META])
                for i, p in enumerate(places):
                    img_id = f"toy_{i:05d}.png" if split == "test" else f"toy_{split}_{i:05d}.png"
                    render_ground(world, p, seed=i).save(folder / "images" / img_id, format="PNG", optimize=False)
                    w.writerow([img_id, "toyworld", f"{p.lat:.6f}", f"{p.lon:.6f}", p.country_name or "",
                                p.country_code or "", p.nearest_city, p.continent or "", p.climate, p.settlement,
                                int(p.land), int(p.near_coast), int(p.island), int(p.desert), int(p.mountainous),
                                p.driving_side or ""])
                    facts_out.write(json.dumps({"IMG_ID": img_id, "split": split, **p.facts()}, sort_keys=True) + "\n")


TOY_EXPORT_VERSION = "1"  # bump when `export` writes anything different


@hookimpl
def geobench_register_toy_datasets(register):
    register("geolocation", export, version=TOY_EXPORT_VERSION)


class GeolocToy(Im2gps3k):
    """Geolocation on the toy world (offline, deterministic): the IM2GPS3K loader on a rendered dataset.

    Country / city accuracy use the toy planet's own countries and cities (its geography is not Earth's).
    """

    name = "geoloc_toy"
    version = f"2.0-{geo.DISTANCE_IMPL}"
    default_gen = GenConfig(max_new_tokens=64)  # run by the tiny CPU model in tests and the demo
    splits = ("test", "train")
    source = "built in: the toy world (geobench.tasks.toyworld), rendered on first use"
    description = "toy-world geolocation: predict (lat, lon) from a rendered street view"
    csv_files = TOY_CSV
    image_dirs = ("images",)
    extra_columns = TOY_META

    def root(self) -> Path:
        return self.folder if self.folder is not None else toydata.ensure("geolocation")

    def data_status(self) -> str | None:
        if self.folder is None:
            return None  # built on first use
        return data.missing(self.folder, [*TOY_CSV.values(), "images", "world.json"], self.source)

    def _world(self):
        root = self.root()
        if getattr(self, "_world_for", None) != root:
            from geobench.tasks.toyworld import World

            try:
                meta = json.loads((root / "world.json").read_text())
                self._world_cache = World(int(meta["world_seed"]), int(meta["n_countries"]))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise GeobenchError(f"{root / 'world.json'}: unreadable toy-world metadata ({e})") from None
            self._world_for = root
        return self._world_cache

    def locate(self, lats, lons) -> list[dict[str, Any]]:
        """The toy country (grid cell, None at sea) and nearest toy city of each point: what `World.places`
        says (a test checks it), without computing every other fact, so a GRPO reward costs microseconds."""
        import numpy as np

        from geobench.tasks.toyworld.world import RES

        world = self._world()
        if getattr(self, "_cities_for", None) is not world:
            self._city_ll = (np.array([c.lat for c in world.cities]), np.array([c.lon for c in world.cities]))
            self._cities_for = world
        lat = np.clip(np.asarray(lats, dtype=np.float64).ravel(), -90.0, 90.0)
        lon = (np.asarray(lons, dtype=np.float64).ravel() + 180.0) % 360.0 - 180.0
        land, grid = world.land_grid, world.country_grid
        i = np.clip(np.floor((lat + 90.0) / RES).astype(np.int64), 0, grid.shape[0] - 1)
        j = np.floor((lon + 180.0) / RES).astype(np.int64) % grid.shape[1]
        cidx = np.where(land[i, j], grid[i, j], -1)
        nearest = np.argmin(geo.haversine_km(lat[:, None], lon[:, None], self._city_ll[0][None, :],
                                             self._city_ll[1][None, :]), axis=1)
        out = []
        for k in range(len(lat)):
            country = world.countries[int(cidx[k])] if cidx[k] >= 0 else None
            city = world.cities[int(nearest[k])].name
            out.append({"country_key": country.code if country else None, "city_key": city,
                        "country_name": country.name if country else None, "city_name": city})
        return out

    def area_impl(self) -> str:
        return "toyworld-country-grid-nearest-city"


TASKS = (GeolocToy, Im2gps3k, Yfcc4k, Mp16Reason, ImageoGss, Osv5m)


@hookimpl
def geobench_register_tasks(register):
    for cls in TASKS:
        register(cls, group="geolocation")
