"""Geolocation tasks: where was this photo taken? Free-form reasoning, then coordinates.

The entry point of the `geolocation` plugin, light on purpose: it registers the tasks and the toy dataset by
"module:attr" reference, so nothing heavy loads until a task is looked up. `task` holds the prompt, parsing,
metrics and scaffolding; `tables` + `loaders` read the benchmarks; `toy` is the offline toy-world version.
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl
from geobench.lazy import reexport

TOY_EXPORT_VERSION = "2"  # bump when toy.export writes anything different (the cached folder is keyed by it)

# The registered tasks, in registration order: "module:attr" -> task name.
TASKS = {"toy:GeolocToy": "geoloc_toy", "loaders:Im2gps3k": "im2gps3k", "loaders:Yfcc4k": "yfcc4k",
         "loaders:Mp16Reason": "mp16_reason", "loaders:ImageoGss": "imageo_gss", "loaders:Osv5m": "osv5m"}

# Public names, imported from their module on first use (`from geobench.tasks.geolocation import Im2gps3k`).
_PUBLIC = {
    "task": ("GeolocationTask", "PROMPT", "PROMPT_NAMES", "BASE_METRICS", "NAME_METRICS", "THINK_ANSWER",
             "scaffold_item"),
    "tables": ("CsvBenchmark", "CsvLayout", "IMAGE_EXTENSIONS", "rows_to_docs"),
    "loaders": ("Im2gps3k", "Yfcc4k", "Mp16Reason", "ImageoGss", "Osv5m", "GeolocationFolder", "GeolocationHF"),
    "toy": ("GeolocToy", "export", "TOY_CSV", "TOY_META", "TOY_SPLIT_SEED", "TOY_WORLD_SEED"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}


@hookimpl
def geobench_register_tasks(register):
    for ref, name in TASKS.items():
        register(f"{__name__}.{ref}", name=name, group="geolocation")


@hookimpl
def geobench_register_toy_datasets(register):
    register("geolocation", f"{__name__}.toy:export", version=TOY_EXPORT_VERSION)


__getattr__, __dir__ = reexport(__name__, _WHERE)

