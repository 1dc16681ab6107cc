"""Answer extraction from what models really write. Never raises: unparseable answers return None.

Geo-R1's format is `<think>...</think><answer>...</answer>`; models also drop the tags, write several
answers, or add prose. The rule here: the last `<answer>` block wins; without tags the whole text is used
(and `has_answer_tags` lets a task count that as a format failure).
"""

from __future__ import annotations

import json
import math
import re

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_OPEN_ANSWER = re.compile(r"<answer>(.*)$", re.S | re.I)
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.S)
_NUM = r"[-+\u2212]?\d+(?:\.\d+)?"
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})


def has_answer_tags(text: str) -> bool:
    return bool(_ANSWER.search(text or ""))


def is_think_answer(text: str) -> bool:
    """Geo-R1's format reward condition: the whole completion is <think>..</think> <answer>..</answer>."""
    return bool(_FORMAT.fullmatch((text or "").strip()))


def answer(text: str) -> str:
    """The content of the last <answer> block (an unclosed final one counts), else the stripped text."""
    text = text or ""
    found = _ANSWER.findall(text)
    if found:
        return found[-1].strip()
    m = _OPEN_ANSWER.search(text)
    if m:
        return m.group(1).strip()
    return re.sub(r"<think>.*?</think>", "", text, flags=re.S).strip()


def _valid(lat: float, lon: float) -> tuple[float, float] | None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if -90 <= lat <= 90 and -180 <= lon <= 180:
        return (lat, lon)
    return None


def _dms(deg: str, minutes: str | None, seconds: str | None, hemi: str | None) -> float:
    v = abs(float(deg)) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    negative = deg.strip().startswith("-") or (hemi or "").upper() in ("S", "W")
    return -v if negative else v


_HEMI = re.compile(
    rf"({_NUM})\s*°?\s*(?:(\d+(?:\.\d+)?)\s*['′]\s*)?(?:(\d+(?:\.\d+)?)\s*(?:\"|″|'')\s*)?([NS])\b[\s,;/]*"
    rf"({_NUM})\s*°?\s*(?:(\d+(?:\.\d+)?)\s*['′]\s*)?(?:(\d+(?:\.\d+)?)\s*(?:\"|″|'')\s*)?([EW])\b",
    re.I,
)
_LABELLED = re.compile(rf"lat(?:itude)?\s*[:=]?\s*({_NUM}).*?lon(?:g|gitude)?\s*[:=]?\s*({_NUM})", re.I | re.S)
_PAIR = re.compile(rf"({_NUM})\s*°?\s*[,;/ ]\s*({_NUM})")


def coordinates(text: str) -> tuple[float, float] | None:
    """(lat, lon) in degrees from an answer, or None. Out-of-range or non-finite values are rejected."""
    try:
        return _coordinates(answer(text).translate(_MINUS))
    except (ValueError, OverflowError):
        return None


def _coordinates(s: str) -> tuple[float, float] | None:
    for m in re.finditer(r"\{[^{}]*\}", s):  # JSON {"lat": .., "lon": ..}
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict):
            lat = next((obj[k] for k in ("lat", "latitude") if k in obj), None)
            lon = next((obj[k] for k in ("lon", "lng", "long", "longitude") if k in obj), None)
            if isinstance(lat, int | float) and isinstance(lon, int | float):
                return _valid(float(lat), float(lon))
    m = _HEMI.search(s)
    if m:
        return _valid(_dms(*m.group(1, 2, 3, 4)), _dms(*m.group(5, 6, 7, 8)))
    m = _LABELLED.search(s)
    if m:
        return _valid(float(m.group(1)), float(m.group(2)))
    m = _PAIR.search(s)
    if m:
        return _valid(float(m.group(1)), float(m.group(2)))
    return None


def choice(text: str, n_options: int) -> str | None:
    """A choice letter among the first n_options (A, B, ...) from an answer, or None.

    Accepts "B", "(B)", "B.", "Option B", "the answer is B"; a bare answer with two different letters is
    ambiguous and returns None.
    """
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n_options]
    s = answer(text).strip()
    if not s:
        return None
    m = re.fullmatch(rf"[\(\[]?\s*([{letters}])\s*[\)\].:]?", s, re.I)
    if m:
        return m.group(1).upper()
    m = re.search(rf"(?:answer|option|candidate|choice|tile|image)\s*(?:is|:)?\s*[\(\[]?([{letters}])\b", s, re.I)
    if m:
        return m.group(1).upper()
    found = {x.upper() for x in re.findall(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", s)}
    return found.pop() if len(found) == 1 else None


def yes_no(text: str) -> str | None:
    """"yes" / "no" from an answer, or None when absent or both."""
    s = answer(text).lower()
    yes = bool(re.search(r"\byes\b|\btrue\b", s))
    no = bool(re.search(r"\bno\b|\bfalse\b", s))
    return "yes" if yes and not no else "no" if no and not yes else None
