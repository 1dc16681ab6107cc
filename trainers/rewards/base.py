"""What every GRPO reward here shares: the TRL calling convention and a never-raise guard.

A reward is a TRL-compatible callable `fn(completions, **columns) -> list[float | None]`, one value per
completion. TRL 1.x's `GRPOTrainer` calls `fn(prompts=..., completions=..., completion_ids=..., **columns)` with
every dataset column as a keyword (plus `trainer_state`, `log_extra`, `log_metric`, ignored here); completions are
strings for standard prompts and message lists `[{"role": "assistant", "content": ...}]` for conversational ones:
both give the same rewards. None means "does not apply to this sample" (TRL turns it into NaN and sums the others
with `nansum`). No reward raises on what a model wrote; a misconfigured reward (unknown metric) does.
"""

from __future__ import annotations

import warnings
from typing import Any

from geobench import messages as chat
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
