"""Cross-view pairing: every loader on a tiny fixture in its published layout, evaluated end to end with the
dummy backend; negatives (same neighbourhood, never the truth), determinism, balanced letters, rewards, and
the toy dataset (deterministic, learnable, no tile-only shortcut)."""

from __future__ import annotations

import collections
import csv
import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import geobench
from geobench import GeobenchError, geo
from geobench import toydata as datasets
from geobench.tasks import crossview as cv

CITY_CENTRES = {"taipei": (25.04, 121.56), "singapore": (1.29, 103.85), "london": (51.507, -0.128),
                "seattle": (47.61, -122.33), "rio": (-22.91, -43.17), "sydney": (-33.87, 151.21)}


def png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value % 256, (value * 7) % 256, 90)).save(path)


def offset(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    return lat + north_km / 111.2, lon + east_km / (111.2 * math.cos(math.radians(lat)))


def answers_b(task) -> float:
    docs = list(task.docs())
    return sum(d.fields["answer"] == "B" for d in docs) / len(docs)


def run_b(task) -> dict:
    res = geobench.evaluate("<think>look</think><answer>B</answer>", [task], backend="dummy", output=None,
                            progress=False)
    return res["results"][task.name]


def check_negatives(task, docs=None):
    """Negatives never the truth, all distinct, within the radius when none lies beyond it."""
    for d in docs or task.docs():
        c = d.fields["candidates"]
        assert len(c) == task.k == len(d.images) - 1
        assert [x["letter"] for x in c] == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:task.k])
        truth = [x for x in c if x["true"]]
        assert len(truth) == 1 and truth[0]["letter"] == d.fields["answer"] and truth[0]["tile_id"] == d.id \
            or task.name in ("vigor", "university1652")
        ids = [x["tile_id"] for x in c]
        assert len(set(ids)) == len(ids)
        if d.fields["beyond_radius"] == 0 and d.fields["radius"] is not None:
            assert all(x["distance"] <= d.fields["radius"] + 1e-9 for x in c)


# ---------------------------------------------------------------------------------------------- CV-Cities


def write_cvcities(root: Path, escape: bool = False, header: bool = False) -> None:
    """5 rows within ~600 m of each test city's centre and 1 row 5 km away."""
    for ci, (city, (lat0, lon0)) in enumerate(CITY_CENTRES.items()):
        rows = [["name", "longitude", "latitude", "city", "sat_dir", "pano_dir"]] if header else []
        for i, (dn, de) in enumerate([(0, 0), (0.3, 0), (0, 0.3), (-0.3, 0.1), (0.1, -0.3), (5, 0)]):
            lat, lon = offset(lat0, lon0, dn, de)
            name = f"{city}_{i:04d}"
            sat, pano = f"{city}/satellite/{name}.jpg", f"{city}/panorama/{name}.jpg"
            png(root / sat, ci * 10 + i)
            png(root / pano, ci * 10 + i + 100)
            if escape and i == 2:
                sat = "../../outside.jpg"
            rows.append([name, f"{lon:.7f}", f"{lat:.7f}", city, sat, pano])
        with open(root / city / "img_info.csv", "w", newline="") as f:
            csv.writer(f).writerows(rows)


def test_cvcities_layout_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
    write_cvcities(tmp_path / "cvcities", header=True)
    task = cv.CVCities()
    assert task.data_status() is None and task.root() == tmp_path / "cvcities"
    docs = list(task.docs())
    assert len(docs) == 36 and docs[0].id == "taipei/taipei_0000"
    check_negatives(task, docs)
    for d in docs:
        near = not d.id.endswith("_0005")
        for x in d.fields["candidates"]:
            if near:  # the far row is never a negative of a near one
                assert not x["tile_id"].endswith("_0005") and x["distance"] <= 1.0
                assert x["distance"] == 0.0 or x["distance"] >= task.min_km
        if not near:  # the far row has nobody within 1 km: its nearest tiles fill in, and say so
            assert d.fields["beyond_radius"] == 3
    got = run_b(task)
    assert got["acc,none"] == pytest.approx(answers_b(task))
    assert got["chance,none"] == pytest.approx(0.25) and got["parse_rate,none"] == 1.0
    assert got["format_rate,none"] == 1.0
    # the images really are ground first, then the tiles in letter order
    d = docs[0]
    assert d.images[0].path.endswith("panorama/taipei_0000.jpg")
    true_letter = d.fields["answer"]
    assert d.images[1 + "ABCD".index(true_letter)].path.endswith("satellite/taipei_0000.jpg")


