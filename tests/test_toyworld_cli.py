"""`geobench toyworld build` writes each toy dataset in its real benchmark's layout, read by the real loaders."""

from __future__ import annotations

from conftest import run_cli
from geobench.tasks.crossview import CVCities
from geobench.tasks.geolocation import Im2gps3k
from geobench.tasks.scene import GeoChain


def test_toyworld_build_writes_datasets_the_real_loaders_read(tmp_path):
    out = tmp_path / "toy"
    r = run_cli("toyworld", "build", str(out), "--n", "8", "--n-train", "0", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"geolocation", "crossview", "scene"}

    geo_docs = list(Im2gps3k(out / "geolocation").docs(limit=None))
    assert len(geo_docs) == 8 and all(-90 <= d.fields["lat"] <= 90 for d in geo_docs)
    cv = CVCities(root=out / "crossview", cities={"test": ["toyworld_test"]})
    cv_docs = list(cv.docs(limit=None))
    assert len(cv_docs) == 8 and all(len(d.images) == 5 for d in cv_docs)
    scene_docs = list(GeoChain(out / "scene").docs(limit=None))
    assert scene_docs and all(d.images[0].path.endswith(".png") for d in scene_docs)

    again = run_cli("toyworld", "build", str(out), "--n", "8")
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
