"""GRPO rewards, the shared part: the TRL calling convention, a never-raise guard, and any task as a reward.

A reward is a TRL-compatible callable `fn(completions, **columns) -> list[float | None]`, one value per
completion. TRL 1.x's `GRPOTrainer` calls `fn(prompts=..., completions=..., completion_ids=..., **columns)` with
every dataset column as a keyword (plus `trainer_state`, `log_extra`, `log_metric`, ignored here); completions are
strings for standard prompts and message lists `[{"role": "assistant", "content": ...}]` for conversational ones:
both give the same rewards. None means "does not apply to this sample" (TRL turns it into NaN and sums the others
with `nansum`). No reward raises on what a model wrote; a misconfigured reward (unknown metric) does.

`task_reward` turns any geobench Task into a reward through its own `reward`/`score` ("every task is an RL
environment"); the reward plugins build on `RewardFunction`, the trainers on both.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from geobench import messages as chat
from geobench.api import Task, default_reward_metric
from geobench.errors import GeobenchError
from geobench.parse import LETTERS

DEFAULT_K = 4


def completion_text(completion: Any) -> str:
    """The text of one completion: a string as is; a message list -> its assistant messages' text joined by
    newlines (one message, TRL's usual case, is just its content); a single message dict -> its content.
    Content may be a string or a list of parts (`{"type": "text", "text": ...}`). Anything else -> ""."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return chat.content_text(completion.get("content"))
    if isinstance(completion, list | tuple):
        texts = [chat.content_text(m.get("content")) for m in completion
                 if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "\n".join(t for t in texts if t)
    return ""


def column(columns: dict, name: str, i: int) -> Any:
    """Row i of a dataset column passed by TRL; a plain string is broadcast to every row; None if absent."""
    col = columns.get(name)
    if col is None or isinstance(col, str | bytes | int | float):
        return col
    try:
        return col[i]
    except (IndexError, KeyError, TypeError):
        return None



def column_k(value: Any) -> int:
    """The `k` column (number of options) of one row; DEFAULT_K when absent or out of range."""
    try:
        k = int(value)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_K
    return k if 1 <= k <= len(LETTERS) else DEFAULT_K


class RewardFunction:
    """Base of the rewards here: a picklable callable with a `__name__` (TRL names its logs after it).

    Subclasses implement `one(text, i, columns)`; an unexpected exception on one sample gives None for that
    sample (NaN in TRL's logs) and a warning, never a crashed training step.
    """

    def __init__(self, name: str):
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<reward {self.__name__}>"

    def __call__(self, completions: Any = None, **columns: Any) -> list[float | None]:
        if completions is None:
            return []
        items = [completions] if isinstance(completions, str | dict) else list(completions)
        out: list[float | None] = []
        for i, c in enumerate(items):
            try:
                value = self.one(completion_text(c), i, columns)
            except GeobenchError:
                raise
            except Exception as e:  # noqa: BLE001 - a reward must never stop training on what a model wrote
                warnings.warn(f"reward {self.__name__}: {type(e).__name__}: {e}; sample {i} gets None", stacklevel=2)
                value = None
            out.append(None if value is None else float(value))
        return out

    def one(self, text: str, i: int, columns: dict) -> float | None:
        raise NotImplementedError


# ------------------------------------------------------------------------------------- a task as a reward

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
