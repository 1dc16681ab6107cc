"""`geobench results`: filters (model, task, metric, checkpoint) and exports (CSV, Markdown, LaTeX, wide)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import geobench
from conftest import run_cli
from geobench.errors import GeobenchError
from geobench.tables import export_table, filter_table, load_table, wide_table


@pytest.fixture(scope="module")
def results(tmp_path_factory, session_home):
    """A base model and two checkpoints (steps 10, 20) of another, on crossview_toy: real run folders."""
    out = tmp_path_factory.mktemp("export") / "results"
    geobench.evaluate("random", "crossview_toy", backend="dummy", limit=8, output=out, run_name="base",
                      progress=False)
    for step in (10, 20):
        geobench.evaluate("<answer>A</answer>", "crossview_toy", backend="dummy", limit=8, output=out,
                          checkpoint_step=step, model_name="my_model%v1", run_name=f"ckpt-{step}", progress=False)
    return out


def test_filters(results):
    df = load_table(results)
    acc = filter_table(df, tasks=["crossview_toy"], metrics=["acc"])
    assert sorted(acc["run"]) == ["base", "ckpt-10", "ckpt-20"]
    assert list(filter_table(acc, checkpoints=["last"])["run"]) == ["ckpt-20"]
    assert list(filter_table(acc, checkpoints=["none"])["run"]) == ["base"]
    assert sorted(filter_table(acc, checkpoints=["10", "none"])["run"]) == ["base", "ckpt-10"]
    assert list(filter_table(acc, models=["random"])["run"]) == ["base"]
    assert filter_table(acc, models=["nobody"]).empty
    with pytest.raises(GeobenchError, match="bad checkpoint 'best'"):
        filter_table(acc, checkpoints=["best"])


def test_exports(results):
    acc = filter_table(load_table(results), tasks=["crossview_toy"], metrics=["acc", "chance"])
    back = pd.read_csv(io.StringIO(export_table(acc, "csv")))
    assert len(back) == 6 and set(back["checkpoint_step"].dropna()) == {10, 20}
    md = export_table(acc, "md").splitlines()
    assert md[0] == "| model | checkpoint_step | task | metric | value | stderr | n_samples | run |" and len(md) == 8
    tex = export_table(acc, "latex")
    assert tex.startswith("\\begin{tabular}") and tex.rstrip().endswith("\\end{tabular}")
    assert "my\\_model\\%v1 & 20 & crossview\\_toy & acc & 0.2500" in tex  # escaped; ints stay ints
    wide = wide_table(acc)
    assert list(wide.columns) == ["model", "checkpoint_step", "crossview_toy acc", "crossview_toy chance"]
    assert list(wide["checkpoint_step"]) == [10, 20, None] and wide.iloc[0]["crossview_toy chance"].startswith("0.2500 ± ")
    assert "$\\pm$" in export_table(acc, "latex", wide=True)
    with pytest.raises(GeobenchError, match="unknown format"):
        export_table(acc, "xlsx")


def test_cli_export_and_filters(results, tmp_path):
    r = run_cli("results", "-o", str(results), "--metric", "acc", "--task", "crossview_toy", "--checkpoint", "last",
                "--format", "md")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2].startswith("| my_model%v1 | 20 | crossview_toy | acc | 0.2500 |")
    save = tmp_path / "table.tex"
    r = run_cli("results", "-o", str(results), "--task", "crossview_toy", "--metric", "acc", "--metric", "chance",
                "--wide", "--save", str(save))
    assert r.returncode == 0, r.stderr
    assert "crossview\\_toy acc & crossview\\_toy chance" in save.read_text()
    r = run_cli("results", "-o", str(results), "--wide", "--metric", "acc", "--task", "crossview_toy")
    assert r.returncode == 0 and "crossview_toy acc" in r.stdout.splitlines()[0]
    r = run_cli("results", "-o", str(results), "--save", str(tmp_path / "table.parquet"))
    assert r.returncode == 0, r.stderr
    parquet = pd.read_parquet(tmp_path / "table.parquet")
    assert len(parquet) == len(load_table(results)) and str(parquet["n_samples"].dtype) == "Int64"
    r = run_cli("results", "-o", str(results), "--format", "parquet")
    assert r.returncode == 2 and "--save FILE.parquet" in r.stderr
    r = run_cli("results", "-o", str(results), "--save", str(tmp_path / "table.xlsx"))
    assert r.returncode == 2 and r.stderr.startswith("geobench: error: cannot tell the format")
    r = run_cli("results", "-o", str(results), "--checkpoint", "best")
    assert r.returncode == 2 and "bad checkpoint 'best'" in r.stderr and "Traceback" not in r.stderr
