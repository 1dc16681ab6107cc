"""Small argument parsers shared by the CLI, the evaluator and every plugin.

`k=v,...` strings (`--model-args`, `--gen-kwargs`, `--task-args`), yes/no flags, positive integers and batch
sizes: one spelling of each check, one wording of each error.
"""

from __future__ import annotations

import os
from typing import Any

from geobench.errors import GeobenchError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def parse_kv(text: str | dict | None, what: str) -> dict[str, Any]:
    """'a=1,b=x' -> {'a': 1, 'b': 'x'} with int/float/bool/None literals; bad syntax is a one-line error."""
    if text is None:
        return {}
    if isinstance(text, dict):
        return dict(text)
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise GeobenchError(f"bad {what} {part!r}: expected key=value[,key=value...]")
        k, v = (x.strip() for x in part.split("=", 1))
        if not k:
            raise GeobenchError(f"bad {what} {part!r}: empty key")
        out[k] = literal(v)
    return out


def literal(v: str):
    """'true'/'false' -> bool, 'none'/'null' -> None, numbers -> int/float, anything else stays a string."""
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def flag(name: str, value: Any) -> bool:
    """A strict yes/no: a bool, or one of 1/true/yes/on and 0/false/no/off; anything else is a one-line error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise GeobenchError(f"{name} must be true or false, got {value!r}")


def truthy(value: Any) -> bool:
    """A lenient yes: 1/true/yes/on (any case) or a true non-string; used for environment variables."""
    return value.strip().lower() in TRUE if isinstance(value, str) else bool(value)


def env_flag(name: str) -> bool:
    """An environment variable set to 1/true/yes/on."""
    return truthy(os.environ.get(name, ""))


def number(name: str, value: Any, cast: type = int, minimum: float | None = 1, optional: bool = False):
    """`value` as `cast` (int or float), at least `minimum`; None passes when `optional`. 2.7 is not an int."""
    if value is None and optional:
        return None
    try:
        if cast is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if isinstance(value, bool):
            raise TypeError(value)
        n = cast(value)
    except (TypeError, ValueError):
        kind = "an integer" if cast is int else "a number"
        raise GeobenchError(f"{name} must be {kind}, got {value!r}") from None
    if minimum is not None and n < minimum:
        raise GeobenchError(f"{name} must be >= {minimum}, got {value!r}")
    return n


def positive_int(name: str, value: Any, optional: bool = False) -> int | None:
    """An integer >= 1 (None passes when `optional`)."""
    return number(name, value, int, 1, optional)


def batch_size(value: Any, name: str = "batch size") -> int | str:
    """A positive integer or 'auto'; None or '' means 1 (the reference mode)."""
    if value in (None, ""):
        return 1
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(name, value)
    except GeobenchError:
        raise GeobenchError(f"bad {name} {value!r}: expected a positive integer or 'auto'") from None
