"""Answer extraction from what models really write. Never raises: unparseable answers return None.

Geo-R1's format is `<think>...</think><answer>...</answer>`; models also drop the tags, write several
answers, or add prose. The rules here:

- The last `<answer>` block wins (an unclosed final one counts). Without tags the whole text minus any
  `<think>` block is used, and `has_answer_tags` / `is_think_answer` let a task count that as a format failure.
- Coordinates are read in every form seen in practice: `(48.85, 2.35)`, `[48.85, 2.35]`, `48.85, 2.35`,
  `lat: 48.85, lon: 2.35` (either order, any of lat/latitude, lon/lng/long/longitude), `48.85°N 2.35°E`,
  `N 48.85 E 2.35`, degrees-minutes-seconds `48°51'24"N 2°21'08"E`, JSON `{"lat": .., "lon": ..}` (nested,
  numeric strings, a combined "lat/lng" value, GeoJSON points), with unicode minus signs and primes.
- Inside an answer block every coordinate mentioned must be valid and agree (within 1 km): an answer that
  hedges between two places, or mixes a valid point with an impossible one, is unparseable. Without answer
  tags the last valid mention wins (the conclusion of free text).
- Latitude must lie in [-90, 90] and longitude in [-180, 180]; NaN, infinities and huge numbers are refused.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import unicodedata

THINK_ANSWER = ("First output the thinking process in <think> </think> tags and then output the final answer in "
                "<answer> </answer> tags.")  # Geo-R1's prompt suffix; `is_think_answer` checks that format
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # option letters, read back by `choice`

_THINK_TO_ANSWER = re.compile(r"</think>\s*<answer>")

# Unicode look-alikes models and tokenizers produce, mapped to ASCII after NFKC normalisation.
_ASCII = str.maketrans({
    "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\ufe63": "-",
    "\u2032": "'", "\u2035": "'", "\u00b4": "'", "\u2019": "'", "\u02b9": "'", "\u02bc": "'",
    "\u2033": '"', "\u201d": '"', "\u201c": '"', "\u02ba": '"', "\u00ba": "\u00b0", "\u02da": "\u00b0",
})
AGREE_KM = 1.0  # mentions closer than this are the same answer written twice
MAX_CHARS = 20_000  # the tail of a runaway completion is what matters; bounds the regex work

# A number not glued to letters, dots or other digits ("v2.0", "10-20" are not numbers here); exponents are
# read ("1e-05" is how Python prints small floats) and then range-checked like everything else.
_SIGNED = r"(?<![\w.+\-])[-+]?\d{1,400}(?:\.\d{1,60})?(?:[eE][-+]?\d{1,4})?(?!\d|\.\d)"
_NUM = _SIGNED + r"(?![A-Za-z_])"
_DEG = r"\s*(?:°|deg(?:rees?|s)?\b)?"
# degrees [minutes '] [seconds "] as groups (deg, min, sec); the degree sign is optional before minutes.
_MS = (r"\s*(?:(\d{1,2}(?:\.\d+)?)\s*(?:'|min\w*)\s*)?"
       r"(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|''|sec\w*)\s*)?")
_DMS = rf"({_SIGNED}){_DEG}" + _MS
_HEMI_SUFFIX = re.compile(_DMS + r"\s*(north|south|east|west|[NSEW])\b", re.I)
_HEMI_PREFIX = re.compile(r"(?<![A-Za-z])([NSEW])\s*:?\s*(\d{1,3}(?:\.\d{1,60})?(?:[eE][-+]?\d{1,4})?)(?!\d|\.\d)"
                          + _DEG + _MS)
_LAT_LABEL = re.compile(r"\blat(?:itude)?\b[\"']?\s*(?:[:=]|is|of|\u2248|~)?\s*(?:about|approx\w*|around)?\s*"
                        + _DMS + r"(?:\s*([NS])\b)?", re.I)
_LON_LABEL = re.compile(r"\b(?:lon(?:g(?:itude)?)?|lng)\b[\"']?\s*(?:[:=]|is|of|\u2248|~)?\s*"
                        r"(?:about|approx\w*|around)?\s*" + _DMS + r"(?:\s*([EW])\b)?", re.I)
_BRACKETED = re.compile(rf"[(\[]\s*({_NUM}){_DEG}\s*[,;/]?\s*({_NUM}){_DEG}\s*[)\]]")
_BARE = re.compile(rf"({_NUM}){_DEG}\s*[,;/]\s*({_NUM}){_DEG}")
_JUST_TWO = re.compile(rf"\s*({_NUM}){_DEG}\s*[,;/ ]?\s*({_NUM}){_DEG}\s*\.?\s*")


# The tag helpers below use str.find instead of non-greedy regexes: on adversarial completions (thousands of
# unclosed "<answer>" tags) the regexes backtrack quadratically and one 100 KB completion took ~10 s.


def _answer_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the last closed <answer>...</answer> content, case-insensitive, else None."""
    low = text.lower()
    end = low.rfind("</answer>")
    while end >= 0:
        start = low.rfind("<answer>", 0, end)
        if start >= 0:
            return start + len("<answer>"), end
        end = -1  # a closing tag with no opening before it: no closed block at all
    return None


