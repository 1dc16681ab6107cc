"""The documents of a task ready for scaffolding: each with the ground-truth facts the templates state and the
fact-check compares against. The task provides them (`Task.scaffold_items`), so a third-party task is
scaffolded exactly like a built-in one; here only the fact-check tolerance is set.
"""

from __future__ import annotations

from geobench.api import ScaffoldItem, Task
from geobench.errors import GeobenchError
from geobench.trainers.scaffold.settings import DEFAULT_TOLERANCE_KM


def prepare(task: Task, split: str = "train", limit: int | None = None, *, need_template: bool = True,
            tolerance_km: float = DEFAULT_TOLERANCE_KM) -> list[ScaffoldItem]:
    """Items (doc, facts, truth, hint) of a task's split; a task without the metadata a source needs is a
    one-line error (raised by the task)."""
    items = list(task.scaffold_items(split, limit, need_template=need_template))
    for it in items:
        it.truth.tolerance_km = tolerance_km
    if not items:
        raise GeobenchError(f"task {task.name!r}: split {split!r} has no documents")
    return items
