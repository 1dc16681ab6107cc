"""The screens a newcomer meets: task-name suggestions, `geobench tasks`, `geobench results`, `geobench samples`,
prompt overrides and the tiny model's pipeline check."""

from __future__ import annotations

import pytest

from geobench import plugin_manager
from geobench.errors import GeobenchError
from geobench.selection import select_tasks


@pytest.mark.parametrize("name, first", [("geolocaton", "'geolocation' (a group)"), ("geoloc_tyo", "'geoloc_toy'"),
                                         ("scen", "'scene' (a group)")])
def test_unknown_task_suggests_groups_too(name, first):
    with pytest.raises(GeobenchError) as e:
        select_tasks(plugin_manager.registry(), name)
    assert str(e.value).startswith(f"unknown task {name!r} (did you mean {first}")


# ------------------------------------------------------------------------------- the tiny model's pipeline check


def _results(check: bool) -> dict:
    cfg = {"model": "tiny", **({"pipeline_check": True} if check else {})}
    return {"config": cfg, "results": {"geoloc_toy": {"acc,none": 0.0, "truncated,none": 200}},
            "n-samples": {"geoloc_toy": {"effective": 200}}}


def test_the_tiny_model_is_a_pipeline_check_and_real_models_are_not():
    from geobench import modelspec

    reg = plugin_manager.registry()
    assert modelspec.resolve(reg, "tiny", "hf").pipeline_check
    assert modelspec.resolve(reg, "tiny", "hf", preset="miniHui/Geo-R1").pipeline_check  # still random weights
    assert not modelspec.resolve(reg, "miniHui/Geo-R1", "hf").pipeline_check
    assert not modelspec.resolve(reg, "/some/folder", "hf").pipeline_check


def test_a_pipeline_check_says_what_its_numbers_mean_instead_of_cut_off_warnings():
    from geobench.assemble import summary_lines

    quiet = summary_lines(_results(True))
    assert not any(line.startswith("warning:") for line in quiet)
    assert sum("pipeline check" in line for line in quiet) == 1
    loud = summary_lines(_results(False))
    assert any("200 of 200 completions hit max_new_tokens" in line for line in loud)
    assert not any("pipeline check" in line for line in loud)


# ------------------------------------------------------------------------------------------- geobench tasks


def test_plain_tables_wrap_to_the_width_and_keep_every_character():
    from geobench.screen import table_lines

    path = "/root/.cache/geobench/benchmarks/cvcities/" + "x" * 150
    rows = [{"name": "cvcities", "data": f"missing: {path}"}, {"name": "a", "data": "available"}]
    lines = table_lines(rows, ["name", "data"], room=80)
    assert all(len(line) <= 80 for line in lines)
    assert "".join(line[10:] for line in lines[1:-1]).replace(" ", "") == f"missing:{path}"
    assert len(table_lines(rows[1:], ["name", "data"], room=80)[1]) == len("a     available")  # no padding to the longest row elsewhere


def test_tasks_list_is_narrow_and_one_task_says_everything(tmp_path):
    from conftest import run_cli

    r = run_cli("tasks", "--data-dir", str(tmp_path), env={"COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 120
    assert "geobench tasks NAME" in r.stderr
    r = run_cli("tasks", "cvcities", "--data-dir", str(tmp_path), env={"COLUMNS": "100"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"{tmp_path / 'cvcities'}/" in out and "https://huggingface.co/datasets/gaoshuang98/CV-Cities" in out
    assert "missing 6 of 6" in out and "missing 10 of 10" in out and "tokyo/img_info.csv" in out
    assert "acc" in out and "higher is better" in out and "k, radius_km" in out
    r = run_cli("tasks", "geolocaton")
    assert r.returncode == 2 and "did you mean 'geolocation' (a group)" in r.stderr
    r = run_cli("tasks", "scene")
    assert r.returncode == 0 and "scene_toy" in r.stdout and "geoloc_toy" not in r.stdout
