"""Scene reasoning: GeoChain's verifiable questions about a street view, one (image, question) pair per doc.

The entry point of the `scene` plugin, light on purpose: it registers `scene_toy` and `geochain` and the toy
dataset by "module:attr" reference. `task` holds the questions, prompt, parsing, metrics and scaffolding;
`loaders` read GeoChain's layout and JSONL files (`SceneJSONL(path)`); `toy` is the offline toy-world version.
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl
from geobench.lazy import reexport

TOY_EXPORT_VERSION = "1"  # bump when toy.export writes anything different (the cached folder is keyed by it)

# The registered tasks, in registration order: "module:attr" -> task name.
TASKS = {"toy:SceneToy": "scene_toy", "loaders:GeoChain": "geochain"}

# Public names, imported from their module on first use (`from geobench.tasks.scene import GeoChain`).
_PUBLIC = {
    "task": ("SceneTask", "GEOCHAIN_QUESTIONS", "GEOCHAIN_SOURCE", "RANK", "QUESTION_KEYS", "BINARY_KEYS", "MC_KEYS",
             "NOT_VERIFIABLE", "ALIASES", "REAL_CONTINENTS", "LETTERS", "THINK_ANSWER", "options_of",
             "parse_choice", "parse_answer", "prompt_text", "answer_facts"),
    "loaders": ("GeoChain", "SceneJSONL"),
    "toy": ("SceneToy", "export", "toy_places", "toy_answers", "split_seed", "SAMPLE_COLUMNS", "TOY_WORLD_SEED"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}


@hookimpl
def geobench_register_tasks(register):
    for ref, name in TASKS.items():
        register(f"{__name__}.{ref}", name=name, group="scene")


@hookimpl
def geobench_register_toy_datasets(register):
    register("scene", f"{__name__}.toy:export", version=TOY_EXPORT_VERSION)


__getattr__, __dir__ = reexport(__name__, _WHERE)

