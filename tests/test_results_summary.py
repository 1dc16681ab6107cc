"""The short view of `geobench results` (and of `geobench eval`): one readable row per task."""

from __future__ import annotations

import pandas as pd

import geobench
from conftest import run_cli
from geobench.tables import TABLE_COLUMNS, headline, load_table, summary_columns, summary_table


def test_a_three_task_run_is_three_rows_without_rates_counts_or_lone_groups(tmp_path):
    out = tmp_path / "res"
    geobench.evaluate("random", "all", backend="dummy", limit=4, output=out, progress=False)
    df = load_table(out)
    assert len(df) > 40  # the long form, as results/table.csv keeps it
    short = summary_table(df)
    assert list(short["task"]) == ["crossview_toy", "geoloc_toy", "scene_toy"]  # no group repeating its one task
    geo = short.set_index("task").loc["geoloc_toy", "metrics"]
    assert geo.startswith("acc@1km=") and "median_km=" in geo
    assert not any(m in geo for m in ("truncated", "parse_rate", "distance_km"))
    assert "acc_boats" not in short.set_index("task").loc["scene_toy", "metrics"]
    assert summary_columns(short) == ["model", "task", "n_samples", "parsed", "metrics"]  # no steps, nothing cut
    r = run_cli("results", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) < 10 and "geobench results --long" in r.stderr
    r = run_cli("results", "-o", str(out), "--long")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == len(df) + 1


def _rows(run: str, task: str, group: str, metrics: dict) -> list[dict]:
    return [dict(run=run, model="m", backend="dummy", checkpoint_step=None, task=task, group=group, metric=k,
                 value=v, stderr=None, n_samples=10, date=1.0) for k, v in metrics.items()]


def test_a_group_row_only_where_it_pools_two_tasks_and_only_shared_metrics():
    rows = (_rows("r", "a", "g", {"acc": 0.5, "f1": 0.4, "truncated": 3}) + _rows("r", "b", "g", {"acc": 0.7})
            + _rows("r", "g", "g", {"acc": 0.6, "f1": 0.4, "truncated": 3}))
    short = summary_table(pd.DataFrame(rows, columns=TABLE_COLUMNS))
    assert list(short["task"]) == ["a", "b", "g"]
    assert list(short["metrics"]) == ["acc=0.5000  f1=0.4000", "acc=0.7000", "acc=0.6000"]
    assert list(short["truncated"]) == [3, None, 3] and summary_columns(short)[-1] == "truncated"


def test_headline_metrics_keep_a_plugins_own_and_drop_breakdowns():
    assert headline(["parse_rate", "acc", "acc_boats", "acc_macro", "chance"]) == ["acc", "acc_macro", "chance"]
    assert headline(["bleu", "f1", "truncated"]) == ["bleu", "f1"]
    assert headline(["median_km", "acc@25km", "acc@1km"]) == ["acc@1km", "acc@25km", "median_km"]


def test_a_table_filtered_to_a_group_still_shows_its_row():
    rows = _rows("r", "a", "g", {"acc": 0.5}) + _rows("r", "g", "g", {"acc": 0.5, "distance_km": 3.0})
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    assert list(summary_table(df)["task"]) == ["a"]  # the lone group row would repeat its task
    only = summary_table(df[df["task"] == "g"])
    assert list(only["task"]) == ["g"] and list(only["metrics"]) == ["acc=0.5000"]
