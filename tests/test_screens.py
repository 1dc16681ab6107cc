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
