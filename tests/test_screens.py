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