def has_answer_tags(text: str) -> bool:
    return _answer_span(text or "") is not None


def is_think_answer(text: str) -> bool:
    """Geo-R1's format reward condition: the whole completion is <think>..</think> <answer>..</answer>
    (the same strings as fullmatching `<think>.*?</think>\\s*<answer>.*?</answer>`, in linear time)."""
    t = (text or "").strip()
    if not (t.startswith("<think>") and t.endswith("</answer>")):
        return False
    return _THINK_TO_ANSWER.search(t, len("<think>"), len(t) - len("</answer>")) is not None


def answer(text: str) -> str:
    """The content of the last <answer> block (an unclosed final one counts), else the text without its
    <think> blocks, stripped."""
    text = text or ""
    span = _answer_span(text)
    if span:
        return text[span[0]:span[1]].strip()
    opened = text.lower().rfind("<answer>")
    if opened >= 0:
        return text[opened + len("<answer>"):].strip()
    return _strip_think(text).strip()


def _strip_think(text: str) -> str:
    out, pos = [], 0
    while True:
        start = text.find("<think>", pos)
        end = text.find("</think>", start + len("<think>")) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:start])
        pos = end + len("</think>")


def _tagged(text: str) -> bool:
    return "<answer>" in text.lower()


def _normalise(s: str) -> str:
    return unicodedata.normalize("NFKC", s).translate(_ASCII)


def _valid(lat: float, lon: float) -> tuple[float, float] | None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if -90 <= lat <= 90 and -180 <= lon <= 180:
        return (lat + 0.0, lon + 0.0)  # + 0.0 turns -0.0 into 0.0
    return None


def _dms(deg: str, minutes: str | None, seconds: str | None, hemi: str | None = None) -> float:
    m, s = float(minutes or 0), float(seconds or 0)
    if m >= 60 or s >= 60:
        return math.nan
    v = abs(float(deg)) + m / 60 + s / 3600
    negative = deg.strip().startswith("-") or (hemi or "")[:1].upper() in ("S", "W")
    return -v if negative else v


# ------------------------------------------------------------------------------------------- coordinates


def coordinates(text: str) -> tuple[float, float] | None:
    """(lat, lon) in degrees from a completion, or None. See the module docstring for the rules."""
    try:
        text = text or ""
        tagged = _tagged(text)
        s = _normalise(answer(text)[-MAX_CHARS:])
        if tagged:
            m = _JUST_TWO.fullmatch(s)  # "<answer>48.85 2.35</answer>": two bare numbers and nothing else
            if m:
                return _valid(float(m.group(1)), float(m.group(2)))
        found = _mentions(s)
        if not found:
            return None
        if not tagged:
            valid = [p for p in found if p is not None]
            return valid[-1] if valid else None
        if any(p is None for p in found):
            return None
        first = found[0]
        if all(_km(first, p) <= AGREE_KM for p in found[1:]):
            return first
        return None
    except (ValueError, OverflowError, RecursionError):
        return None


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _mentions(s: str) -> list[tuple[float, float] | None]:
    """Every coordinate pair mentioned in `s`, in text order (None for an out-of-range one).

    Forms are tried from the most to the least explicit; a span claimed by one form is not read again.
    """
    taken: list[tuple[int, int, tuple[float, float] | None]] = []
    claimed = bytearray(len(s) + 1)  # 1 where a span has been read already: O(span) checks, not O(mentions)

    def add(a: int, b: int, lat: float, lon: float) -> None:
        if not any(claimed[a:b]):
            claimed[a:b] = b"\x01" * (b - a)
            taken.append((a, b, _valid(lat, lon)))

    for a, b, lat, lon in _json_points(s):
        add(a, b, lat, lon)
    _hemispheres(s, add)
    _labelled(s, add)
    for rx in (_BRACKETED, _BARE):
        for m in rx.finditer(s):
            if rx is _BARE and "." not in m.group(1) + m.group(2):
                continue  # "Route 66, 12 km": bare integer pairs are too often something else
            add(m.start(), m.end(), float(m.group(1)), float(m.group(2)))
    taken.sort(key=lambda t: t[0])
    return [p for _, _, p in taken]