def test_determinism_and_seeds(tmp_path):
    write_cvcities(tmp_path)
    a = list(cv.CVCities(root=tmp_path, seed=0).docs())
    b = list(cv.CVCities(root=tmp_path, seed=0).docs())
    c = list(cv.CVCities(root=tmp_path, seed=1).docs())
    assert [d.fields for d in a] == [d.fields for d in b]
    assert [x.path for d in a for x in d.images] == [x.path for d in b for x in d.images]
    assert [d.fields["answer"] for d in a] != [d.fields["answer"] for d in c]
    negs = lambda docs: [sorted(x["tile_id"] for x in d.fields["candidates"] if not x["true"]) for d in docs]  # noqa: E731
    assert negs(a) != negs(c)
    # "nearest" picks the closest qualifying tiles: no seed dependence of the set
    n0 = list(cv.CVCities(root=tmp_path, seed=0, negatives="nearest").docs())
    n1 = list(cv.CVCities(root=tmp_path, seed=5, negatives="nearest").docs())
    assert negs(n0) == negs(n1)


def test_letters_are_balanced_and_chance_follows_k(tmp_path):
    write_cvcities(tmp_path)
    for k in (2, 3, 4):
        task = cv.CVCities(root=tmp_path, k=k, radius_km=100)
        docs = list(task.docs())
        counts = collections.Counter(d.fields["answer"] for d in docs)
        assert set(counts) == set("ABCD"[:k]) and max(counts.values()) - min(counts.values()) <= 1
        assert all(c == len(docs) // k for c in counts.values()) or len(docs) % k
        got = run_b(task)
        assert got["chance,none"] == pytest.approx(1 / k)
        assert got["acc,none"] == pytest.approx(counts["B"] / len(docs))


def test_path_escape_and_missing_data(tmp_path, monkeypatch):
    write_cvcities(tmp_path / "bad", escape=True)
    with pytest.raises(GeobenchError, match="escapes the dataset root"):
        list(cv.CVCities(root=tmp_path / "bad").docs())
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path / "nothing"))
    for cls in (cv.CVCities, cv.CVUSA, cv.CVACT, cv.VIGOR, cv.University1652):
        task = cls()
        reason = task.data_status()
        assert reason and "\n" not in reason and str(tmp_path / "nothing") in reason and "get it from" in reason
        with pytest.raises(GeobenchError, match="expected"):
            geobench.evaluate("B", [task], backend="dummy", output=None, progress=False)


def test_bad_rows_are_one_line_errors(tmp_path):
    write_cvcities(tmp_path)
    (tmp_path / "rio" / "img_info.csv").write_text("r1,not-a-number,1.0,rio,a.jpg,b.jpg\nr2,1,2,rio\n")
    with pytest.raises(GeobenchError, match=r"img_info.csv:2: expected at least 6 fields"):
        list(cv.CVCities(root=tmp_path).docs())
    (tmp_path / "rio" / "img_info.csv").write_text("r1,200.0,95.0,rio,a.jpg,b.jpg\n")
    with pytest.raises(GeobenchError, match="out of range"):
        list(cv.CVCities(root=tmp_path).docs())
    with pytest.raises(GeobenchError, match="k must be"):
        cv.CVCities(k=1)


