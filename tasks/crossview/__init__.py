"""Cross-view pairing, Geo-R1's RL proxy: one ground image, k satellite tiles A, B, C..., name the true tile.

The entry point of the `crossview` plugin, light on purpose: it registers the tasks and the toy dataset by
"module:attr" reference. `pool` is the data model (queries, tiles), `task` makes documents (hard negatives,
balanced letters), scores, rewards and scaffolds them, `loaders` read the five published datasets and `toy`
the offline toy-world version (in the CV-Cities layout).
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl
from geobench.lazy import reexport

TOY_EXPORT_VERSION = "1"  # bump when toy.export_toy writes anything different (the cached folder is keyed by it)

# The registered tasks, in registration order: "module:attr" -> task name.
TASKS = {"toy:CrossViewToy": "crossview_toy", "loaders:CVCities": "cvcities", "loaders:CVUSA": "cvusa",
         "loaders:CVACT": "cvact", "loaders:VIGOR": "vigor", "loaders:University1652": "university1652"}

# Public names, imported from their module on first use (`from geobench.tasks.crossview import CVCities`).
_PUBLIC = {
    "pool": ("Pool", "Query", "Tile", "read_rows"),
    "task": ("CrossViewTask", "QUESTION", "LETTERS", "THINK_ANSWER", "REWARD_SCHEMES", "SHAPED_PARTIAL",
             "attributes", "similarity"),
    "loaders": ("CVCities", "CVUSA", "CVACT", "VIGOR", "University1652"),
    "toy": ("CrossViewToy", "export_toy", "TOY_CLUSTER", "TOY_SPREAD_KM", "TOY_RADIUS_KM", "TOY_ISOLATION_KM",
            "TOY_IMAGE_PX", "TOY_WORLD_SEED", "VISUAL_ATTRS"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}


@hookimpl
def geobench_register_tasks(register):
    for ref, name in TASKS.items():
        register(f"{__name__}.{ref}", name=name, group="crossview")


@hookimpl
def geobench_register_toy_datasets(register):
    register("crossview", f"{__name__}.toy:export_toy", version=TOY_EXPORT_VERSION)


__getattr__, __dir__ = reexport(__name__, _WHERE)