def _hemispheres(s: str, add) -> None:
    """Numbers tagged N/S/E/W, paired lat with the adjacent lon: first suffix tags (`48.85 N`, DMS too),
    then prefix tags (`N 48.85`) on what is left, so `N 48.85 E 2.35` is not misread as `48.85 E`."""
    for rx, hemi_group, num_groups in ((_HEMI_SUFFIX, 4, (1, 2, 3)), (_HEMI_PREFIX, 1, (2, 3, 4))):
        marks = []  # (start, end, axis, value)
        for m in rx.finditer(s):
            hemi = m.group(hemi_group)
            marks.append((m.start(), m.end(), _axis(hemi), _dms(*(m.group(g) for g in num_groups), hemi)))
        i = 0
        while i + 1 < len(marks):
            (a0, b0, ax0, v0), (a1, b1, ax1, v1) = marks[i], marks[i + 1]
            if ax0 != ax1 and re.fullmatch(r"[\s,;/]*(?:and\s*)?", s[b0:a1]):
                lat, lon = (v0, v1) if ax0 == "lat" else (v1, v0)
                add(a0, b1, lat, lon)
                i += 2
            else:
                i += 1


def _axis(hemi: str) -> str:
    return "lat" if hemi[:1].upper() in ("N", "S") else "lon"


def _labelled(s: str, add) -> None:
    """`lat: x ... lon: y` in either order, each matched with the nearest label of the other kind."""
    lats = [(m.start(), m.end(), _dms(m.group(1), m.group(2), m.group(3), m.group(4)))
            for m in _LAT_LABEL.finditer(s)]
    lons = [(m.start(), m.end(), _dms(m.group(1), m.group(2), m.group(3), m.group(4)))
            for m in _LON_LABEL.finditer(s)]
    starts = [c for c, _, _ in lons]
    used: set[int] = set()
    for a, b, lat in lats:
        best = None
        lo, hi = bisect.bisect_left(starts, a - 200), bisect.bisect_right(starts, b + 60)
        for k in range(lo, hi):  # only labels near this one (a lon label is < 200 chars long)
            c, d, lon = lons[k]
            gap = c - b if c >= b else a - d
            if k not in used and 0 <= gap <= 60 and (best is None or gap < best[0]):
                best = (gap, k, c, d, lon)
        if best is not None:
            _, k, c, d, lon = best
            used.add(k)
            add(min(a, c), max(b, d), lat, lon)


_LAT_KEYS = ("lat", "latitude")
_LON_KEYS = ("lon", "lng", "long", "longitude")
_PAIR_KEYS = ("lat/lng", "lat/lon", "lat_lng", "lat_lon", "latlng", "latlon", "lat,lng", "lat, lng",
              "lat,lon", "lat, lon", "coordinates", "coordinate", "coords", "gps", "location", "position")


def _json_objects(s: str):
    """(start, end, obj) for each JSON object embedded in `s` (at most 200 decode attempts)."""
    decoder = json.JSONDecoder()
    i, tries = s.find("{"), 0
    while i != -1 and tries < 200:
        tries += 1
        try:
            obj, end = decoder.raw_decode(s, i)
        except (ValueError, RecursionError):
            i = s.find("{", i + 1)
            continue
        yield i, end, obj
        i = s.find("{", end)


