"""Geolocation tasks: metrics against independent references, reverse geocoding, every real-benchmark loader on
a fixture in its published layout (end to end with the dummy backend), data errors, and the toy dataset."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from haversine import Unit
from haversine import haversine as ref_haversine
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import geobench
from geobench import GeobenchError, geo, geocode
from geobench import toydata as toy
from geobench.tasks import geolocation as G

PARIS = (48.8566, 2.3522)
SYDNEY = (-33.8688, 151.2093)
NEW_YORK = (40.7128, -74.0060)
ANSWER = "<answer>(48.85, 2.35)</answer>"  # ~0.75 km from PARIS


def run(task, answer=ANSWER, **kw):
    res = geobench.evaluate(answer, [task], backend="dummy", output=None, progress=False, **kw)
    return res["results"][task.name]


def m(res: dict, metric: str) -> float:
    return res[f"{metric},none"]


def tiny_image(path: Path, colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


# ------------------------------------------------------------------------------------- metric references


def test_haversine_matches_the_haversine_package_on_random_and_special_points():
    rng = np.random.default_rng(0)
    n = 2000
    lat1, lat2 = np.degrees(np.arcsin(rng.uniform(-1, 1, (2, n))))
    lon1, lon2 = rng.uniform(-180, 180, (2, n))
    special = [(10, 179.9, 10, -179.9), (0, 180, 0, -180), (90, 0, 90, 123), (-90, 10, -90, -170), (90, 0, -90, 0),
               (0, 0, 0, 180), (5, 5, 5, 5), (48.8566, 2.3522, 48.8566, 2.3522), (-33.9, 151.2, 40.7, -74.0),
               (89.9999, 0, 89.9999, 180), (1e-9, 0, 0, 0)]
    a = np.array(special, dtype=float).T
    lat1, lon1, lat2, lon2 = (np.concatenate([x, y]) for x, y in zip((lat1, lon1, lat2, lon2), a, strict=True))
    ours = geo.haversine_km(lat1, lon1, lat2, lon2)
    ref = np.array([ref_haversine((p, q), (r, s), unit=Unit.KILOMETERS)
                    for p, q, r, s in zip(lat1, lon1, lat2, lon2, strict=True)])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-6)
    assert geo.haversine_km(5, 5, 5, 5) == 0.0
    assert geo.haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * geo.EARTH_RADIUS_KM)
    assert geo.MISS_KM > geo.haversine_km(0, 0, 0, 180)  # a miss is worse than any parsed answer (antipode)


def test_thresholds_are_inclusive_at_every_boundary():
    for t in geo.THRESHOLDS_KM:
        assert geo.sample_metrics(float(t))[f"acc@{t}km"] == 1.0
        assert geo.sample_metrics(float(np.nextafter(t, np.inf)))[f"acc@{t}km"] == 0.0
    # a real pair of points whose distance lands on a boundary within float error
    d = float(geo.haversine_km(0, 0, 25 / (math.pi * geo.EARTH_RADIUS_KM / 180), 0))
    assert geo.sample_metrics(d)["acc@25km"] == float(d <= 25)
    agg = geo.aggregate([1.0, 25.0, 200.0, 750.0, 2500.0], [1] * 5)
    assert [agg[f"acc@{t}km"] for t in geo.THRESHOLDS_KM] == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_geoscore_median_mean_against_plain_python():
    rng = random.Random(1)
    d = [rng.uniform(0, 20000) for _ in range(1001)] + [0.0, geo.MISS_KM]
    agg = geo.aggregate(d, [1] * len(d))
    assert agg["geoscore"] == pytest.approx(sum(5000 * math.exp(-x / 1492.7) for x in d) / len(d), rel=1e-12)
    import statistics

    assert agg["median_km"] == pytest.approx(statistics.median(d), rel=1e-12)
    assert agg["mean_km"] == pytest.approx(statistics.fmean(d), rel=1e-12)
    assert geo.sample_metrics(0.0)["geoscore"] == 5000.0  # unrounded: exactly 5000 at 0 km
    assert geo.sample_metrics(10.0)["geoscore"] == pytest.approx(5000 * math.exp(-10 / 1492.7), rel=1e-15)
    miss = geo.sample_metrics(None)
    assert miss["distance_km"] == 20037.5 and miss["parse_rate"] == 0.0
    assert all(miss[f"acc@{t}km"] == 0.0 for t in geo.THRESHOLDS_KM)


def globe_reference(pred, ground_truth, threshold=0.7):
    """A transcription of lingli1996/GLOBE eval.py `match_location`, for comparison."""
    len1, len2 = len(pred), len(ground_truth)
    pred, ground_truth = pred.lower(), ground_truth.lower()
    if len1 == 0:
        return 0
    if (pred in ground_truth and len1 / len2 >= threshold) or (ground_truth in pred and len2 / len1 >= threshold):
        return 1
    return 0


@pytest.mark.parametrize("pred, truth, expected", [
    ("Paris", "paris", True), ("france", "France", True), ("United States", "United States of America", False),
    ("Korea", "South Korea", False), ("New York", "New York City", False), ("Sao Paulo", "São Paulo", False),
    ("München", "Munich", False), ("Tokyo", "Tokyo-to", False), ("Washington", "Washington DC", True), ("", "Paris", False), ("Paris", "", False),
    ("the city of Paris", "Paris", False), ("Viet Nam", "Vietnam", False), ("Italia", "Italy", False),
])
def test_globe_rule_table(pred, truth, expected):
    assert geo.globe_match(pred, truth) is expected
    if truth:
        assert bool(globe_reference(pred, truth)) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcAB Cé", max_size=12), st.text(alphabet="abcAB Cé", min_size=1, max_size=12))
def test_globe_rule_matches_the_reference(pred, truth):
    if pred.strip() == pred and truth.strip() == truth and truth:
        assert geo.globe_match(pred, truth) == bool(globe_reference(pred, truth))


def test_area_accuracy():
    assert geo.area_accuracy(["FR", "US", None, "JP"], ["FR", "CA", None, "JP"]) == 0.5
    assert geo.same_area(None, None) == 0.0 and geo.same_area("FR", "FR") == 1.0


# ---------------------------------------------------------------------------------------- reverse geocoding


def test_reverse_geocoding_known_points_antimeridian_and_batches():
    p = geocode.place(*PARIS)
    assert (p["country_code"], p["country"], p["city"]) == ("FR", "France", "Paris")
    got = geocode.lookup([SYDNEY[0], NEW_YORK[0], -22.9, 35.68], [SYDNEY[1], NEW_YORK[1], -43.2, 139.69])
    assert list(got.country_code) == ["AU", "US", "BR", "JP"]
    assert got.city[0] == "Sydney" and got.city[1] == "New York City"
    # nearest on the sphere, across the antimeridian: 92 km east of Labasa (Fiji) is Fiji, not Wallis and Futuna
    # (what the nearest neighbour in raw lat/lon degrees says), and near Funafuti it is Tuvalu
    assert geocode.place(-16.0, -179.9)["country_code"] == "FJ" == geocode.place(-16.5, 179.99)["country_code"]
    assert geocode.place(-8.5, -179.9)["country_code"] == "TV"
    rng = np.random.default_rng(2)
    lat, lon = np.degrees(np.arcsin(rng.uniform(-1, 1, 10_000))), rng.uniform(-180, 180, 10_000)
    batch = geocode.lookup(lat, lon)  # (its speed, 10k points < 1 s, is benchmarks/bench_speed_checks.py)
    assert len(batch) == 10_000
    single = [geocode.place(lat[i], lon[i]) for i in range(0, 10_000, 997)]
    assert [s["city_key"] for s in single] == list(batch.city_key[::997])
    with pytest.raises(ValueError):
        geocode.lookup([float("nan")], [0.0])


# ----------------------------------------------------------------------------- real-benchmark fixtures

GEOEST_HEADER = ["IMG_ID", "AUTHOR", "LAT", "LON", "S3_Label", "S16_Label", "S365_Label", "Prob_indoor",
                 "Prob_natural", "Prob_urban"]
POINTS = [PARIS, SYDNEY, NEW_YORK]


def make_im2gps3k(root: Path, image_dir="images", header=GEOEST_HEADER, csv_name="im2gps3k_places365.csv",
                  swap=False) -> Path:
    rows = []
    for i, (lat, lon) in enumerate(POINTS):
        name = f"10002{i}9685_e60e9cdfb4_1125_78841376@N00.jpg"
        tiny_image(root / image_dir / name, (40 * i, 100, 100))
        rows.append([name, "78841376@N00", lat, lon, 2, 12, 353, 0.27, 0.04, 0.68])
    write_csv(root / csv_name, header, rows)
    return root


def make_mp16_reason(root: Path) -> Path:
    header = ["IMG_ID", "AUTHOR", "LAT", "LON", "neighbourhood", "city", "county", "state", "region", "country"]
    names = [("Paris", "France"), ("Sydney", "Australia"), ("New York", "United States")]
    rows = []
    for i, ((lat, lon), (city, country)) in enumerate(zip(POINTS, names, strict=True)):
        stem = f"{i:02d}/ab/{i}234567_{i}.jpg" if i == 0 else f"7{i}23456_0{i}"  # with and without extension
        tiny_image(root / "eval_images" / (stem if stem.endswith(".jpg") else stem + ".jpg"))
        rows.append([stem, "x@N00", lat, lon, "", city, "", "", "", country])
    write_csv(root / "mp16-reason-test-12k.csv", header, rows)
    return root


IMAGEO_HEADER = ("image_id,source,orig_id,url,label_method,city,city_id,country,continent,latitude,longitude,"
                 "datetime_local,sequence_index,sequence_id,split,img_path,glare,lighting_condition,pano_status,"
                 "platform,quality,reflection,view_direction,weather").split(",")


def make_imageo(root: Path, image_dir="dataset1") -> Path:
    names = [("Paris", "France"), ("Sydney", "Australia"), ("New York", "United States")]
    rows = []
    for i, ((lat, lon), (city, country)) in enumerate(zip(POINTS, names, strict=True)):
        uid = f"0002392{i}-4ea9-4848-9837-ad0899adaa4c"
        tiny_image(root / image_dir / (uid + (".jpeg" if i else ".jpg")))
        rows.append([uid, "Mapillary", "8.18e14", "https://example.org", "random sample and manual label", city,
                     "1840010490", country, "Europe", lat, lon, "2017-05-22 04:29:46-05:00", 386, "SvWa", "test",
                     f"img/4/{uid}.jpeg", "no", "day", "False", "driving surface", "good", "no", "front/back", "clear"])
    write_csv(root / "dataset1_info.csv", IMAGEO_HEADER, rows)
    return root


OSV_HEADER = ("id,latitude,longitude,thumb_original_url,country,sequence,captured_at,lon_bin,lat_bin,cell,region,"
              "sub-region,city,land_cover,road_index,drive_side,climate,soil,dist_sea,quadtree_10_5000,"
              "quadtree_10_25000,quadtree_10_1000,quadtree_10_50000,quadtree_10_12500,quadtree_10_500,"
              "quadtree_10_2500,unique_region,unique_sub-region,unique_city,unique_country,creator_username,"
              "creator_id").split(",")


def make_osv5m(root: Path) -> Path:
    ccs = ["FR", "AU", "US"]
    rows = []
    for i, ((lat, lon), cc) in enumerate(zip(POINTS, ccs, strict=True)):
        oid = f"38591498874655{i:02d}"
        tiny_image(root / "images" / "test" / (f"0{i}" if i else "") / f"{oid}.jpg")  # flat and in shard folders
        rows.append([oid, lat, lon, "", cc, "", "", 8, 1, "(0, 8)", "R", "", "C", 4, 4.6, 1, 15, 3, 0.0068,
                     0, 0, 0, 0, 0, 0, 0, "R_FR", "", "C_R_FR", cc, "user", 1113])
    write_csv(root / "test.csv", OSV_HEADER, rows)
    return root


def check_paris_only(res: dict, names: bool = False) -> None:
    """The fixtures hold Paris, Sydney, New York; the answer (48.85, 2.35) is ~0.75 km from Paris."""
    for t in geo.THRESHOLDS_KM:
        assert m(res, f"acc@{t}km") == pytest.approx(1 / 3)
    assert m(res, "parse_rate") == 1.0 and m(res, "format_rate") == 0.0
    assert m(res, "country_acc") == pytest.approx(1 / 3) and m(res, "city_acc") == pytest.approx(1 / 3)
    d = [float(geo.haversine_km(48.85, 2.35, *p)) for p in POINTS]
    assert m(res, "median_km") == pytest.approx(np.median(d)) and m(res, "mean_km") == pytest.approx(np.mean(d))
    assert m(res, "geoscore") == pytest.approx(np.mean([5000 * math.exp(-x / 1492.7) for x in d]))
    assert ("country_name_acc,none" in res) is names
    if names:
        assert m(res, "country_name_acc") == pytest.approx(1 / 3) and m(res, "city_name_acc") == pytest.approx(1 / 3)


@pytest.mark.parametrize("image_dir", ["images", "im2gps3ktest"])
def test_im2gps3k_end_to_end(tmp_path, image_dir):
    task = G.Im2gps3k(make_im2gps3k(tmp_path / "im2gps3k", image_dir=image_dir))
    assert task.data_status() is None
    docs = task.docs()
    assert [d.fields["lat"] for d in docs] == [p[0] for p in POINTS]
    assert docs[0].id.endswith("@N00.jpg") and Path(docs[0].images[0].path).parent.name == image_dir
    check_paris_only(run(task))


def test_im2gps3k_reads_geoestimations_swapped_header_erratum(tmp_path):
    header = ["IMG_ID", "AUTHOR", "LON", "LAT", *GEOEST_HEADER[4:]]  # labels swapped, values still lat, lon
    task = G.Im2gps3k(make_im2gps3k(tmp_path / "im2gps3k", header=header))
    with pytest.warns(UserWarning, match="LON,LAT"):
        docs = task.docs()
    assert (docs[0].fields["lat"], docs[0].fields["lon"]) == PARIS


def test_yfcc4k_end_to_end_from_the_data_root(tmp_path, monkeypatch):
    make_im2gps3k(tmp_path / "data" / "yfcc4k", image_dir="yfcc4k", csv_name="yfcc4k_places365.csv")
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path / "data"))
    task = G.Yfcc4k()  # located through geobench.data.benchmark_dir("yfcc4k")
    check_paris_only(run(task))
    res = geobench.evaluate(ANSWER, "yfcc4k", backend="dummy", output=None, progress=False)  # by name too
    assert res["results"]["yfcc4k"]["acc@1km,none"] == pytest.approx(1 / 3)


def test_mp16_reason_end_to_end_with_names(tmp_path):
    task = G.Mp16Reason(make_mp16_reason(tmp_path / "mp16_reason"))
    docs = task.docs()
    assert docs[1].images[0].path.endswith("7123456_01.jpg")  # ".jpg" added, as GLOBE's eval.py does
    assert docs[0].fields["city"] == "Paris" and docs[2].fields["country"] == "United States"
    check_paris_only(run(task), names=True)  # no names written: the predicted point's names are used
    named = "<think>Haussmann.</think><answer>country: France\ncity: Paris\ncoordinates: (48.85, 2.35)</answer>"
    res = run(task, named)
    assert m(res, "format_rate") == 1.0 and m(res, "city_name_acc") == pytest.approx(1 / 3)
    wrong_names = "<answer>country: Spain\ncity: Madrid\ncoordinates: (48.85, 2.35)</answer>"
    res = run(task, wrong_names)
    assert m(res, "country_name_acc") == 0.0 and m(res, "country_acc") == pytest.approx(1 / 3)
    assert task.extract(docs[0], named) == {"coordinates": [48.85, 2.35], "country": "France", "city": "Paris"}


@pytest.mark.parametrize("image_dir", ["dataset1", "IMAGEO-Bench-datasets/dataset1"])
def test_imageo_gss_end_to_end(tmp_path, image_dir):
    task = G.ImageoGss(make_imageo(tmp_path / "imageo_gss", image_dir=image_dir))
    docs = task.docs()
    assert docs[0].images[0].path.endswith(".jpg") and docs[1].images[0].path.endswith(".jpeg")
    check_paris_only(run(task), names=True)


def test_osv5m_end_to_end(tmp_path):
    task = G.Osv5m(make_osv5m(tmp_path / "osv5m"))
    docs = task.docs()
    assert docs[0].id == "3859149887465500" and "/images/test/01/" in docs[1].images[0].path
    check_paris_only(run(task))


def test_generic_folder_csv_and_jsonl(tmp_path):
    root = tmp_path / "mybench"
    rows = []
    for i, (lat, lon) in enumerate(POINTS):
        tiny_image(root / "photos" / f"p{i}.png")
        rows.append({"file": f"p{i}.png", "lat": lat, "lng": lon, "country": ["France", "Australia", "USA"][i]})
    write_csv(root / "test.csv", ["file", "lat", "lng", "country"], [list(r.values()) for r in rows])
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for kw in (dict(csv="test.csv"), dict(jsonl="test.jsonl")):
        task = G.GeolocationFolder(root, **kw, image_col="file", lat_col="lat", lon_col="lng", image_dir="photos",
                                   country_col="country", name="mybench", max_new_tokens=300)
        assert task.name == "mybench" and task.default_gen.max_new_tokens == 300 and task.ask_names
        res = run(task)
        assert m(res, "acc@1km") == pytest.approx(1 / 3) and m(res, "country_name_acc") == pytest.approx(1 / 3)


def test_hugging_face_dataset_from_disk_and_parquet(tmp_path):
    import datasets

    pngs = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        tiny_image(path, (i, i, i))
        pngs.append({"bytes": path.read_bytes(), "path": None})
    features = datasets.Features({"image": datasets.Image(), "latitude": datasets.Value("float64"),
                                  "longitude": datasets.Value("float64"), "key": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"image": pngs, "latitude": [p[0] for p in POINTS],
                                     "longitude": [p[1] for p in POINTS], "key": ["a", "b", "c"]}, features=features)
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "hf"))
    task = G.GeolocationHF(tmp_path / "hf", split="test", id_col="key", name="hf_geo")
    docs = task.docs()
    assert [d.id for d in docs] == ["a", "b", "c"] and docs[0].images[0].data is not None
    check_paris_only(run(task))
    (tmp_path / "pq").mkdir()
    ds.to_parquet(str(tmp_path / "pq" / "test.parquet"))
    assert len(G.GeolocationHF(tmp_path / "pq", split="test").docs()) == 3
    with pytest.raises(GeobenchError, match="missing column"):
        G.GeolocationHF(tmp_path / "hf", lat_col="lat").docs()


# ------------------------------------------------------------------------------------------- data errors


def test_missing_data_status_and_one_line_cli_error(tmp_path):
    task = G.Im2gps3k(tmp_path / "nowhere")
    status = task.data_status()
    assert "im2gps3k_places365.csv" in status and "get it from" in status and "TIBHannover" in status
    with pytest.raises(GeobenchError, match="im2gps3k_places365.csv"):
        task.docs()
    from conftest import run_cli

    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--tasks", "im2gps3k", "--output",
                str(tmp_path / "out"), env={"GEOBENCH_DATA": str(tmp_path / "empty")})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "im2gps3k" in lines[0] and "get it from" in lines[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("results.json"))


def corrupt(tmp_path, mutate) -> G.Im2gps3k:
    root = make_im2gps3k(tmp_path / "im2gps3k")
    path = root / "im2gps3k_places365.csv"
    mutate(path)
    return G.Im2gps3k(root)


def set_cell(row: int, col: int, value: str):
    def mutate(path: Path):
        rows = list(csv.reader(path.read_text().splitlines()))
        rows[row][col] = value
        write_csv(path, rows[0], rows[1:])
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (set_cell(1, 0, "../../../../etc/passwd"), "escapes the dataset root"),
    (set_cell(2, 0, "/etc/passwd"), "escapes the dataset root"),
    (lambda p: p.write_text(p.read_text() + p.read_text().splitlines()[2] + "\n"), "duplicate image id"),
    (set_cell(1, 2, "nan"), "out of range"),
    (set_cell(3, 2, "91.5"), "out of range"),
    (set_cell(3, 3, "-180.01"), "out of range"),
    (set_cell(2, 3, "east"), "not numbers"),
    (set_cell(1, 0, ""), "empty IMG_ID"),
    (lambda p: p.write_text("IMG_ID,AUTHOR,LAT\nx.jpg,a,1\n"), "missing column"),
    (lambda p: p.write_bytes(b"IMG_ID,LAT,LON\n\xff\xfe.jpg,1,2\n"), "not UTF-8"),
    (lambda p: p.write_text(""), "missing column.*found none"),
    (lambda p: p.write_text(",".join(GEOEST_HEADER) + "\n"), "no data rows"),
])
def test_bad_data_is_one_line_error_naming_the_file(tmp_path, mutate, message):
    task = corrupt(tmp_path, mutate)
    with pytest.raises(GeobenchError, match=message) as e:
        task.docs()
    assert "\n" not in str(e.value) and "im2gps3k_places365.csv" in str(e.value)


def test_unknown_split_and_missing_image_are_clear(tmp_path):
    root = make_imageo(tmp_path / "imageo_gss")
    with pytest.raises(GeobenchError, match="no split 'train'"):
        G.ImageoGss(root).docs("train")
    next((root / "dataset1").glob("*.jpeg")).unlink()
    with pytest.raises(GeobenchError, match="no image for"):
        G.ImageoGss(root).docs()


# ------------------------------------------------------------------------------- scoring, registration


def test_scores_are_complete_and_extract_parses(tmp_path):
    task = G.Im2gps3k(make_im2gps3k(tmp_path / "im2gps3k"))
    doc = task.docs()[0]
    good = task.score(doc, "<think>a</think><answer>(48.8566, 2.3522)</answer>")
    bad = task.score(doc, "no idea")
    assert set(good) == set(bad) == set(G.BASE_METRICS) | {"distance_km"}
    assert good["acc@1km"] == 1.0 and good["format_rate"] == 1.0 and good["country_acc"] == 1.0
    assert bad["distance_km"] == geo.MISS_KM and bad["parse_rate"] == 0.0 and bad["country_acc"] == 0.0
    assert task.extract(doc, "<answer>48.85N 2.35E</answer>") == [48.85, 2.35]
    assert task.extract(doc, "nothing") is None
    agg = task.aggregate([good, bad, bad])
    assert agg["acc@1km"] == pytest.approx(1 / 3) and agg["median_km"] == geo.MISS_KM
    assert agg["acc@1km_stderr"] == pytest.approx(np.std([1, 0, 0], ddof=1) / math.sqrt(3))
    assert "distance_km" not in agg and agg["mean_km"] == pytest.approx((good["distance_km"] + 2 * geo.MISS_KM) / 3)


def test_registration_versions_and_generation_defaults():
    from geobench.plugin_manager import load

    reg = load()
    names = {"geoloc_toy", "im2gps3k", "yfcc4k", "mp16_reason", "imageo_gss", "osv5m"}
    assert names <= set(reg.tasks)
    for name in names:
        task = reg.task(name)
        assert reg.group_of(name, task) == "geolocation" and geo.DISTANCE_IMPL in task.version
        assert task.default_gen.max_new_tokens == (64 if name == "geoloc_toy" else 1024)
        assert G.THINK_ANSWER in task.to_messages(geobench.Doc("x", {}, [geobench.ImageRef(data=b"x")]))[0][
            "content"][1]["text"]
        assert task.higher_is_better["median_km"] is False and task.higher_is_better["acc@25km"] is True


# ------------------------------------------------------------------------------------------- toy world


def test_toy_export_is_deterministic_and_in_the_im2gps3k_layout(tmp_path):
    splits = {"test": 6, "train": 3}
    a = toy.build("geolocation", tmp_path / "a", splits=splits, seed=0)
    b = toy.build("geolocation", tmp_path / "b", splits=splits, seed=0)
    c = toy.build("geolocation", tmp_path / "c", splits=splits, seed=1)

    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    fa = files(a)
    assert fa == files(b)
    assert fa["im2gps3k_places365.csv"] != files(c)["im2gps3k_places365.csv"]
    assert {"im2gps3k_places365.csv", "mp16_places365.csv", "places.jsonl", "world.json",
            "images/toy_00000.png", "images/toy_train_00002.png"} <= set(fa)
    header = fa["im2gps3k_places365.csv"].decode().splitlines()[0].split(",")
    assert header[:4] == ["IMG_ID", "AUTHOR", "LAT", "LON"] and {"country", "city", "climate"} <= set(header)
    facts = [json.loads(x) for x in fa["places.jsonl"].decode().splitlines()]
    assert len(facts) == 9 and {"IMG_ID", "split", "climate", "country_code", "near_coast"} <= set(facts[0])
    # the real IM2GPS3K loader reads it
    assert len(G.Im2gps3k(a).docs()) == 6
    task = G.GeolocToy(a)
    assert [len(task.docs(s)) for s in ("test", "train")] == [6, 3]


def test_toy_scoring_uses_the_toy_worlds_countries(tmp_path):
    folder = toy.build("geolocation", tmp_path / "toy", splits={"test": 8}, seed=0)
    task = G.GeolocToy(folder)
    docs = task.docs()
    for doc in docs:
        s = task.score(doc, f"<think>t</think><answer>({doc.fields['lat']}, {doc.fields['lon']})</answer>")
        assert s["acc@1km"] == 1.0 and s["country_acc"] == 1.0 and s["city_acc"] == 1.0
        assert doc.fields["gt_country_key"] == doc.fields["country_code"]
    world = task._world()
    far = next(d for d in docs if world.place(-d.fields["lat"], d.fields["lon"] + 180).country_code
               != d.fields["country_code"])
    s = task.score(far, f"<answer>({-far.fields['lat']}, {far.fields['lon'] + 180 - 360 * (far.fields['lon'] > 0)})"
                        "</answer>")
    assert s["country_acc"] == 0.0 and s["acc@2500km"] == 0.0
    res = run(task, ANSWER)
    assert m(res, "parse_rate") == 1.0 and 0.0 <= m(res, "country_acc") <= 1.0
    assert task.config()["area_impl"].startswith("toyworld")


def test_toy_fast_area_lookup_agrees_with_world_places(tmp_path):
    folder = toy.build("geolocation", tmp_path / "toy", splits={"test": 2}, seed=0)
    task = G.GeolocToy(folder)
    world = task._world()
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(-90, 90, 3000), rng.uniform(-180, 180, 3000)
    lat[:5], lon[:5] = [90, -90, 0, 45.25, -10], [180, -180, 179.999, 0.25, -180]  # edges and cell borders
    fast = task.locate(lat, lon)
    slow = world.places(lat, lon)
    assert [f["country_key"] for f in fast] == [p.country_code for p in slow]
    assert [f["city_key"] for f in fast] == [p.nearest_city for p in slow]
    assert sum(f["country_key"] is None for f in fast) > 100  # the sea is there too


def test_toy_scoring_reads_the_saved_map_and_rebuilds_it_for_an_older_folder(tmp_path, monkeypatch):
    folder = toy.build("geolocation", tmp_path / "toy", splits={"test": 4}, seed=0)
    lat, lon = np.linspace(-80, 80, 200), np.linspace(-179, 179, 200)
    import geobench.tasks.geolocation.toy as T

    def no_planet(*a, **k):
        raise AssertionError("the planet was rebuilt although the dataset saves its map")

    with monkeypatch.context() as mp:
        mp.setattr(T, "World", no_planet)
        saved = G.GeolocToy(folder).locate(lat, lon)
    (folder / T.COUNTRY_GRID).unlink()  # a folder written before the map was saved
    assert G.GeolocToy(folder).locate(lat, lon) == saved
    np.save(folder / T.COUNTRY_GRID, np.zeros((3, 3), dtype=np.int16))
    with pytest.raises(GeobenchError, match="not a toy-world country grid.*delete the folder"):
        G.GeolocToy(folder).locate(lat, lon)
    (folder / T.COUNTRY_GRID).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(GeobenchError, match="unreadable toy-world map"):
        G.GeolocToy(folder).locate(lat, lon)


def test_geoloc_toy_by_name_builds_the_default_dataset():
    res = geobench.evaluate("random", "geoloc_toy", backend="dummy", limit=5, output=None, progress=False)
    assert res["n-samples"]["geoloc_toy"]["effective"] == 5
    assert (toy.ensure("geolocation") / "im2gps3k_places365.csv").exists()
