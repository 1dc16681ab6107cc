"""The built-in task families keep the declared contracts of geobench.api: every dataset-reading task is a
`BenchmarkTask` (root, splits, expected, load, data_status, source), `scaffold_items` gives exactly what
the scaffolding stage's old per-family code built (golden digests computed with that code), and the plugins' entry-point
modules stay light (importing them loads neither numpy nor PIL)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from geobench import plugin_manager, toydata
from geobench.api import BenchmarkTask, DataSource, HubSource, OnRequestSource, ScaffoldItem
from geobench.errors import GeobenchError
from geobench.trainers import scaffold as sc

FAMILIES = ("geolocation", "crossview", "scene")
TOYS = ("geoloc_toy", "crossview_toy", "scene_toy")


def builtin_task_names() -> list[str]:
    reg = plugin_manager.load()
    return sorted(n for n in reg.tasks if reg.owner[("task", n)] in FAMILIES)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contracts_toy")
    for name in ("crossview", "geolocation", "scene"):
        toydata.build(name, root / name, splits={"train": 12, "test": 4}, seed=0)
    return root


def toy_tasks(toy: Path) -> dict:
    from geobench.tasks.crossview import CrossViewToy
    from geobench.tasks.geolocation import GeolocToy
    from geobench.tasks.scene import SceneToy

    return {"crossview_toy": CrossViewToy(root=toy / "crossview"), "geoloc_toy": GeolocToy(toy / "geolocation"),
            "scene_toy": SceneToy(toy / "scene", split="train")}


# ------------------------------------------------------------------------------------------ contracts


def test_every_builtin_task_is_registered_with_its_family():
    names = builtin_task_names()
    assert set(TOYS) <= set(names) and len(names) == 14


@pytest.mark.parametrize("name", builtin_task_names())
def test_benchmark_task_contract(name, tmp_path):
    reg = plugin_manager.load()
    cls = reg.task_factory(name)
    assert isinstance(cls, type) and issubclass(cls, BenchmarkTask)
    if name in TOYS:
        assert cls.source is None  # built in: rendered from the toy world
        task = cls(root=tmp_path / "nowhere")  # not the default folder: that would build the dataset
    else:
        assert isinstance(cls.source, DataSource) and (cls.source.describe() or cls.source.homepage)
        task = cls()
    assert task.name == name and reg.group_of(name, task) in FAMILIES
    assert isinstance(task.root(), Path)
    assert isinstance(task.splits, tuple) and task.split in task.splits
    expected = task.expected(task.split)
    assert isinstance(expected, list) and expected and all(isinstance(e, str) for e in expected)
    status = task.data_status()  # nothing is there: a one-line reason naming the folder and the source
    assert isinstance(status, str) and "\n" not in status and "get it from" in status
    assert str(task.root()) in status
    assert type(task).load is not BenchmarkTask.load  # each family reads its data
    assert type(task).scaffold_items is not BenchmarkTask.scaffold_items


def test_declared_sources():
    from geobench.tasks import crossview, geolocation, scene

    src = geolocation.Osv5m.source
    assert isinstance(src, HubSource) and (src.repo_id, src.patterns, src.shards, src.unpack) == (
        "osv5m/osv5m", ("test.csv", "images/test/*.zip"), "images/test/*.zip", "zip")
    assert scene.GeoChain.source.repo_id == "sahitiy51/geochain"
    assert geolocation.ImageoGss.source.homepage == "https://zenodo.org/records/16670471"
    for cls in (crossview.CVCities, crossview.CVUSA, crossview.CVACT, crossview.VIGOR, crossview.University1652):
        assert isinstance(cls.source, OnRequestSource) and cls.source.where and cls.source.instructions


def test_old_constructor_keywords_still_work(tmp_path):
    from geobench.tasks import geolocation, scene

    assert geolocation.Im2gps3k(folder=tmp_path).root() == tmp_path
    assert geolocation.Im2gps3k(tmp_path).folder == tmp_path
    assert scene.GeoChain(folder=tmp_path).root() == scene.GeoChain(root=tmp_path).folder == tmp_path
    with pytest.raises(GeobenchError, match="not both"):
        geolocation.Im2gps3k(tmp_path, folder=tmp_path)


def test_crossview_reward_metric_and_schemes(toy):
    task = toy_tasks(toy)["crossview_toy"]
    assert task.reward_metric == "acc"
    doc = next(iter(task.docs("test")))
    right, wrong = f"<answer>{doc.fields['answer']}</answer>", "<answer>nothing</answer>"
    assert task.reward(doc, right) == 1.0 and task.reward(doc, wrong) == 0.0
    assert task.reward(doc, wrong, "signed") == -1.0
    with pytest.raises(GeobenchError, match="unknown reward scheme"):
        task.reward(doc, right, "nope")


# ----------------------------------------------------------------------------------------- scaffolding


GOLDEN = Path(__file__).parent / "golden" / "scaffold_items.json"


def digest(items: list[ScaffoldItem], root: Path) -> list:
    """[count, sha256] of the items' docs, facts, hints and truths (paths relative to the data root). The golden
    values were computed from the scaffolding stage's old per-family code (commit 7c341be) on the same data."""
    def enc(o):
        if isinstance(o, frozenset | set):
            return sorted(o)
        if hasattr(o, "path"):
            return str(Path(o.path).relative_to(root)) if o.path else "<bytes>"
        return str(o)

    assert items and all(isinstance(it, ScaffoldItem) for it in items)
    rows = [{"doc": d.doc.id, "fields": d.doc.fields, "images": d.doc.images, "facts": d.facts, "hint": d.hint,
             "truth": dataclasses.asdict(d.truth)} for d in items]
    return [len(rows), hashlib.sha256(json.dumps(rows, sort_keys=True, default=enc).encode()).hexdigest()]