def _json_points(s: str):
    """(start, end, lat, lon) for each JSON object in `s` that holds a point (searched recursively)."""
    for start, end, obj in _json_objects(s):
        point = _point_in(obj, 0)
        if point is not None:
            yield start, end, point[0], point[1]


def _num(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        n = _normalise(v).strip()
        if re.fullmatch(_NUM + r"\s*°?", n):
            return float(n.rstrip("°"))
        m = _HEMI_SUFFIX.fullmatch(n)
        if m:
            return _dms(m.group(1), m.group(2), m.group(3), m.group(4))
    return None


def _point_in(obj, depth: int) -> tuple[float, float] | None:
    if depth > 6:
        return None
    if isinstance(obj, dict):
        low = {str(k).strip().lower(): v for k, v in obj.items()}
        lat = next((low[k] for k in _LAT_KEYS if k in low), None)
        lon = next((low[k] for k in _LON_KEYS if k in low), None)
        if lat is not None and lon is not None:
            la, lo = _num(lat), _num(lon)
            return (la, lo) if la is not None and lo is not None else (math.nan, math.nan)
        geojson = str(low.get("type", "")).lower() == "point"
        for k in _PAIR_KEYS:
            if k in low:
                pair = _pair(low[k], lon_first=geojson)
                if pair is not None:
                    return pair
        for v in obj.values():
            found = _point_in(v, depth + 1)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj[:20]:
            found = _point_in(v, depth + 1)
            if found is not None:
                return found
    return None


def _pair(v, lon_first: bool = False) -> tuple[float, float] | None:
    if isinstance(v, str):
        ms = _mentions(_normalise(v))
        return ms[0] if len(ms) == 1 and ms[0] is not None else None
    if isinstance(v, list | tuple) and len(v) == 2:
        a, b = _num(v[0]), _num(v[1])
        if a is not None and b is not None:
            return (b, a) if lon_first else (a, b)
    if isinstance(v, dict):
        return _point_in(v, 5)
    return None


# ------------------------------------------------------------------------------------------------ names

_LABELS = r"(?:country|city|town|region|state|province|continent|address|coordinates?|lat(?:itude)?|lon(?:g(?:itude)?)?|lng)"


def location_names(text: str) -> dict[str, str | None]:
    """{"country": .., "city": ..} as written in the answer (GLOBE's `country: X` / `city: Y` lines, or the
    keys of a JSON object); None where absent. Markdown, quotes and trailing punctuation are stripped."""
    out: dict[str, str | None] = {"country": None, "city": None}
    try:
        s = _normalise(answer(text or "")[-MAX_CHARS:])
        for field in out:
            rx = rf"(?<![A-Za-z])\**{field}\**\s*[:=]\s*(.+?)(?=\s*[,;|]?\s*\**\b{_LABELS}\b\**\s*[:=]|[\n;|]|$)"
            found = re.findall(rx, s, re.I)
            if found:
                out[field] = _clean_name(found[-1])  # the last one wins, like the last answer block
        if out["country"] is None or out["city"] is None:
            for name, value in _json_names(s).items():
                if out[name] is None:
                    out[name] = value
    except (ValueError, RecursionError):
        pass
    return out


def _clean_name(v: str) -> str | None:
    v = v.strip().strip("*_`\"'").strip()
    v = re.sub(r"\s*\([^()]*\)$", "", v)  # "France (FR)" -> "France"
    v = v.strip().strip("*_`\"'[](){}").strip().rstrip(".,").strip()
    return v or None


def _json_names(s: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for _, _, obj in _json_objects(s):
        _collect_names(obj, found, 0)
    return found


def _collect_names(obj, found: dict, depth: int) -> None:
    if depth > 6:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = str(k).strip().lower()
            if key in ("country", "city") and isinstance(v, str) and key not in found:
                found[key] = _clean_name(v)
            elif isinstance(v, dict | list):
                _collect_names(v, found, depth + 1)
    elif isinstance(obj, list):
        for v in obj[:20]:
            _collect_names(v, found, depth + 1)


# ------------------------------------------------------------------------------------------ choices etc


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
