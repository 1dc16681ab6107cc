"""`geobench data`: pulling, verifying and laying out published benchmarks, against a loopback stand-in for the
Hub (tests/hubstub.py) holding a tiny OSV-5M-shaped repo (its real test.csv columns, two zip shards of JPEGs)
and the tiny model under a Hub id. No network: HF_ENDPOINT points at 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hubstub import Hub
from PIL import Image

from conftest import run_cli
from geobench import datasources, layout
from geobench.api import BenchmarkTask, UrlFile, UrlSource
from geobench.errors import GeobenchError

OSV_COLUMNS = ("id,latitude,longitude,thumb_original_url,country,sequence,captured_at,lon_bin,lat_bin,cell,region,"
               "sub-region,city,land_cover,road_index,drive_side,climate,soil,dist_sea,quadtree_10_5000,"
               "quadtree_10_25000,quadtree_10_1000,quadtree_10_50000,quadtree_10_12500,quadtree_10_500,"
               "quadtree_10_2500,unique_region,unique_sub-region,unique_city,unique_country,creator_username,"
               "creator_id").split(",")
POINTS = [(48.85, 2.35, "FR"), (40.71, -74.0, "US"), (35.68, 139.69, "JP"), (-33.87, 151.21, "AU"),
          (51.51, -0.13, "GB"), (-23.55, -46.63, "BR")]


def jpeg(seed: int, size: int = 256) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def make_osv5m(root: Path, hostile: bool = False) -> Path:
    repo = root / "datasets" / "osv5m" / "osv5m"
    (repo / "images" / "test").mkdir(parents=True)
    rows = []
    for i, (lat, lon, cc) in enumerate(POINTS):
        row = dict.fromkeys(OSV_COLUMNS, "")
        row.update(id=str(3859149887465501 + i), latitude=lat, longitude=lon, country=cc, city=f"city{i}")
        rows.append(row)
    with open(repo / "test.csv", "w", newline="") as f:
        w = csv.DictWriter(f, OSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    for shard in (0, 1):
        with zipfile.ZipFile(repo / "images" / "test" / f"{shard:02d}.zip", "w") as zf:
            for i in range(3 * shard, 3 * shard + 3):
                zf.writestr(f"{shard:02d}/{rows[i]['id']}.jpg", jpeg(i))
            if hostile and shard == 1:
                zf.writestr("../../evil.txt", "pwned")
    (repo / "README.md").write_text("OSV-5M stand-in\n")
    return repo


@pytest.fixture
def hub(tmp_path):
    make_osv5m(tmp_path / "hub")
    with Hub(tmp_path / "hub") as h:
        yield h


def env_for(hub: Hub, tmp_path: Path) -> dict:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
            "GEOBENCH_DATA": str(tmp_path / "bench"), "GEOBENCH_HOME": str(tmp_path / "home"),
            "HF_HUB_DISABLE_TELEMETRY": "1"}


def one_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def osv5m(tmp_path: Path):
    from geobench.tasks.geolocation import Osv5m

    return Osv5m(tmp_path / "bench" / "osv5m")


# ------------------------------------------------------------------------------------------------ pulls


def test_pull_lays_out_what_the_loader_reads_and_a_second_pull_downloads_nothing(hub, tmp_path):
    env = env_for(hub, tmp_path)
    r = run_cli("data", "pull", "osv5m", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "7 files laid out" in r.stdout and "verified" in r.stdout
    docs = osv5m(tmp_path).docs()
    assert len(docs) == 6 and {d.fields["lat"] for d in docs} == {p[0] for p in POINTS}
    assert all(Path(d.images[0].path).is_file() for d in docs)
    rec = json.loads((tmp_path / "bench" / "osv5m" / datasources.RECORD).read_text())
    assert rec["commit"] and len(rec["commit"]) == 40 and rec["shards"] == [2, 2] and rec["verified"]
    n = len(hub.requests)
    r = run_cli("data", "pull", "osv5m", env=env, timeout=120)
    assert r.returncode == 0 and "nothing downloaded" in r.stdout
    assert len(hub.requests) == n  # not even a repo-info call
    listed = run_cli("data", "list", env=env)
    assert any(line.startswith("osv5m") and "verified" in line for line in listed.stdout.splitlines())
    assert run_cli("data", "verify", "osv5m", env=env).returncode == 0
    img = next((tmp_path / "bench" / "osv5m" / "images" / "test").rglob("*.jpg"))
    img.write_bytes(img.read_bytes()[:-10])
    r = run_cli("data", "verify", "osv5m", env=env)
    assert r.returncode == 2 and "differ from the pull" in one_line(r.stderr)


def test_first_shards_then_the_rest_without_downloading_a_shard_twice(hub, tmp_path):
    env = env_for(hub, tmp_path)
    r = run_cli("data", "pull", "osv5m", "--shards", "1", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1/2 shards" in r.stdout
    assert len(osv5m(tmp_path).docs()) == 3  # test.csv keeps the rows whose image is there
    assert (tmp_path / "bench" / "osv5m" / "test.full.csv").is_file()
    assert "partial (1/2 shards)" in run_cli("data", "list", env=env).stdout
    r = run_cli("data", "pull", "osv5m", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(osv5m(tmp_path).docs()) == 6
    gets = [p for _, p in hub.data_requests()]
    assert sum(p.endswith("00.zip") for p in gets) == 1 and sum(p.endswith("01.zip") for p in gets) == 1


def test_a_killed_pull_resumes_without_fetching_complete_files_again(hub, tmp_path):
    env = env_for(hub, tmp_path)
    hub.delay = 0.25  # each 64 KiB takes a quarter second: the second shard is still coming when killed
    proc = subprocess.Popen([sys.executable, "-m", "geobench", "data", "pull", "osv5m"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not any(p.endswith("01.zip") for _, p in hub.data_requests()) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not (tmp_path / "bench" / "osv5m").exists()  # never a half-laid-out folder
    hub.delay = 0
    r = run_cli("data", "pull", "osv5m", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    gets = [p for _, p in hub.data_requests()]
    assert sum(p.endswith("00.zip") for p in gets) == 1  # the complete shard came from the cache
    assert len(osv5m(tmp_path).docs()) == 6


def test_a_corrupt_shard_is_deleted_and_named_in_one_line(hub, tmp_path):
    env = env_for(hub, tmp_path)
    hub.corrupt.add("datasets/osv5m/osv5m/images/test/01.zip")
    r = run_cli("data", "pull", "osv5m", env=env, timeout=120)
    err = [x for x in r.stderr.splitlines() if x.startswith("geobench: error")]
    assert r.returncode == 2 and len(err) == 1 and "Traceback" not in r.stderr
    assert "checksum mismatch for images/test/01.zip" in err[0] and "deleted" in err[0]
    assert not (tmp_path / "bench" / "osv5m").exists()
    tasks = run_cli("tasks", env=env)
    assert any(row.startswith("osv5m") and "missing" in row for row in tasks.stdout.splitlines())
    hub.corrupt.clear()
    assert run_cli("data", "pull", "osv5m", env=env, timeout=120).returncode == 0


def test_a_hostile_zip_is_refused_and_nothing_leaves_the_folder(tmp_path):
    make_osv5m(tmp_path / "hub", hostile=True)
    with Hub(tmp_path / "hub") as hub:
        r = run_cli("data", "pull", "osv5m", env=env_for(hub, tmp_path), timeout=120)
    err = [x for x in r.stderr.splitlines() if x.startswith("geobench: error")]
    assert r.returncode == 2 and len(err) == 1 and "refused" in err[0] and "evil.txt" in err[0]
    assert not list(tmp_path.rglob("evil.txt")) and not (tmp_path / "bench" / "osv5m").exists()


@pytest.mark.parametrize("member,link", [("/etc/passwd", None), ("a/../../x", None), ("C:\\x", None),
                                         ("link", "../../outside"), ("link", "/etc")])
def test_archive_members_leaving_the_folder_are_refused(tmp_path, member, link):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        if link is None:
            zf.writestr(member, "x")
        else:
            info = zipfile.ZipInfo(member)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, link)
    with pytest.raises(GeobenchError, match="refused"):
        layout.lay_out({"a.zip": archive}, tmp_path / "out", unpack="zip")
    assert not (tmp_path / "out" / "ok.txt").exists()  # names are checked before anything is written


def test_full_disk_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch):
    import errno
    import shutil

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", full)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.jpg", b"123")
    with pytest.raises(GeobenchError, match="disk full while writing"):
        layout.lay_out({"a.zip": archive}, tmp_path / "out", unpack="zip")


# ------------------------------------------------------------------------------------------ URL sources


class UrlBench(BenchmarkTask):
    """A third-party task declaring a URL source the way the built-in ones do."""

    name = "urlbench"

    def expected(self, split):
        return ["meta.csv"]

    def load(self, split):
        return []


def test_url_source_checksum_mismatch_and_refused_connection(tmp_path, monkeypatch):
    import hashlib

    (tmp_path / "hub" / "files").mkdir(parents=True)
    body = b"id,lat,lon\n1,0,0\n"
    (tmp_path / "hub" / "files" / "meta.csv").write_bytes(body)
    monkeypatch.setenv("GEOBENCH_HOME", str(tmp_path / "home"))
    with Hub(tmp_path / "hub") as hub:
        bad = type("Bad", (UrlBench,), {"source": UrlSource(files=(UrlFile(f"{hub.url}/files/meta.csv", sha256="0" * 64),))})
        with pytest.raises(GeobenchError, match="checksum mismatch") as e:
            datasources.pull(bad(tmp_path / "bench" / "bad"))
        assert "\n" not in str(e.value) and not list((tmp_path / "home").rglob("meta.csv"))
        assert not (tmp_path / "bench" / "bad").exists()
        good = type("Good", (UrlBench,), {"source": UrlSource(files=(UrlFile(
            f"{hub.url}/files/meta.csv", sha256=hashlib.sha256(body).hexdigest()),))})
        task = good(tmp_path / "bench" / "good")
        assert "laid out" in datasources.pull(task) and task.data_status() is None
        assert datasources.status(task) == "verified"
        port = hub.server.server_address[1]
    refused = type("Refused", (UrlBench,), {"source": UrlSource(files=(UrlFile(f"http://127.0.0.1:{port}/files/x.csv"),))})
    with pytest.raises(GeobenchError, match="cannot reach") as e:
        datasources.pull(refused(tmp_path / "bench" / "refused"))
    assert "x.csv" in str(e.value)


def test_missing_data_message_names_the_pull_command(tmp_path):
    from geobench.tasks.crossview import CVUSA
    from geobench.tasks.geolocation import Osv5m

    status = Osv5m(tmp_path / "none").data_status()
    assert "\n" not in status and "get it from" in status and "`geobench data pull osv5m`" in status
    assert "data pull" not in CVUSA(root=tmp_path / "none").data_status()  # on request: nothing to pull
    r = run_cli("data", "pull", "cvusa", env={"GEOBENCH_DATA": str(tmp_path / "bench")})
    assert r.returncode == 1 and "ask at: https://mvrl.cse.wustl.edu" in r.stderr
    assert str(tmp_path / "bench" / "cvusa") in r.stderr and "Traceback" not in r.stderr


# -------------------------------------------------------------------------------------------- with eval


def test_eval_download_pulls_missing_hub_data_first(hub, tmp_path):
    env = env_for(hub, tmp_path)
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--tasks", "osv5m", "--download", "--limit", "3",
                "--output", str(tmp_path / "out"), "--no-cache", env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    res = json.loads(next((tmp_path / "out").rglob("results.json")).read_text())
    assert res["n-samples"]["osv5m"]["effective"] == 3


@pytest.mark.slow
def test_headline_hub_model_on_all_tasks_beside_the_pulled_one(hub, tmp_path):
    """The tiny model served under Geo-R1's Hub id: transformers downloads it, its preset applies, and
    `--tasks all` runs the pulled osv5m beside the toy tasks; results.json records the model's commit."""
    from geobench.tinymodel import build_tiny_model

    build_tiny_model(str(tmp_path / "hub" / "models" / "miniHui" / "Geo-R1"))
    env = {**env_for(hub, tmp_path), "GEOBENCH_HOME": os.environ.get("GEOBENCH_HOME", str(tmp_path / "home"))}
    assert run_cli("data", "pull", "osv5m", env=env, timeout=120).returncode == 0
    r = run_cli("eval", "--model", "miniHui/Geo-R1", "--tasks", "all", "--limit", "3", "--gen-kwargs",
                "max_new_tokens=8", "--no-cache", "--output", str(tmp_path / "out"), "--quiet", env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next((tmp_path / "out").rglob("results.json")).read_text())
    assert {"osv5m", "geoloc_toy", "crossview_toy", "scene_toy"} <= set(res["results"])
    assert res["config"]["preset"] == "miniHui/Geo-R1"
    commit = res["config"]["model_commit"]
    assert commit and commit == Hub.commit(tmp_path / "hub" / "models" / "miniHui" / "Geo-R1")