@pytest.mark.parametrize("name", TOYS)
@pytest.mark.parametrize("need_template", [True, False])
def test_scaffold_items_equal_what_the_old_dispatch_built(toy, name, need_template):
    task = toy_tasks(toy)[name]
    golden = json.loads(GOLDEN.read_text())
    assert digest(task.scaffold_items("train", None, need_template=need_template), toy) == golden[f"{name}:{need_template}"]
    assert digest(sc.prepare(task, "train", None, need_template=need_template), toy) == golden[f"{name}:{need_template}"]


def test_scaffold_items_on_real_layouts_equal_what_the_old_dispatch_built(toy, tmp_path):
    """Real-data paths: CV-Cities without attributes (teacher only), IM2GPS3K and GeoChain layouts."""
    from geobench.tasks.crossview import CVCities
    from geobench.tasks.geolocation import Im2gps3k
    from geobench.tasks.scene import GeoChain, SceneJSONL

    golden = json.loads(GOLDEN.read_text())
    task = CVCities(root=toy / "crossview", cities={"train": ("toyworld_train",)})  # the toy's CV-Cities layout
    assert digest(task.scaffold_items("train", None), toy) == golden["cvcities"]
    plain_root = tmp_path / "plain"
    shutil.copytree(toy / "crossview", plain_root)
    info = plain_root / "toyworld_train" / "img_info.csv"  # without geobench's attribute column
    info.write_text("".join(",".join(ln.split(",")[:6]) + "\n" for ln in info.read_text().splitlines()))
    plain = CVCities(root=plain_root, cities={"train": ("toyworld_train",)})
    for fn in (lambda: plain.scaffold_items("train"), lambda: sc.prepare(plain, "train")):
        with pytest.raises(GeobenchError, match="no per-candidate visual attributes") as e:
            fn()
        assert "--teacher-model M --teacher-backend B" in e.value.hint
    assert len(plain.scaffold_items("train", need_template=False)) == 12

    geo = Im2gps3k(toy / "geolocation")  # the toy's IM2GPS3K layout, read by the real loader
    assert digest(geo.scaffold_items("test", 3), toy) == golden["im2gps3k"]

    chain = GeoChain(toy / "scene", split="train", per_question=2)
    assert digest(chain.scaffold_items("train"), toy) == golden["geochain"]

    (tmp_path / "q.jsonl").write_text('{"id": "1", "image": "x.png", "question": "Q?", "options": null, '
                                      '"answer": "yes"}\n')
    jsonl = SceneJSONL(tmp_path / "q.jsonl")
    for fn in (lambda: jsonl.scaffold_items("test"), lambda: sc.prepare(jsonl, "test")):
        with pytest.raises(GeobenchError, match="holds only the answer of each question"):
            fn()
    (item,) = jsonl.scaffold_items("test", need_template=False)
    assert item.doc.id == "1" and item.truth.kind == "scene" and item.truth.answer == "yes" and item.hint == "yes"


# ---------------------------------------------------------------------------------------- light imports


@pytest.mark.parametrize("family", [*FAMILIES, "toyworld.plugin"])
def test_entry_point_modules_do_not_import_numpy_or_pil(family):
    code = (f"import sys, geobench.tasks.{family}; "
            "heavy = [m for m in ('numpy', 'PIL', 'torch') if m in sys.modules]; "
            "assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_registering_imports_no_task_module():
    """Registration names the task classes by reference: none of their modules is imported."""
    code = ("import sys; from geobench import plugin_manager; reg = plugin_manager.load(); "
            "assert 'geoloc_toy' in reg.tasks and 'scene' in reg.toy_datasets; "
            "heavy = [m for m in sys.modules if m.startswith('geobench.tasks.') and m.count('.') > 2 "
            "and m != 'geobench.tasks.toyworld.plugin']; assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_public_names_load_lazily_from_the_package():
    from geobench.tasks import crossview, geolocation, scene, toyworld

    assert geolocation.Im2gps3k.__module__ == "geobench.tasks.geolocation.loaders"
    assert crossview.attributes("climate=dry;road=1") == {"climate": "dry", "road": "1"}
    assert scene.parse_answer("<answer>yes</answer>", None) == "yes"
    assert toyworld.World(0).seed == 0
    with pytest.raises(AttributeError):
        geolocation.NoSuchName  # noqa: B018