def test_bad_rows_are_skipped_and_counted_with_on_error_skip(tmp_path):
    write_cvcities(tmp_path)
    path = tmp_path / "rio" / "img_info.csv"
    rows = path.read_text().splitlines()
    path.write_text("\n".join([*rows, rows[0], "r9,1,2,rio", "r8,200.0,95.0,rio,a.jpg,b.jpg"]) + "\n")
    with pytest.raises(GeobenchError, match="expected at least 6 fields"):
        list(cv.CVCities(root=tmp_path).docs())
    got = geobench.evaluate("<answer>A</answer>", [cv.CVCities(root=tmp_path, radius_km=10)], backend="dummy",
                            output=None, progress=False, on_error="skip")
    assert got["skipped"]["cvcities"] == {"bad row": 1, "bad coordinates": 1, "duplicated id": 1}
    assert got["n-samples"]["cvcities"]["effective"] == 36  # 6 cities x 6 rows, the bad three left out


# -------------------------------------------------------------------------------------------------- CVUSA


def write_cvusa(root: Path, n: int = 12, locations: bool = False) -> None:
    rows, locs = [], []
    for i in range(1, n + 1):
        sat, ground = f"bingmap/19/{i:07d}.jpg", f"streetview/panos/{i:07d}.jpg"
        png(root / sat, i)
        png(root / ground, i + 50)
        rows.append([sat, ground, f"streetview/annotations/{i:07d}.png"])
        # two areas: images 1..6 near one point, 7..12 100 km away
        lat, lon = offset(40.0, -100.0, 0.5 * (i % 6), 100.0 * (i > 6))
        locs.append([f"{lat:.6f}", f"{lon:.6f}", f"{lat:.6f}", f"{lon:.6f}", "0"])
    (root / "splits").mkdir(parents=True)
    with open(root / "splits" / "val-19zl.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    if locations:
        (root / "split_locations").mkdir()
        with open(root / "split_locations" / "all.csv", "w", newline="") as f:
            csv.writer(f).writerows(locs)


def test_cvusa_layout_end_to_end_gps_and_order_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
    write_cvusa(tmp_path / "cvusa")
    task = cv.CVUSA(id_window=3)
    assert task.data_status() is None
    docs = list(task.docs())
    assert [d.id for d in docs][:3] == ["1", "2", "3"] and len(docs) == 12
    check_negatives(task, docs)
    for d in docs:  # no GPS: neighbours by image number, within id_window ranks
        assert d.fields["distance_unit"] == "ranks"
        assert all(abs(int(x["tile_id"]) - int(d.id)) <= 3 for x in d.fields["candidates"])
    assert run_b(task)["acc,none"] == pytest.approx(answers_b(task))

    write_cvusa(tmp_path / "gps", locations=True)
    task = cv.CVUSA(root=tmp_path / "gps", radius_km=10)
    docs = list(task.docs())
    check_negatives(task, docs)
    for d in docs:  # GPS: the other area (100 km away) never supplies negatives
        assert d.fields["distance_unit"] == "km"
        assert all((int(x["tile_id"]) > 6) == (int(d.id) > 6) for x in d.fields["candidates"])
    assert run_b(task)["acc,none"] == pytest.approx(answers_b(task))


# -------------------------------------------------------------------------------------------------- CVACT


def write_cvact(root: Path) -> list[str]:
    import scipy.io

    ids = [f"pano{i:03d}xyzXYZ_-{i % 10}" for i in range(14)]
    utm = np.array([[700000.0 + 200 * (i % 7) + 30000 * (i >= 7), 6090000.0 + 50 * i] for i in range(14)])
    for i, pid in enumerate(ids):
        if i == 3:
            continue  # missing images: skipped, as the reference loaders do
        png(root / "ANU_data_small" / "streetview" / f"{pid}_grdView.jpg", i)
        png(root / "ANU_data_small" / "satview_polish" / f"{pid}_satView_polish.jpg", i + 30)
    val = np.arange(1, 15).reshape(-1, 1)  # 1-based, (n, 1) as in the .mat
    train = np.array([[1], [2]])
    scipy.io.savemat(str(root / "ACT_data.mat"), {
        "panoIds": np.array(ids), "utm": utm,
        "trainSet": {"trainNum": 2, "trainInd": train}, "valSet": {"valNum": 14, "valInd": val}})
    return ids


def test_cvact_layout_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
    root = tmp_path / "cvact"
    root.mkdir()
    ids = write_cvact(root)
    task = cv.CVACT(radius_km=2.0)
    assert task.data_status() is None
    docs = list(task.docs())
    assert [d.id for d in docs] == [p for i, p in enumerate(ids) if i != 3]
    check_negatives(task, docs)
    for d in docs:  # the two groups are 30 km apart: negatives stay in the query's group
        group = ids.index(d.id) >= 7
        assert all((ids.index(x["tile_id"]) >= 7) == group for x in d.fields["candidates"])
        assert d.fields["beyond_radius"] == 0
    assert run_b(task)["acc,none"] == pytest.approx(answers_b(task))
    (root / "ACT_data.mat").write_bytes(b"not a mat file")
    with pytest.raises(GeobenchError, match="ACT_data.mat"):
        list(cv.CVACT().docs())


# -------------------------------------------------------------------------------------------------- VIGOR


def write_vigor(root: Path) -> None:
    for ci, city in enumerate(cv.VIGOR.CITIES):
        lat0, lon0 = 41.0 + ci, -87.0 - ci
        sats = []
        for i in range(8):  # a 4 x 2 grid of tiles 60 m apart
            lat, lon = offset(lat0, lon0, 0.06 * (i % 4), 0.06 * (i // 4))
            name = f"satellite_{lat:.7f}_{lon:.7f}.png"
            png(root / city / "satellite" / name, i)
            sats.append(name)
        (root / "splits" / city).mkdir(parents=True)
        (root / "splits" / city / "satellite_list.txt").write_text("\n".join(sats) + "\n")
        lines = []
        for j in range(3):
            lat, lon = offset(lat0, lon0, 0.06 * j + 0.01, 0.01)
            pano = f"p{ci}{j}AbC-_x,{lat:.6f},{lon:.6f},.jpg"
            png(root / city / "panorama" / pano, 100 + j)
            pos, semi = sats[j], [sats[j + 1], sats[j + 4], sats[j + 5]]
            lines.append(" ".join([pano, pos, "1", "2"] + [f"{s} 3 4" for s in semi]))
        (root / "splits" / city / "same_area_balanced_test.txt").write_text("\n".join(lines) + "\n")


def test_vigor_layout_end_to_end_excludes_semi_positives(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
    write_vigor(tmp_path / "vigor")
    task = cv.VIGOR(k=3)
    assert task.data_status() is None
    docs = list(task.docs())
    assert len(docs) == 12
    check_negatives(task, docs)
    text = {city: (tmp_path / "vigor" / "splits" / city / "same_area_balanced_test.txt").read_text().split("\n")
            for city in cv.VIGOR.CITIES}
    for d in docs:
        city, pano = d.id.split("/", 1)
        line = next(ln for ln in text[city] if ln.startswith(pano)).split(" ")
        positive, semi = line[1], {line[4], line[7], line[10]}
        truth = next(x for x in d.fields["candidates"] if x["true"])
        assert truth["tile_id"] == f"{city}/{positive}"
        assert not {x["tile_id"].split("/", 1)[1] for x in d.fields["candidates"]} & semi
        assert all(x["tile_id"].startswith(city + "/") for x in d.fields["candidates"])
    assert run_b(task)["acc,none"] == pytest.approx(answers_b(task))


# ---------------------------------------------------------------------------------------- University-1652


def test_university1652_layout_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
    root = tmp_path / "university1652"
    for b in range(6):
        bid = f"{b:04d}"
        png(root / "test" / "gallery_satellite" / bid / f"{bid}.jpg", b)
        if b < 4:  # buildings 4 and 5 are gallery distractors
            for s in range(2):
                png(root / "test" / "query_street" / bid / f"image-{s:02d}.jpeg", 10 * b + s)
    task = cv.University1652()
    assert task.data_status() is None
    docs = list(task.docs())
    assert [d.id for d in docs][:2] == ["0000/image-00.jpeg", "0000/image-01.jpeg"] and len(docs) == 8
    check_negatives(task, docs)
    for d in docs:
        truth = next(x for x in d.fields["candidates"] if x["true"])
        assert truth["tile_id"] == d.id.split("/")[0] and d.fields["distance_unit"] is None
    assert run_b(task)["acc,none"] == pytest.approx(answers_b(task))


# ------------------------------------------------------------------------------------------- scoring, reward


def test_score_never_raises_and_reward_schemes(tmp_path):
    write_cvcities(tmp_path)
    task = cv.CVCities(root=tmp_path)
    doc = next(iter(task.docs()))
    right = doc.fields["answer"]
    wrong = next(x["letter"] for x in doc.fields["candidates"] if not x["true"])
    weird = [None, "", "<answer>", "<answer></answer>", "A B C", "<answer>Z</answer>", "x" * 10000, 42,
             "\x00\ud800", "<think><answer>A</think>", f"<answer>{right}", "<think>" * 500]
    for text in weird:
        m = task.score(doc, text)
        assert set(m) == {"acc", "chance", "parse_rate", "format_rate"} and all(0 <= v <= 1 for v in m.values())
        assert task.reward(doc, text, "shaped") in (0.0, 1.0) or text == f"<answer>{wrong}"
    assert task.score(doc, f"<answer>{right}")["acc"] == 1.0  # an unclosed final answer still counts
    good = f"<think>the road matches</think><answer>{right}</answer>"
    assert task.score(doc, good) == {"acc": 1.0, "chance": 0.25, "parse_rate": 1.0, "format_rate": 1.0}
    assert task.score(doc, f"<answer>{right}</answer>")["format_rate"] == 0.0
    assert task.extract(doc, good) == right and task.extract(doc, "no idea") is None
    bad = f"<answer>{wrong}</answer>"
    assert (task.reward(doc, good), task.reward(doc, bad)) == (1.0, 0.0)
    assert (task.reward(doc, good, "signed"), task.reward(doc, bad, "signed"), task.reward(doc, "", "signed")) \
        == (1.0, -1.0, -1.0)
    assert task.reward(doc, bad, "shaped") == 0.0  # no attributes in real data: no partial credit
    with pytest.raises(GeobenchError, match="unknown reward scheme"):
        task.reward(doc, good, "other")


# ---------------------------------------------------------------------------------------------- the toy


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy") / "crossview"
    return datasets.build("crossview", root, {"test": 16, "train": 8}, seed=0)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_toy_export_is_deterministic_in_cvcities_layout(toy_root, tmp_path):
    again = datasets.build("crossview", tmp_path / "again", {"test": 16, "train": 8}, seed=0)
    assert tree_digest(toy_root) == tree_digest(again)
    other = datasets.build("crossview", tmp_path / "other", {"test": 16, "train": 8}, seed=1)
    assert tree_digest(other) != tree_digest(toy_root)
    rows = list(csv.reader((toy_root / "toyworld_test" / "img_info.csv").read_text().splitlines()))
    assert len(rows) == 16 and all(len(r) == 7 for r in rows)
    name, lon, lat, city, sat, pano, attrs = rows[0]
    assert city == "toyworld_test" and (toy_root / sat).is_file() and (toy_root / pano).is_file()
    assert -180 <= float(lon) <= 180 and -90 <= float(lat) <= 90 and cv.attributes(attrs)
    assert Image.open(toy_root / sat).size == (cv.TOY_IMAGE_PX, cv.TOY_IMAGE_PX)
    train = list(csv.reader((toy_root / "toyworld_train" / "img_info.csv").read_text().splitlines()))
    assert len(train) == 8
    lat = lambda rs: np.array([float(r[2]) for r in rs])  # noqa: E731
    lon = lambda rs: np.array([float(r[1]) for r in rs])  # noqa: E731
    d = geo.haversine_km(lat(rows)[:, None], lon(rows)[:, None], lat(train)[None, :], lon(train)[None, :])
    assert d.min() > cv.TOY_ISOLATION_KM  # no test place next to a training place


def test_toy_negatives_hard_distinguishable_and_uninformative(toy_root):
    task = cv.CrossViewToy(root=toy_root)
    assert task.default_gen.max_new_tokens == 64 and cv.CVCities.default_gen.max_new_tokens == 1024
    docs = list(task.docs())
    check_negatives(task, docs)
    tile_sets = collections.defaultdict(list)
    for d in docs:
        c = d.fields["candidates"]
        truth = next(x for x in c if x["true"])
        assert d.fields["beyond_radius"] == 0 and all(x["distance"] <= cv.TOY_RADIUS_KM for x in c)
        for x in c:
            if not x["true"]:  # looks different in at least one attribute both views show
                assert x["attributes"] != truth["attributes"] and x["similarity"] < 1.0
        tile_sets[frozenset(x["tile_id"] for x in c)].append(truth["tile_id"])
    # each cluster's tile set appears once with every member as the truth: the tiles alone say nothing
    assert all(sorted(t) == sorted(s) for s, t in tile_sets.items())
    counts = collections.Counter(d.fields["answer"] for d in docs)
    assert counts == {"A": 4, "B": 4, "C": 4, "D": 4}
    got = run_b(task)
    assert got["acc,none"] == pytest.approx(0.25)


def test_toy_shaped_reward_and_parameters(toy_root):
    task = cv.CrossViewToy(root=toy_root)
    doc = next(iter(task.docs()))
    for x in doc.fields["candidates"]:
        r = task.reward(doc, f"<answer>{x['letter']}</answer>", "shaped")
        assert r == (1.0 if x["true"] else pytest.approx(cv.SHAPED_PARTIAL * x["similarity"]))
        assert 0 < r <= 1
    small = cv.CrossViewToy(k=2, radius_km=20, seed=1, root=toy_root)
    got = geobench.evaluate("<answer>A</answer>", [small], backend="dummy", output=None, progress=False)
    assert got["results"]["crossview_toy"]["chance,none"] == 0.5
    assert got["configs"]["crossview_toy"]["k"] == 2 and got["configs"]["crossview_toy"]["radius_km"] == 20
    docs = list(small.docs())
    assert all(len(d.images) == 3 for d in docs)
    easy = list(cv.CrossViewToy(root=toy_root, difficulty="easy").docs())
    assert any(x["distance"] > cv.TOY_ISOLATION_KM for d in easy for x in d.fields["candidates"])
    two = list(cv.CrossViewToy(root=toy_root, min_diff=2).docs())
    for d in two:
        truth = next(x for x in d.fields["candidates"] if x["true"])["attributes"]
        for x in d.fields["candidates"]:
            if not x["true"]:
                assert sum(x["attributes"][a] != v for a, v in truth.items()) >= 2
    msgs = task.to_messages(doc)[0]["content"]
    assert [c["type"] for c in msgs] == ["text", "image", "text"] + ["text", "image"] * 4 + ["text"]
    assert [c["text"] for c in msgs if c["type"] == "text"][2:6] == ["A:", "B:", "C:", "D:"]
    assert msgs[-1]["text"].endswith(cv.THINK_ANSWER)


def test_differ_in_gives_one_distinguishing_cue(toy_root):
    task = cv.CrossViewToy(root=toy_root, difficulty="easy", differ_in="climate", k=2)
    docs = list(task.docs())
    for d in docs:
        climates = [x["attributes"]["climate"] for x in d.fields["candidates"]]
        assert len(set(climates)) == 2, climates  # the truth's climate is on no negative
    assert task.config()["differ_in"] == "climate"
    assert "differ_in" not in cv.CrossViewToy(root=toy_root).config()  # default configs (and results) unchanged
    with pytest.raises(GeobenchError, match="differ_in='colour' is not a tile attribute here"):
        list(cv.CrossViewToy(root=toy_root, differ_in="colour").docs())


def test_registered_group_and_lazy_imports():
    from geobench import plugin_manager

    reg = plugin_manager.load()
    names = {"crossview_toy", "cvcities", "cvusa", "cvact", "vigor", "university1652"}
    assert names <= set(reg.tasks)
    assert all(reg.group_of(n, reg.task(n)) == "crossview" for n in names)
    assert reg.task("crossview_toy").data_status() is None  # lazily built: listing builds nothing
    code = ("import sys, geobench.tasks.crossview as c; c.CrossViewToy(); "
            "assert 'torch' not in sys.modules and 'scipy' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
    assert geo.haversine_km(0, 0, 0, 0) == 0  # geo is what the neighbour search uses


# ------------------------------------------------------------------------- the similarity score, by hand


@pytest.mark.parametrize("truth,tile,expected", [
    ({"climate": "dry", "road": "1", "roof": "red"}, {"climate": "dry", "road": "1", "roof": "red"}, 1.0),
    ({"climate": "dry", "road": "1", "roof": "red"}, {"climate": "dry", "road": "0", "roof": "grey"}, 1 / 3),
    ({"climate": "dry", "road": "1", "roof": "red"}, {"climate": "wet", "road": "0", "roof": "grey"}, 0.0),
    ({"climate": "dry", "road": "1"}, {"climate": "dry", "road": "1", "roof": "red"}, 1.0),  # extra tile keys
    ({"climate": "dry", "road": "1", "roof": "red", "river": "yes"}, {"climate": "dry", "river": "yes"}, 0.5),
    ({"climate": "dry"}, None, None), (None, {"climate": "dry"}, None), ({}, {"climate": "dry"}, None),
])
def test_similarity_hand_computed(truth, tile, expected):
    """Share of the truth's attributes the tile has with the same value: 3 of 3, 1 of 3, 0 of 3, 2 of 2 (a tile
    key the truth lacks does not count), 2 of 4 (a key the tile lacks counts as different); None without."""
    got = cv.similarity(truth, tile)
    assert got == (None if expected is None else pytest.approx(expected))


def test_toy_candidates_similarity_matches_a_hand_count(toy_root):
    """Each toy candidate's `similarity`, recounted here from the attributes both tiles carry."""
    task = cv.CrossViewToy(root=toy_root)
    seen = set()
    for doc in task.docs():
        c = doc.fields["candidates"]
        truth = next(x for x in c if x["true"])["attributes"]
        for x in c:
            same = sum(1 for key, value in truth.items() if x["attributes"].get(key) == value)
            assert x["similarity"] == pytest.approx(same / len(truth)), (doc.id, x)
            seen.add(same)
    assert len(seen) >= 3, "the toy pool should have tiles sharing different numbers of attributes"


def test_missing_cvcities_names_every_city_at_once(tmp_path, monkeypatch):
    """Test and training cities are listed in the first message, not one split per run."""
    monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
    reason = cv.CVCities().data_status()
    assert "\n" not in reason and "get it from" in reason
    for city in cv.CVCities.TEST_CITIES + cv.CVCities.TRAIN_CITIES:
        assert f"{city}/img_info.csv" in reason
    write_cvcities(tmp_path / "cvcities")  # the test cities only: evaluation works, training says what it lacks
    task = cv.CVCities()
    assert task.data_status() is None
    with pytest.raises(GeobenchError) as e:
        task.pool("train")
    assert all(f"{c}/img_info.csv" in str(e.value) for c in cv.CVCities.TRAIN_CITIES)
    assert "taipei" not in str(e.value)
