"""The geolocation benchmarks: IM2GPS3K, YFCC4K, MP16-Reason, IMAGEO-Bench GSS and OSV-5M as CSV layout
declarations, and the generic loaders for any CSV/JSONL + image folder or local Hugging Face dataset."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from geobench import data
from geobench.api import Doc, GenConfig, HubSource, ImageRef, UrlFile, UrlSource
from geobench.errors import GeobenchError

from .tables import CsvBenchmark, CsvLayout, check_unique, rows_to_docs
from .task import GeolocationTask

GEOESTIMATION_HEADER = ("IMG_ID", "AUTHOR", "LON", "LAT")  # an early GeoEstimation header: values are lat, lon


class Im2gps3k(CsvBenchmark):
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
    source = UrlSource(
        homepage="https://github.com/TIBHannover/GeoEstimation", unpack="zip",
        files=(UrlFile("https://raw.githubusercontent.com/TIBHannover/GeoEstimation/"
                       "5e091c0c5a73886635ddb10a870ff5c4907cfd0c/meta/im2gps3k_places365.csv"),
               UrlFile("http://www.mediafire.com/file/7ht7sn78q27o9we/im2gps3ktest.zip", browser=True)),
        confirmed="metadata path and commit (GeoEstimation meta/im2gps3k_places365.csv); the images link "
                  "(Revisiting IM2GPS, cited by GeoCLIP/G3)",
        unconfirmed="licence; sizes and sha256 of both files; the zip's inner folder (im2gps3ktest/ expected)")
    source_note = ("metadata: github.com/TIBHannover/GeoEstimation meta/im2gps3k_places365.csv; images: "
                   "im2gps3ktest.zip from the Revisiting IM2GPS project (Vo et al. 2017)")
    description = "IM2GPS3K: 2,997 Flickr photos; predict (lat, lon)"
    layout = CsvLayout(files={"test": "im2gps3k_places365.csv"}, image_dirs=("images", "im2gps3ktest"),
                       image_col=("IMG_ID",), lat_col=("LAT",), lon_col=("LON",), required=("IMG_ID", "LAT", "LON"),
                       lon_lat_header=GEOESTIMATION_HEADER)


class Yfcc4k(Im2gps3k):
    """YFCC4K (Vo et al. 2017; 4,536 photos from YFCC100M), test only.

    Layout (as used by G3 and Img2Loc)::

        yfcc4k/
          yfcc4k_places365.csv   IMG_ID,...,LAT,LON,...  (IMG_ID = image file name)
          images/<IMG_ID>        (or yfcc4k/<IMG_ID>: the folder of the published yfcc4k.zip)
    """

    name = "yfcc4k"
    source = UrlSource(
        homepage="https://github.com/TIBHannover/GeoEstimation", unpack="zip",
        files=(UrlFile("https://huggingface.co/Jia-py/G3-checkpoint (G3's release; file name unconfirmed)",
                       name="yfcc4k_places365.csv", browser=True),
               UrlFile("http://www.mediafire.com/file/3og8y3o6c9de3ye/yfcc4k.zip", browser=True)),
        confirmed="the images link (Revisiting IM2GPS, cited by G3 and Img2Loc)",
        unconfirmed="where the metadata CSV is published under that name; licence; sizes and sha256")
    source_note = ("metadata yfcc4k_places365.csv (G3 / Img2Loc releases, GeoEstimation lineage); images: "
                   "yfcc4k.zip from the Revisiting IM2GPS project (Vo et al. 2017)")
    description = "YFCC4K: 4,536 YFCC100M photos; predict (lat, lon)"
    layout = CsvLayout(files={"test": "yfcc4k_places365.csv"}, image_dirs=("images", "yfcc4k"),
                       image_col=("IMG_ID",), lat_col=("LAT",), lon_col=("LON",), required=("IMG_ID", "LAT", "LON"),
                       lon_lat_header=GEOESTIMATION_HEADER)


class Mp16Reason(CsvBenchmark):
    """MP16-Reason test (GLOBE, Li et al., NeurIPS 2025, arXiv 2506.14674; ~12k images), with names.

    Layout (GLOBE's `examples/train/grpo/globe/eval.py`, dataset "mp16-reason-test-12k")::

        mp16_reason/
          mp16-reason-test-12k.csv   IMG_ID (or id), LAT (or latitude), LON (or longitude), city, country
          eval_images/<IMG_ID>       (or images/); an IMG_ID without extension gets ".jpg", as in eval.py

    City/country accuracy follows GLOBE's rule on the names; distances as everywhere.
    """

    name = "mp16_reason"
    source = UrlSource(homepage="https://huggingface.co/globe-project",
                       unconfirmed="the repository and file names of the MP16-Reason test set on the Hub")
    source_note = "huggingface.co/globe-project (MP16-Reason) with github.com/lingli1996/GLOBE"
    description = "MP16-Reason test: Flickr photos with city/country; predict names and (lat, lon)"
    ask_names = True
    layout = CsvLayout(files={"test": "mp16-reason-test-12k.csv"}, image_dirs=("eval_images", "images"),
                       image_col=("IMG_ID", "id"), lat_col=("LAT", "latitude"), lon_col=("LON", "longitude"),
                       country_col=("country",), city_col=("city",), default_ext=".jpg")


class ImageoGss(CsvBenchmark):
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
    source = UrlSource(
        homepage="https://zenodo.org/records/16670471", unpack="zip",
        files=(UrlFile("https://raw.githubusercontent.com/Lingyao1219/benchmark-reverse-geocoding/"
                       "e593e56f4d020f7d5bea8d3be7ff6dac9bb166d5/analysis/dataset1_info.csv"),
               UrlFile("doi:10.5281/zenodo.16670471/IMAGEO-Bench-datasets.zip")),
        confirmed="metadata path and commit (benchmark-reverse-geocoding analysis/dataset1_info.csv); the "
                  "Zenodo record 16670471",
        unconfirmed="the archive's file name in the Zenodo record; licence; sizes and sha256")
    source_note = ("zenodo.org/records/16670471 (IMAGEO-Bench-datasets/dataset1) with "
                   "github.com/Lingyao1219/benchmark-reverse-geocoding analysis/dataset1_info.csv")
    description = "IMAGEO-Bench GSS: 6,152 global street images; city/country accuracy and km errors"
    ask_names = True
    layout = CsvLayout(files={"test": "dataset1_info.csv"}, image_dirs=("dataset1", "IMAGEO-Bench-datasets/dataset1"),
                       image_col=("image_id",), lat_col=("latitude",), lon_col=("longitude",),
                       country_col=("country",), city_col=("city",), id_col="image_id", by_stem=True,
                       required=("image_id", "latitude", "longitude", "city", "country"))


class Osv5m(CsvBenchmark):
    """OpenStreetView-5M test split (Astruc et al., CVPR 2024): 210,122 street-view images.

    Layout (the Hugging Face dataset `osv5m/osv5m` after `scripts/download-dataset.py` unzips the shards)::

        osv5m/
          test.csv        id,latitude,longitude,thumb_original_url,country,sequence,...,region,sub-region,city,...
          images/test/    <id>.jpg, directly or in the shard sub-folders the zips unpack to (00/, 01/, ...)
    """

    name = "osv5m"
    source = HubSource(
        repo_id="osv5m/osv5m", patterns=("test.csv", "images/test/*.zip"), shards="images/test/*.zip", unpack="zip",
        homepage="https://huggingface.co/datasets/osv5m/osv5m", licence="CC-BY-SA-4.0 (unconfirmed)",
        confirmed="repo id; test.csv with its columns; images/test/00.zip..04.zip holding <id>.jpg (the dataset's "
                  "loading script osv5m.py and DATASET.md of github.com/gastruc/osv5m)",
        unconfirmed="a pinned commit (main is pulled and the commit recorded); licence; size")
    source_note = "huggingface.co/datasets/osv5m/osv5m (test.csv + images/test/*.zip, unzipped)"
    description = "OSV-5M test: 210k street-view images; predict (lat, lon)"
    layout = CsvLayout(files={"test": "test.csv"}, image_dirs=("images/test",), image_col=("id",),
                       lat_col=("latitude",), lon_col=("longitude",), id_col="id", by_stem=True,
                       required=("id", "latitude", "longitude"))

    def lay_out(self, files, target, *, shards=None):
        """Unzip the shards under images/test/; with only the first shards pulled, test.csv keeps the rows
        whose image is there (the published one is kept as test.full.csv)."""
        written = super().lay_out(files, target, shards=shards)
        if shards and shards[0] < shards[1]:
            have = {os.path.splitext(os.path.basename(p))[0] for p in written}
            full, part = target / "test.full.csv", target / "test.csv"
            os.replace(part, full)
            with open(full, newline="", encoding="utf-8") as fin, open(part, "w", newline="", encoding="utf-8") as fout:
                reader = csv.reader(fin)
                out = csv.writer(fout)
                header = next(reader)
                out.writerow(header)
                col = header.index("id")
                out.writerows(row for row in reader if len(row) > col and row[col] in have)
        return written


# ----------------------------------------------------------------------------------------- generic loaders


class GeolocationFolder(GeolocationTask):
    """Any folder of images + a CSV or JSONL of (image, lat, lon[, country, city]).

        task = GeolocationFolder("~/data/mybench", csv="test.csv", image_col="file", lat_col="lat",
                                 lon_col="lng", image_dir="photos", name="mybench")
        geobench.evaluate("Qwen/Qwen2.5-VL-7B-Instruct", [task])

    Image names are joined under `root/image_dir` and may not leave it. With `country_col` / `city_col`
    the prompt also asks for names and GLOBE's rule scores them.
    """

    source_note = "a local folder you point to"

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

    def expected(self, split: str) -> list[str]:
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

    source_note = "a local Hugging Face datasets folder (datasets.save_to_disk or data files)"

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

    def expected(self, split: str) -> list[str]:
        return ["."]

    def _dataset(self, split: str):
        import datasets  # lazy: heavy (pyarrow, fsspec), optional, and only this loader needs it

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
        return [d for d, keep in zip(docs, check_unique([d.id for d in docs], root), strict=True) if keep]

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
