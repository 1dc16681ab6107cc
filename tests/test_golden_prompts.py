"""Golden prompts: the exact chat each task sends for its first docs, kept in tests/golden/<task>.json.

The toy tasks use their generated data; every real benchmark loader reads its own layout, built small in a
temporary data folder by the same builders its loader tests use (tests/test_geolocation.py, test_crossview.py,
test_scene.py), so its prompt text is pinned too.

A prompt change must be visible in review and come with a new task version (scores of different prompts are
not comparable). After a deliberate change: bump the task's `version`, then rerun with
GEOBENCH_UPDATE_GOLDEN=1 and commit the updated files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from geobench.api import ImageRef
from geobench.plugin_manager import load

GOLDEN = Path(__file__).parent / "golden"
TOY_TASKS = ["geoloc_toy", "crossview_toy", "scene_toy"]


def _university1652(root: Path) -> None:
    from test_crossview import png

    for b in range(6):
        bid = f"{b:04d}"
        png(root / "test" / "gallery_satellite" / bid / f"{bid}.jpg", b)
        if b < 4:
            for s in range(2):
                png(root / "test" / "query_street" / bid / f"image-{s:02d}.jpeg", 10 * b + s)


def _layouts() -> dict:
    """Real benchmark name -> a function building its layout in the folder it is given."""
    import test_crossview as c
    import test_geolocation as g
    import test_scene as sc

    return {
        "im2gps3k": g.make_im2gps3k,
        "yfcc4k": lambda r: g.make_im2gps3k(r, image_dir="yfcc4k", csv_name="yfcc4k_places365.csv"),
        "mp16_reason": g.make_mp16_reason, "imageo_gss": g.make_imageo, "osv5m": g.make_osv5m,
        "cvcities": lambda r: c.write_cvcities(r, header=True), "cvusa": c.write_cvusa,
        "cvact": lambda r: (r.mkdir(parents=True), c.write_cvact(r)), "vigor": c.write_vigor,
        "university1652": _university1652, "geochain": lambda r: sc.write_geochain(r, sc.fixture_rows()),
    }


REAL_TASKS = ["im2gps3k", "yfcc4k", "mp16_reason", "imageo_gss", "osv5m", "cvcities", "cvusa", "cvact", "vigor",
              "university1652", "geochain"]


def test_every_real_benchmark_has_a_golden_prompt():
    from geobench.api import BenchmarkTask

    reg = load()
    real = {name for name in reg.tasks if isinstance(reg.task(name), BenchmarkTask) and not name.endswith("_toy")}
    assert real == set(REAL_TASKS) == set(_layouts()), "a real loader without a golden prompt (or a stale name)"


def snapshot(task_name: str) -> dict:
    task = load().task(task_name)
    docs = list(task.docs(None, 3))

    def plain(o):
        if isinstance(o, ImageRef):
            return {"image": "/".join(Path(o.path).parts[-2:]) if o.path else f"<{len(o.data)} bytes>"}
        if isinstance(o, dict):
            return {k: plain(v) for k, v in o.items()}
        if isinstance(o, list):
            return [plain(v) for v in o]
        return o

    return {"task": task.name, "version": task.version,
            "docs": [{"id": d.id, "messages": plain(task.to_messages(d))} for d in docs]}


@pytest.mark.parametrize("task_name", TOY_TASKS + REAL_TASKS)
def test_prompt_matches_golden(task_name, tmp_path, monkeypatch):
    if task_name in REAL_TASKS:
        monkeypatch.setenv("GEOBENCH_DATA", str(tmp_path))
        _layouts()[task_name](tmp_path / task_name)
    path = GOLDEN / f"{task_name}.json"
    now = snapshot(task_name)
    if os.environ.get("GEOBENCH_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden file {path}: run with GEOBENCH_UPDATE_GOLDEN=1 and commit it"
    golden = json.loads(path.read_text())
    if golden["docs"] != now["docs"]:
        assert golden["version"] != now["version"], (
            f"{task_name}: the prompt changed but the version did not; bump {task_name}.version")
        pytest.fail(f"{task_name}: prompt changed with the new version {now['version']}; "
                    "update tests/golden with GEOBENCH_UPDATE_GOLDEN=1 and commit it")
    assert golden["version"] == now["version"], f"{task_name}: version changed; update the golden file"
