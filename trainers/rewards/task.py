"""Any geobench task as a GRPO reward ("every task is an RL environment"): the task's own `reward(doc, text)`,
or one metric of its `score`, the doc looked up by the `doc_id` column."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geobench.api import Task, default_reward_metric
from geobench.errors import GeobenchError
from geobench.trainers.rewards.base import RewardFunction, column

default_metric = default_reward_metric  # the old name, kept for callers


class TaskReward(RewardFunction):
    """`task.reward(doc, text) * scale` (the task's declared RL reward: its `reward_metric`, negated when lower
    is better); with an explicit `metric`, `task.score(doc, text)[metric] * scale`, negated for a lower-is-better
    metric. The doc is found by the `doc_id` column; None for an id the task does not have. The id index is
    built once, on first use."""

    def __init__(self, task: Task, metric: str | None = None, split: str | None = None,
                 docs: Iterable | None = None, scale: float = 1.0, name: str | None = None):
        self.task = task
        self.by_score = metric is not None
        self.metric = metric or default_reward_metric(task)
        super().__init__(name or f"{task.name}_{self.metric}".replace("@", "_"))
        self.sign = -1.0 if dict(task.higher_is_better or {}).get(self.metric) is False else 1.0
        self.split, self.scale = split, float(scale)
        self._docs = list(docs) if docs is not None else None
        self._index: dict[str, Any] | None = None
        self._checked = False

    def index(self) -> dict[str, Any]:
        if self._index is None:
            docs = self._docs if self._docs is not None else self.task.docs(self.split)
            self._index = {str(d.id): d for d in docs}
        return self._index

    def __call__(self, completions: Any = None, doc_id: Any = None, **columns: Any) -> list[float | None]:
        return super().__call__(completions, doc_id=doc_id, **columns)

    def one(self, text, i, columns):
        key = column(columns, "doc_id", i)
        doc = self.index().get(str(key)) if key is not None else None
        if doc is None:
            return None
        if not self.by_score:
            return self.scale * float(self.task.reward(doc, text))
        scores = self.task.score(doc, text)
        if self.metric not in scores:
            if not self._checked:
                raise GeobenchError(f"task {self.task.name!r} has no metric {self.metric!r}",
                                    hint=f"its score gives: {', '.join(scores)}")
            return None
        self._checked = True
        return self.sign * self.scale * float(scores[self.metric])


def task_reward(task: Task, metric: str | None = None, split: str | None = None, docs: Iterable | None = None,
                scale: float = 1.0, name: str | None = None) -> TaskReward:
    """Any geobench Task as a TRL reward `fn(completions, doc_id, **columns)`: the training dataset needs a
    `doc_id` column of the task's doc ids (from `split`, default the task's; or pass the `docs` used).

    metric: default the task's own `reward` (its `reward_metric`, see `geobench.api.default_reward_metric`).
    Note geolocation's default is the sparse `acc@1km`; its `geoscore` metric is 0..5000 (use scale=1/5000, or
    the registered `geoscore` reward).
    """
    return TaskReward(task, metric, split, docs, scale, name)
