"""Results files: lm-eval's schema, tables rebuilt from run folders, atomic writes."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources

import jsonschema
import pandas as pd
import pytest

import geobench
from geobench.atomic import atomic_write
from geobench.results import load_table, rebuild_tables


@pytest.fixture
def two_runs(tmp_path):
    out = tmp_path / "res"
    for model, name in [("random", "run_a"), ("<answer>(0, 0)</answer>", "run_b")]:
        geobench.evaluate(model, "geoloc_toy", backend="dummy", limit=10, output=out, run_name=name,
                          progress=False)
    return out


def test_results_json_validates_against_the_schema(two_runs):
    schema = json.loads(resources.files("geobench").joinpath("results_schema.json").read_text())
    for path in two_runs.glob("*/results.json"):
        doc = json.loads(path.read_text())
        jsonschema.validate(doc, schema)
        res = doc["results"]["geoloc_toy"]
        assert {"acc@25km,none", "geoscore,none", "median_km,none", "acc@25km_stderr,none"} <= set(res)
        assert doc["config"]["backend"] == "dummy" and doc["versions"]["geoloc_toy"].startswith("2.0")
        assert doc["n-samples"]["geoloc_toy"] == {"original": 10, "effective": 10}
        samples = (path.parent / "samples_geoloc_toy.jsonl").read_text().splitlines()
        assert len(samples) == 10
        assert set(json.loads(samples[0])) >= {"doc_id", "prompt_hash", "completion", "parsed", "metrics"}


def test_schema_rejects_a_broken_results_file(two_runs):
    schema = json.loads(resources.files("geobench").joinpath("results_schema.json").read_text())
    doc = json.loads(next(two_runs.glob("*/results.json")).read_text())
    doc["results"]["geoloc_toy"]["acc"] = 1.0  # a metric key without ",filter"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_table_is_rebuilt_from_run_folders(two_runs):
    table = pd.read_csv(two_runs / "table.csv")
    assert set(table["run"]) == {"run_a", "run_b"}
    task_rows = table[table["task"] == "geoloc_toy"]
    assert len(task_rows) == 2 * task_rows["metric"].nunique()
    group_rows = table[table["task"] == "geolocation"]  # the group's pooled row, per run
    assert set(group_rows["run"]) == {"run_a", "run_b"} and "geoscore" in set(group_rows["metric"])
    shutil.rmtree(two_runs / "run_a")
    rows = rebuild_tables(two_runs)
    assert {r["run"] for r in rows} == {"run_b"}
    assert set(pd.read_csv(two_runs / "table.csv")["run"]) == {"run_b"}
    assert "| run_b |" in (two_runs / "table.md").read_text()
    assert not (two_runs / "table.parquet").exists()  # parquet on request: geobench results --save F.parquet
    # run_b answered (0, 0) for every doc: its acc@2500km is the share of docs within 2500 km of (0, 0)
    assert load_table(two_runs).query("metric == 'parse_rate'")["value"].tolist() == [1.0, 1.0]  # task + group


def test_results_cli_filters(two_runs):
    from conftest import run_cli

    r = run_cli("results", "--output", str(two_runs), "--metric", "geoscore")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 5 and all("geoscore" in line for line in lines[1:])  # 2 runs x (task + group)
    r = run_cli("results", "--output", str(two_runs / "nope"))
    assert r.returncode == 2 and "no results folder" in r.stderr


WRITER = """
import sys
from geobench.atomic import atomic_write
big = ("x" * 1_000_000 + "\\n") * 40
i = 0
while True:
    atomic_write(sys.argv[1], f"{i}\\n" + big)
    i += 1
"""


def test_kill_during_atomic_write_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "results.json"
    for delay in (0.05, 0.2, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        time.sleep(0.5 + delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            assert target.stat().st_size == len(f"{target.read_text().splitlines()[0]}\n") + 40 * 1_000_001
    atomic_write(target, "ok")
    assert target.read_text() == "ok"


def test_two_concurrent_runs_both_land_in_the_table(tmp_path):
    out = tmp_path / "res"
    procs = [subprocess.Popen([sys.executable, "-m", "geobench", "eval", "--model", model, "--backend", "dummy",
                               "--tasks", "geoloc_toy", "--limit", "20", "--output", str(out), "-q",
                               "--model-args", "delay=0.01"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for model in ("random", "<answer>(1, 1)</answer>")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    table = pd.read_csv(out / "table.csv")
    assert table["model"].nunique() == 2
    per_model = table.groupby("model").size()
    assert per_model.iloc[0] == per_model.iloc[1] > 10


class FakePairing(geobench.Task):
    """Named like the paper's cross-view benchmark so the reference numbers match it."""

    name, version, group = "cvcities", "test", "crossview"
    higher_is_better = {"acc": True}

    def docs(self, split=None, limit=None):
        return [geobench.Doc(id=str(i), fields={"answer": "AB"[i % 2]}) for i in range(4)]

    def to_messages(self, doc):
        return geobench.user("Which tile? <answer>letter</answer>")

    def score(self, doc, completion):
        return {"acc": float(geobench.parse.choice(completion, 4) == doc.fields["answer"])}


def test_compare_reference_puts_a_run_beside_the_paper(tmp_path):
    from conftest import run_cli
    from geobench.results import reference_table

    out = tmp_path / "res"
    geobench.evaluate("<answer>A</answer>", [FakePairing()], backend="dummy", output=out, progress=False)
    ref = reference_table()
    assert {"model", "task", "metric", "value", "source"} <= set(ref.columns) and ref["source"].notna().all()
    r = run_cli("results", "--output", str(out), "--compare-reference")
    assert r.returncode == 0, r.stderr
    assert "miniHui/Geo-R1" in r.stdout and "0.8240" in r.stdout and "this run:" in r.stdout
    assert "0.5000" in r.stdout  # our fake model: right on every other doc
