"""`geobench scaffold`: fact-checked chain-of-thought SFT data, Geo-R1's "geospatial thinking scaffolding".

Geo-R1 (arXiv 2510.00072) starts with a narrow SFT stage: synthetic reasoning traces that follow one
"geospatial thinking paradigm" (visual cues -> cross-view evidence -> geographic knowledge -> answer), kept only
if a fact-check finds their key entities agree with the image metadata. The parts, one job per module:
`items` (a task's documents with their facts), `templates` and `teacher` (the two sources of reasoning),
`factcheck`, `writer` (`scaffold()`, the output folder), `commands`; `load(folder)` reads a scaffold folder (`geobench.sftdata.load`).

This module is the plugin's entry point: it only adds the command; the public names below are imported from
their modules on first use (PEP 562), so `geobench --help` imports none of them.
"""

from __future__ import annotations

from typing import Any

from geobench.hookspecs import hookimpl
from geobench.lazy import reexport

_PUBLIC = {  # name -> the module (under geobench.trainers.scaffold) that defines it
    "scaffold": "writer", "report_rows": "writer", "to_record": "writer", "check_out_dir": "writer",
    "load": "geobench.sftdata",
    "fact_check": "factcheck", "REASONS": "factcheck",
    "template": "templates", "attr_words": "templates", "CLIMATE_KNOWLEDGE": "templates",
    "prepare": "items",
    "resolve_teacher": "teacher", "teacher_messages": "teacher", "teacher_texts": "teacher",
    "TEACHER_HINT": "teacher", "TEACHER_GEN": "teacher",
    "STYLES": "settings", "SOURCES": "settings", "DEFAULT_TOLERANCE_KM": "settings", "REPORT_FILE": "settings",
}
_API = {"Truth": "Truth", "Item": "ScaffoldItem"}  # moved to geobench.api (`Item` is the old name)

__all__ = sorted([*_PUBLIC, *_API])


_getattr, __dir__ = reexport(__name__, {**_PUBLIC, **{name: "geobench.api" for name in _API.values()}})


def __getattr__(name: str) -> Any:
    return _getattr(_API.get(name, name))


@hookimpl
def geobench_register_commands(cli):
    from geobench.trainers.scaffold.commands import add_command

    add_command(cli)
