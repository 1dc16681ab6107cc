"""`geobench scaffold`: fact-checked chain-of-thought SFT data, Geo-R1's "geospatial thinking scaffolding".

Geo-R1 (arXiv 2510.00072) starts with a narrow SFT stage: synthetic reasoning traces that all follow one
"geospatial thinking paradigm" (visual cues -> cross-view evidence -> geographic knowledge -> answer), kept
only if a "fact-check engine" finds their key entities (coordinates, city names) agree with the image
metadata. No human writes reasoning. This module makes that data for any geobench task whose documents carry
the metadata:

- source "template" (default): the paradigm filled in from ground truth. `style` picks the length:
  "short" (the ground view's attributes, then the answer: what a tiny CPU model learns, notes/learnability.md
  section 1), "tiles" (also every candidate tile described and marked as matching or not: the compact "long
  think" that makes the last step local; single-image tasks have no tiles, so there it equals "short") and
  "full" (the whole paradigm in sentences);
- source "teacher": any geobench backend is shown the task's prompt plus a hint with the true answer and asked
  for reasoning that reaches it (Geo-R1 does not publish its teacher or prompt; `TEACHER_HINT` is ours). The
  hint is never part of the training prompt.

Every exemplar, template or teacher, goes through the same `fact_check`; rejected ones are counted by reason.

Output folder (written to a temp sibling, then renamed: never half-written):
  train.jsonl          {"messages": [user, assistant], "images": ["images/<sha>.png", ...], "task", "doc_id",
                       "split", "source", "style"}: TRL's conversational VLM SFT format (an {"type": "image"}
                       placeholder per entry of "images", in order; HuggingFaceH4/llava-instruct-mix-vsft's
                       layout), loadable by `datasets.load_dataset("json", data_files=...)`; `load(folder)`
                       returns it with the images as a `datasets.Image` column
  images/              every referenced image, content-addressed (a tile shared by several docs is stored once)
  rejected.jsonl       the rejected exemplars with their reasons (for inspecting a teacher)
  scaffold_report.json kept / rejected counts, reasons, settings, timings

Which metadata each family needs (the templates never invent a fact the metadata does not hold):
- cross-view: per-candidate visual attributes (the toy world's CV-Cities 7th column); the toy world adds the
  ground place's country, continent, sign and driving side. Real CV-Cities/CVUSA/... have no attributes: only
  the teacher source works there (fact-checked on the letter, and on coordinates / country where known);
- geolocation: latitude/longitude; the toy world adds every `Place.facts()` field (places.jsonl); real
  benchmarks get country and nearest city from offline reverse geocoding (or their own name columns), so
  their templates have no visual-cue step (knowledge -> answer only);
- scene: the GeoChain answers CSV (all 21 answers of the image, plus lat/lon); `SceneJSONL` has only the
  answer, so only the teacher source works there.

torch is never imported here; `datasets` only inside `load`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geobench import parse
from geobench.api import Backend, Doc, GenConfig, ImageRef, Request, Task
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

STYLES = ("short", "tiles", "full")
SOURCES = ("template", "teacher")
DEFAULT_TOLERANCE_KM = 25.0  # a stated point farther than this from the truth contradicts it (acc@25km)
NEAR_CITY_KM = 50.0  # the full template says "near <city>" only this close
REPORT_FILE = "scaffold_report.json"
REASONS = {
    "missing_tags": "no closed <think>...</think> or <answer>...</answer>",
    "format": "not exactly one <think> block followed by one <answer> block (Geo-R1's format reward)",
    "unparsed_answer": "the answer block holds no readable letter / yes-no / coordinates",
    "wrong_letter": "the chosen letter is not the true candidate / option",
    "wrong_answer": "the yes/no answer contradicts the metadata",
    "wrong_coordinates": f"a stated point lies farther than the tolerance (default {DEFAULT_TOLERANCE_KM:g} km) from the truth",
    "wrong_country": "a country other than the true one is stated",
    "wrong_city": "a city other than the true (nearest) one is stated",
    "wrong_continent": "a continent other than the true one is stated",
    "wrong_climate": "a climate other than the true one is stated about the place",
    "wrong_tile_description": "a candidate tile is described with a climate it does not have",
    "ambiguous_cues": "with --cues, not exactly one candidate matches the ground view on those cues",
}
TEACHER_HINT = (
    "Hint, for writing a worked example: the correct answer is {answer}. Write the reasoning that reaches this "
    "answer from what the image(s) show, in this order: visual cues in the ground-level photo; cross-view evidence "
    "(compare with the satellite images, or with what the place would look like from above); geographic knowledge "
    "(climate zone, country, region); then the answer. Do not mention the hint. Output the thinking process in "
    "<think> </think> tags and then the final answer in <answer> </answer> tags.")
TEACHER_GEN = GenConfig(max_new_tokens=1024)

CLIMATE_WORDS = {"polar": "polar", "arctic": "polar", "tundra": "polar", "continental": "continental",
                 "temperate": "temperate", "dry": "dry", "arid": "dry", "semi-arid": "dry", "tropical": "tropical"}
REAL_CONTINENTS = ("Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America")
_NEGATION = re.compile(r"\b(?:not|no|isn't|aren't|unlike|than|instead|excluding|excludes?|rul(?:e|es|ing) out)\W+"
                       r"(?:\w+\W+){0,2}$", re.I)
_CLAUSES = re.compile(r"(?<=[.!?;])\s+|\n+")
_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.S)
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.S)

# One name per toy country colour (palette.COUNTRY_PALETTE), so a sign's colour + shape names one country;
# any other colour gets the nearest name.
COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "navy": (0, 0, 120), "yellow": (255, 255, 0), "aqua": (90, 255, 255), "magenta": (255, 15, 255),
    "green": (0, 240, 15), "red": (240, 0, 0), "violet": (90, 75, 255), "salmon": (255, 150, 135),
    "olive": (135, 135, 15), "teal": (0, 165, 165), "light green": (120, 255, 105), "plum": (150, 0, 135),
    "lilac": (210, 135, 255), "dark green": (0, 120, 45), "maroon": (120, 0, 15), "orange": (255, 120, 0),
    "blue": (0, 0, 240), "pink": (255, 30, 105), "cream": (225, 255, 135), "lime": (105, 240, 0),
    "mint": (15, 255, 120), "azure": (0, 120, 255), "sky blue": (90, 165, 210), "steel blue": (45, 75, 165),
    "purple": (150, 0, 240), "orchid": (195, 75, 180), "turquoise": (0, 225, 240), "mustard": (195, 195, 60),
    "sea green": (60, 180, 90), "brick": (180, 60, 60),
}
SETTLEMENT_WORD = {"big_city": "city", "small_town": "town", "rural": "rural"}
SETTLEMENT_PHRASE = {"big_city": "a big city", "small_town": "a small town", "rural": "a rural area"}
CLIMATE_KNOWLEDGE = {
    "polar": "a polar climate means high latitudes (more than about 60 degrees from the equator) or high mountains",
    "continental": "a continental climate means mid-to-high latitudes far inland, away from the sea",
    "temperate": "a temperate climate means the mid latitudes, about 33 to 60 degrees from the equator",
    "dry": "a dry climate means the subtropical dry belt, about 17 to 33 degrees from the equator",
    "tropical": "a tropical climate means low latitudes, within about 17 degrees of the equator",
}
LAND_COVER = {"polar": "snow and ice", "continental": "dark forest", "temperate": "green fields",
              "dry": "dry scrub", "tropical": "dense rainforest"}


# ---------------------------------------------------------------------------------------------- the facts


@dataclass
class Truth:
    """What the fact-check compares an exemplar with (None / empty: unknown, so not checked)."""

    kind: str  # "crossview" | "geolocation" | "scene"
    answer: str  # letter, "yes"/"no", or "(lat, lon)"
    options: list[str] | None = None  # scene multiple choice
    n_letters: int = 0  # cross-view k
    lat: float | None = None
    lon: float | None = None
    country: str | None = None
    city: str | None = None
    continent: str | None = None
    climate: str | None = None
    candidates: dict[str, dict[str, str] | None] = field(default_factory=dict)  # letter -> attributes
    vocab: dict[str, frozenset[str]] = field(default_factory=dict)  # "country"/"city"/"continent" -> closed names
    tolerance_km: float = DEFAULT_TOLERANCE_KM


@dataclass
class Item:
    """One document ready for scaffolding: its ground-truth facts, the fact-check truth and the hint."""

    doc: Doc
    facts: dict[str, Any]
    truth: Truth
    hint: str  # the answer as the teacher hint states it


# ------------------------------------------------------------------------------------------- fact-checking


def _vocab_regex(names: Iterable[str]) -> re.Pattern | None:
    names = sorted({n for n in names if n}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w-])")


_REGEX_CACHE: dict[frozenset, re.Pattern | None] = {}
_CLIMATE_RX = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, CLIMATE_WORDS), key=len, reverse=True))
                         + r")(?![\w-])", re.I)


def _mentions(rx: re.Pattern | None, clause: str) -> list[str]:
    """Matches of rx in the clause, skipping negated ones ("not dry", "unlike Zorania")."""
    if rx is None:
        return []
    return [m.group(1) for m in rx.finditer(clause) if not _NEGATION.search(clause[max(0, m.start() - 40):m.start()])]


def _candidate_letters(clause: str, letters: str) -> set[str]:
    """Candidate letters a clause is about: "A: ...", "(B)", "tile C", "image D", "option A"."""
    if not letters:
        return set()
    found = set(re.findall(rf"(?<![A-Za-z])([{letters}])\s*[:)]", clause))
    found |= set(re.findall(rf"\b(?i:tiles?|images?|candidates?|options?|satellite(?: image)?)\s*\(?([{letters}])\b",
                            clause))
    return {x.upper() for x in found}


def fact_check(text: str, truth: Truth) -> list[str]:
    """The reasons (keys of REASONS) why an exemplar contradicts its metadata; [] keeps it.

    Only contradictions reject: an exemplar that does not mention the country is not wrong about it. Rules:
    - format: exactly one closed <think> block, then one closed <answer> block, nothing else (Geo-R1's format);
    - answer: the letter (cross-view, multiple choice), yes/no, or coordinates within `tolerance_km` of the truth;
    - every point stated anywhere (think or answer) outside a clause about a candidate tile lies within
      `tolerance_km` of the truth;
    - names: where the truth has a closed vocabulary (toy world), any country / city / continent name of it
      other than the true one, outside candidate clauses and not negated ("not X", "unlike X"), contradicts;
      `country:` / `city:` labels (GLOBE's answer lines) must match the truth by GLOBE's rule;
    - climate: climate words about the place (not negated, outside candidate clauses) must be the true climate;
      in a clause about exactly one candidate tile with known attributes they must be that tile's climate.
    Clauses are split at sentence ends, semicolons and newlines (not at decimal points).
    """
    from geobench import geo

    text = (text or "").strip()
    reasons: list[str] = []
    thinks, answers = _THINK_BLOCK.findall(text), _ANSWER_BLOCK.findall(text)
    if not thinks or not answers:
        return ["missing_tags"]
    if (len(thinks) != 1 or len(answers) != 1 or text.count("<think>") != 1 or text.count("<answer>") != 1
            or not parse.is_think_answer(text)):
        reasons.append("format")
    think, ans = thinks[-1], answers[-1]

    # the answer
    if truth.kind == "crossview":
        chosen = parse.choice(text, truth.n_letters)
        reasons += [] if chosen == truth.answer else ["unparsed_answer" if chosen is None else "wrong_letter"]
    elif truth.kind == "scene":
        from geobench.tasks.scene import parse_answer

        chosen = parse_answer(text, truth.options)
        bad = "wrong_answer" if truth.options is None else "wrong_letter"
        reasons += [] if chosen == truth.answer else ["unparsed_answer" if chosen is None else bad]
    else:
        point = parse.coordinates(text)
        if point is None:
            reasons.append("unparsed_answer")
        elif truth.lat is not None and geo.haversine_km(truth.lat, truth.lon, *point) > truth.tolerance_km:
            reasons.append("wrong_coordinates")

    # statements, clause by clause
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:truth.n_letters]
    name_rx = {k: _cached_regex(v) for k, v in truth.vocab.items()}
    truths = {"country": truth.country, "city": truth.city, "continent": truth.continent}
    for where, block in (("think", think), ("answer", ans)):
        for clause in filter(None, (c.strip() for c in _CLAUSES.split(block))):
            about = _candidate_letters(clause, letters)
            if about:
                if len(about) == 1:
                    attrs = truth.candidates.get(next(iter(about))) or {}
                    said = {CLIMATE_WORDS[w.lower()] for w in _mentions(_CLIMATE_RX, clause)}
                    if attrs.get("climate") and said - {attrs["climate"]}:
                        reasons.append("wrong_tile_description")
                continue
            if truth.lat is not None and where == "think":
                point = parse.coordinates(clause)
                if point is not None and geo.haversine_km(truth.lat, truth.lon, *point) > truth.tolerance_km:
                    reasons.append("wrong_coordinates")
            for kind, rx in name_rx.items():
                if truths.get(kind) and any(n != truths[kind] for n in _mentions(rx, clause)):
                    reasons.append(f"wrong_{kind}")
            if truth.climate:
                said = {CLIMATE_WORDS[w.lower()] for w in _mentions(_CLIMATE_RX, clause)}
                if said - {truth.climate}:
                    reasons.append("wrong_climate")
    for block in (think, ans):
        names = parse.location_names(f"<answer>{block}</answer>")
        for kind in ("country", "city"):
            if names[kind] and truths[kind] and not geo.globe_match(names[kind], truths[kind]):
                reasons.append(f"wrong_{kind}")
    return list(dict.fromkeys(reasons))


def _cached_regex(names: frozenset[str]) -> re.Pattern | None:
    if names not in _REGEX_CACHE:
        _REGEX_CACHE[names] = _vocab_regex(names)
    return _REGEX_CACHE[names]


# ------------------------------------------------------------------------------------ words and phrases


def colour_name(rgb: Iterable[int]) -> str:
    """The nearest of a few plain colour names (toy countries' sign colours are saturated RGB)."""
    r, g, b = rgb
    return min(COLOUR_NAMES, key=lambda n: sum((x - y) ** 2 for x, y in zip((r, g, b), COLOUR_NAMES[n], strict=True)))


def _flag(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes"):
        return True
    if s in ("0", "false", "no"):
        return False
    return None


def attr_words(attrs: dict[str, Any]) -> list[str]:
    """Compact words for a place's visual attributes (the toy world's `visual_key`), one slot each."""
    words = []
    if attrs.get("climate"):
        words.append(str(attrs["climate"]))
    if _flag(attrs.get("desert")):
        words.append("desert")
    known = {"climate", "desert", "near_coast", "mountainous", "settlement", "road"}
    if _flag(attrs.get("near_coast")) is not None:
        words.append("coast" if _flag(attrs["near_coast"]) else "inland")
    if _flag(attrs.get("mountainous")) is not None:
        words.append("hills" if _flag(attrs["mountainous"]) else "flat")
    if attrs.get("settlement"):
        words.append(SETTLEMENT_WORD.get(str(attrs["settlement"]), str(attrs["settlement"])))
    if _flag(attrs.get("road")) is not None:
        words.append("road" if _flag(attrs["road"]) else "no road")
    words += [f"{k} {v}" for k, v in attrs.items() if k not in known]  # other datasets' attributes, as written
    return words


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    names = {"climate": "climate", "desert": "desert", "near_coast": "coast", "mountainous": "hills",
             "settlement": "settlement", "road": "road"}
    return [names.get(k, k) for k in a if str(b.get(k)) != str(a[k])]


def _hemisphere(lat: float) -> str:
    return "northern" if lat >= 0 else "southern"


def _compass(bearing: float) -> str:
    return ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")[
        int(((bearing % 360) + 22.5) // 45) % 8]


def _point(lat: float, lon: float) -> str:
    return f"({lat:.2f}, {lon:.2f})"


def _sign(facts: dict[str, Any]) -> str | None:
    if facts.get("sign_colour") and facts.get("sign_shape"):
        return f"{facts['sign_colour']} {facts['sign_shape']}"
    return None


def _a(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _pick(rng: random.Random, *variants: str) -> str:
    return rng.choice(variants)


def _cues_sentence(f: dict[str, Any], rng: random.Random, extra: Iterable[str] = ()) -> str | None:
    """Visual cues of the ground view, from the place's attributes (None if the metadata has none)."""
    parts = []
    if f.get("climate"):
        parts.append(f"{f['climate']} land" + (" with desert sand" if _flag(f.get("desert")) else ""))
    if _flag(f.get("near_coast")) is not None:
        parts.append("near the coast" if _flag(f["near_coast"]) else "inland")
    if _flag(f.get("mountainous")) is not None:
        parts.append("hilly terrain" if _flag(f["mountainous"]) else "flat terrain")
    if f.get("settlement") in SETTLEMENT_PHRASE:
        parts.append(SETTLEMENT_PHRASE[f["settlement"]])
    if _flag(f.get("road")) is not None:
        parts.append("a road" if _flag(f["road"]) else "no road")
    parts += list(extra)
    if not parts:
        return None
    out = _pick(rng, "the ground-level photo shows ", "the street view shows ", "in the ground view I see ") + \
        ", ".join(parts)
    sign = _sign(f)
    if sign:
        out += f"; the road sign is {_a(sign)}"
        if f.get("driving_side"):
            out += f" and traffic drives on the {f['driving_side']}"
    return out


def _country_knowledge(f: dict[str, Any]) -> str | None:
    if not f.get("country"):
        return None
    sign = _sign(f)
    where = f" on the continent {f['continent']}" if f.get("continent") else ""
    if sign:
        side = f" with {f['driving_side']}-hand traffic" if f.get("driving_side") else ""
        return f"{_a(sign)} road sign{side} is used in {f['country']}{where}"
    return f"this is {f['country']}{where}"


def _overhead(f: dict[str, Any]) -> str | None:
    """What a satellite view of the spot would show: the cross-view step of a single-image task."""
    parts = []
    if f.get("climate") in LAND_COVER:
        parts.append(("desert sand" if _flag(f.get("desert")) else LAND_COVER[f["climate"]]) + " as land cover")
    if _flag(f.get("near_coast")):
        bearing = f.get("sea_bearing")
        parts.append(f"the sea to the {_compass(float(bearing))}" if bearing is not None else "the sea nearby")
    elif _flag(f.get("near_coast")) is False:
        parts.append("no sea")
    if _flag(f.get("mountainous")):
        parts.append("rocky mountain slopes")
    if f.get("settlement") == "big_city":
        parts.append("dense city blocks")
    elif f.get("settlement") == "small_town":
        parts.append("a few houses of a small town")
    elif f.get("settlement") == "rural":
        parts.append("no buildings")
    if _flag(f.get("road")):
        parts.append("a road")
    return "seen from above, this spot would show " + ", ".join(parts) if parts else None


def _join(sections: list[tuple[str, str | None]]) -> str:
    return "\n".join(f"{label}: {body}." for label, body in sections if body)


# ------------------------------------------------------------------------------------------- templates


def template(item: Item, style: str, seed: int = 0, cues: Iterable[str] | None = None) -> str:
    """The assistant text for one item in one style (see the module docstring). `cues`: the cross-view
    attributes the think names (default all), e.g. ("climate",) for the demo's one-cue task."""
    if style not in STYLES:
        raise GeobenchError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    rng = random.Random(f"{seed}/{item.doc.id}")
    kind = item.truth.kind
    if kind == "crossview":
        think = _crossview_think(item, style, rng, tuple(cues) if cues else None)
    elif kind == "geolocation":
        think = _geoloc_think(item, style, rng)
    else:
        think = _scene_think(item, style, rng)
    return f"<think>{think}</think><answer>{item.truth.answer}</answer>"


def _crossview_think(item: Item, style: str, rng: random.Random, cues: tuple[str, ...] | None = None) -> str:
    f, truth = item.facts, item.truth

    def only(attrs: dict | None) -> dict:
        return {k: v for k, v in (attrs or {}).items() if cues is None or k in cues}

    ground = only(f["attrs"])
    if style == "short":
        return " ".join(attr_words(ground))
    rows = []
    for letter, attrs in truth.candidates.items():
        attrs = only(attrs)
        same = not _differences(ground, attrs or {})
        if style == "tiles":
            rows.append(f"{letter}: {' '.join(attr_words(attrs or {}))}, {'yes' if same else 'no'}")
        else:
            diff = _differences(ground, attrs or {})
            verdict = "matches every cue" if same else "differs in " + ", ".join(diff)
            rows.append(f"{letter}: {', '.join(attr_words(attrs or {}))} - {verdict}")
    if style == "tiles":
        return "; ".join([" ".join(attr_words(ground)), *rows])
    knowledge = [CLIMATE_KNOWLEDGE.get(ground.get("climate", ""))]
    if f.get("lat") is not None and f.get("country"):
        knowledge.append(f"here that is the {_hemisphere(f['lat'])} hemisphere")
    knowledge.append(_country_knowledge(f))
    k = len(truth.candidates)
    return _join([
        ("Visual cues", _cues_sentence(ground | {key: f[key] for key in ("sign_colour", "sign_shape", "driving_side")
                                                 if f.get(key)}, rng)),
        ("Cross-view evidence", _pick(rng, f"comparing the {k} satellite tiles with these cues: ",
                                      f"checking each of the {k} tiles: ") + "; ".join(rows)),
        ("Geographic knowledge", "; ".join(x for x in knowledge if x) or None),
        ("Answer", f"tile {truth.answer} is the only one that matches the ground view in every cue"),
    ])


def _geoloc_think(item: Item, style: str, rng: random.Random) -> str:
    f, truth = item.facts, item.truth
    sign = _sign(f)
    if style in ("short", "tiles"):  # no tiles in a single-image task: "tiles" is "short"
        parts = [" ".join(attr_words({k: f[k] for k in ("climate", "desert", "near_coast", "settlement") if k in f}))]
        if sign:
            parts.append(f"{sign} sign")
        names = ", ".join(x for x in (f.get("country"), f.get("city")) if x)
        cues = "; ".join(p for p in parts if p)
        return f"{cues}: {names}" if cues and names else cues or names
    knowledge = []
    if f.get("climate") in CLIMATE_KNOWLEDGE:
        knowledge.append(CLIMATE_KNOWLEDGE[f["climate"]])
    knowledge.append(f"the {_hemisphere(truth.lat)} hemisphere, about {abs(truth.lat):.0f} degrees "
                     f"{'north' if truth.lat >= 0 else 'south'} of the equator")
    knowledge.append(_country_knowledge(f))
    if f.get("city"):
        km = f.get("city_km")
        noun = "nearest named place" if f.get("city_geocoded") else "nearest city"
        knowledge.append(f"the {noun} is {f['city']}" + (f", about {float(km):.0f} km away" if km is not None
                                                                  else ""))
    near = f.get("city") and (f.get("city_km") is None or float(f["city_km"]) <= NEAR_CITY_KM)
    where = ", ".join(x for x in (f.get("country"), f"near {f['city']}" if near else None) if x)
    return _join([
        ("Visual cues", _cues_sentence(f, rng)),
        ("Cross-view evidence", _overhead(f)),
        ("Geographic knowledge", "; ".join(x for x in knowledge if x)),
        ("Answer", (f"{where}, " if where else "") + f"at about {_point(truth.lat, truth.lon)}"),
    ])


SCENE_FACT = {  # question key -> (phrase if true, phrase if false)
    "boats": ("boats", "no boats"), "vehicles": ("vehicles", "no vehicles"),
    "traffic_lights": ("traffic lights", "no traffic lights"), "flag": ("a flag", "no flag"),
    "near_equator": ("near the equator", "far from the equator"), "near_poles": ("near a pole", "far from the poles"),
    "northern_hemisphere": ("northern hemisphere", "southern hemisphere"), "near_coast": ("coast", "inland"),
    "island": ("island", "mainland"), "desert": ("desert", "no desert"), "mountainous": ("hills", "flat"),
    "big_city": ("city", "not a big city"), "small_town": ("town", "not a small town"),
}


def _scene_fact(f: dict[str, Any], key: str) -> str | None:
    if key in SCENE_FACT:
        v = _flag(f.get(key))
        return None if v is None else SCENE_FACT[key][0 if v else 1]
    if key == "continent" and f.get("continent"):
        sign = _sign(f)
        return (f"{sign} sign: " if sign else "") + ", ".join(x for x in (f.get("country"), f["continent"]) if x)
    if key == "driving_side" and f.get("driving_side"):
        return f"drives {f['driving_side']}"
    if key == "climate" and f.get("climate"):
        return str(f["climate"])
    return None


def _scene_think(item: Item, style: str, rng: random.Random) -> str:
    f, truth = item.facts, item.truth
    key = item.doc.fields.get("question_key") or ""
    base = attr_words({k: f[k] for k in ("climate", "desert", "near_coast", "mountainous", "settlement") if k in f})
    fact = _scene_fact(f, key)
    if style in ("short", "tiles"):
        parts = [" ".join(base)]
        if fact and fact not in base:
            parts.append(fact)
        return "; ".join(p for p in parts if p)
    extra = [SCENE_FACT[k][0 if _flag(f[k]) else 1] for k in ("vehicles", "traffic_lights", "flag", "boats")
             if _flag(f.get(k)) is not None]
    knowledge = []
    if f.get("climate") in CLIMATE_KNOWLEDGE:
        knowledge.append(CLIMATE_KNOWLEDGE[f["climate"]])
    if f.get("lat") is not None:
        knowledge.append(f"the {_hemisphere(float(f['lat']))} hemisphere, about {abs(float(f['lat'])):.0f} degrees "
                         f"from the equator")
    knowledge.append(_country_knowledge(f))
    if truth.options is None:
        conclusion = f"{fact}, so {truth.answer}" if fact else truth.answer
    else:
        option = truth.options["ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(truth.answer)]
        conclusion = f"{option}, option {truth.answer}"
    return _join([
        ("Visual cues", _cues_sentence(f, rng, extra)),
        ("Cross-view evidence", _overhead(f)),
        ("Geographic knowledge", "; ".join(x for x in knowledge if x) or None),
        ("Answer", conclusion),
    ])


# ------------------------------------------------------------------------------- reading the metadata


def _toy_world():
    from geobench.tasks.toyworld import World

    return World(0)


_VOCABS: dict[int, dict[str, frozenset[str]]] = {}


def _toy_vocab(world) -> dict[str, frozenset[str]]:
    """Closed name lists of the toy world (computed once per world object)."""
    if id(world) not in _VOCABS:
        _VOCABS[id(world)] = _make_vocab(world)
    return _VOCABS[id(world)]


def _make_vocab(world) -> dict[str, frozenset[str]]:
    return {"country": frozenset(c.name for c in world.countries), "city": frozenset(c.name for c in world.cities),
            "continent": frozenset(world.continents)}


def _country_facts(world, code: str | None) -> dict[str, Any]:
    """Sign colour/shape, driving side, name and continent of a toy country (empty at sea)."""
    if not code:
        return {}
    try:
        c = world.country(code)
    except KeyError:
        return {}
    return {"country": c.name, "continent": c.continent, "sign_colour": colour_name(c.palette),
            "sign_shape": c.sign_shape.replace("_", " "), "driving_side": c.driving_side}


def _real_areas(lats: list[float], lons: list[float]) -> list[dict[str, str | None]]:
    """Country and nearest-place names by offline reverse geocoding; all None if the table is missing."""
    from geobench import geocode

    if not lats or not geocode.available():
        return [{"country": None, "city": None} for _ in lats]
    p = geocode.lookup(lats, lons)
    return [{"country": str(p.country[i]) or None, "city": str(p.city[i]) or None} for i in range(len(lats))]


def prepare(task: Task, split: str = "train", limit: int | None = None, *, need_template: bool = True,
            tolerance_km: float = DEFAULT_TOLERANCE_KM) -> list[Item]:
    """Items (doc, facts, truth, hint) of a task's split; a task without the metadata a source needs is a
    one-line error."""
    from geobench.tasks.crossview import CrossViewTask
    from geobench.tasks.geolocation import GeolocationTask
    from geobench.tasks.scene import GeoChain, SceneTask

    if isinstance(task, CrossViewTask):
        items = _crossview_items(task, split, limit, need_template)
    elif isinstance(task, GeolocationTask):
        items = _geoloc_items(task, split, limit)
    elif isinstance(task, SceneTask):
        if need_template and not isinstance(task, GeoChain):
            raise GeobenchError(f"task {task.name!r}: its metadata holds only the answer of each question, not the "
                                "image's attributes the templates need", hint="use a teacher: --teacher-model M "
                                "--teacher-backend B")
        items = _scene_items(task, split, limit)
    else:
        raise GeobenchError(f"task {task.name!r} is not a cross-view, geolocation or scene task: scaffold cannot read "
                            "its ground-truth metadata")
    for it in items:
        it.truth.tolerance_km = tolerance_km
    if not items:
        raise GeobenchError(f"task {task.name!r}: split {split!r} has no documents")
    return items


def _crossview_items(task, split: str, limit: int | None, need_template: bool) -> list[Item]:
    from geobench.tasks.crossview import CrossViewToy

    docs = list(task.docs(split, limit))
    if not docs:
        return []
    if need_template and any(not c.get("attributes") for d in docs for c in d.fields["candidates"]):
        raise GeobenchError(f"task {task.name!r}: its metadata has no per-candidate visual attributes, which the "
                            "templates need (only toy-world-style data has them)",
                            hint="use a teacher: --teacher-model M --teacher-backend B")
    pool = task.pool(split)
    index = {q.id: i for i, q in enumerate(pool.queries)}
    toy = isinstance(task, CrossViewToy)
    world = _toy_world() if toy else None
    points = []
    for d in docs:
        qi = index.get(d.fields["query_id"])
        ok = pool.metric == "haversine" and qi is not None and pool.query_pos is not None
        points.append((float(pool.query_pos[qi][0]), float(pool.query_pos[qi][1])) if ok else None)
    areas = [None] * len(docs)
    if not toy:
        have = [i for i, p in enumerate(points) if p]
        found = _real_areas([points[i][0] for i in have], [points[i][1] for i in have])
        for i, a in zip(have, found, strict=True):
            areas[i] = a
    items = []
    for d, pt, area in zip(docs, points, areas, strict=True):
        cands = {c["letter"]: c.get("attributes") for c in d.fields["candidates"]}
        true = next(c for c in d.fields["candidates"] if c["true"])
        facts: dict[str, Any] = {"attrs": dict(true.get("attributes") or {})}
        if pt:
            facts["lat"], facts["lon"] = pt
        truth = Truth("crossview", d.fields["answer"], n_letters=int(d.fields["k"]), candidates=cands,
                      lat=pt[0] if pt else None, lon=pt[1] if pt else None,
                      climate=facts["attrs"].get("climate"))
        if toy and pt:
            place = world.place(*pt)
            facts.update(_country_facts(world, place.country_code))
            truth.country, truth.continent = facts.get("country"), facts.get("continent")
            truth.city = place.nearest_city
            truth.vocab = _toy_vocab(world)
        elif area:
            truth.country = area["country"]
        items.append(Item(d, facts, truth, f"tile {d.fields['answer']}"))
    return items


def _geoloc_items(task, split: str, limit: int | None) -> list[Item]:
    from geobench.tasks.geolocation import GeolocToy

    docs = list(task.docs(split, limit))
    toy = isinstance(task, GeolocToy)
    places: dict[str, dict] = {}
    world = None
    if toy:
        world = _toy_world()
        path = task.root() / "places.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    places[row["IMG_ID"]] = row
    named = [d for d in docs if not d.fields.get("country") or not d.fields.get("city")]
    areas = dict(zip((d.id for d in named), _real_areas([d.fields["lat"] for d in named],
                                                         [d.fields["lon"] for d in named]), strict=True)) \
        if named and not toy else {}
    items = []
    for d in docs:
        lat, lon = float(d.fields["lat"]), float(d.fields["lon"])
        facts: dict[str, Any] = {"lat": lat, "lon": lon}
        if toy:
            p = places.get(d.id, {})
            facts.update({k: v for k, v in d.fields.items() if k not in ("lat", "lon") and v not in ("", None)})
            for k in ("road", "vehicles", "boats", "traffic_lights", "flag", "sea_bearing", "island"):
                if k in p:
                    facts[k] = p[k]
            facts["city_km"] = p.get("nearest_city_km")
            facts.update({k: v for k, v in _country_facts(world, d.fields.get("country_code")).items()
                          if k not in ("country", "continent")})
            facts.setdefault("country", p.get("country_name"))
        else:
            area = areas.get(d.id, {})
            facts["country"] = d.fields.get("country") or area.get("country")
            facts["city"] = d.fields.get("city") or area.get("city")
            facts["city_geocoded"] = not d.fields.get("city")
        # A reverse-geocoded "city" is the nearest GeoNames place (often a suburb): stated in templates, but
        # only a benchmark's own city names are checked.
        truth = Truth("geolocation", _point(lat, lon), lat=lat, lon=lon, country=facts.get("country") or None,
                      city=(facts.get("city") if toy else d.fields.get("city")) or None, continent=facts.get("continent") or None,
                      climate=facts.get("climate") or None, vocab=_toy_vocab(world) if toy else {})
        names = ", ".join(x for x in (facts.get("city"), facts.get("country")) if x)
        items.append(Item(d, facts, truth, f"({lat:.4f}, {lon:.4f})" + (f", {names}" if names else "")))
    return items


def _scene_items(task, split: str, limit: int | None) -> list[Item]:
    from geobench.data import read_csv
    from geobench.tasks.scene import GEOCHAIN_QUESTIONS, NOT_VERIFIABLE, SceneToy

    docs = list(task.docs(split, limit))
    rows: dict[str, dict[str, str]] = {}
    if hasattr(task, "answers_file"):
        for row in read_csv(task.folder / task.answers_file(split), ["key"]):
            rows[row["key"]] = row
    toy = isinstance(task, SceneToy)
    world = _toy_world() if toy else None
    continents = frozenset(world.continents) if toy else frozenset(REAL_CONTINENTS)
    items = []
    for d in docs:
        row = rows.get(str(d.fields.get("image_id")), {})
        facts: dict[str, Any] = {}
        for rank, (key, *_rest) in GEOCHAIN_QUESTIONS.items():
            value = row.get(f"answer_{rank - 1}", "")
            if value.strip().lower() in NOT_VERIFIABLE:
                continue
            name = key.lstrip("_")
            if name in ("climate", "driving_side"):
                facts[name] = value.strip().lower()
            elif name in ("continent", "country", "city"):
                facts[name] = value.strip()
            elif name not in ("languages", "state", "coordinates"):
                facts[name] = _flag(value)
        if facts.get("big_city") is not None:
            facts["settlement"] = ("big_city" if facts["big_city"] else "small_town" if facts.get("small_town")
                                   else "rural")
        try:
            facts["lat"], facts["lon"] = float(row["lat"]), float(row["lon"])
        except (KeyError, ValueError):
            pass
        if toy and "lat" in facts:
            place = world.place(facts["lat"], facts["lon"])
            facts.update(_country_facts(world, place.country_code))
            facts["road"] = place.road
            facts["sea_bearing"] = place.sea_bearing
            facts["city"] = place.nearest_city
        opts = d.fields.get("options")
        answer = d.fields["answer"] if opts is None else d.fields["answer_letter"]
        truth = Truth("scene", answer, options=opts, country=facts.get("country"), city=facts.get("city"),
                      continent=facts.get("continent"), climate=facts.get("climate"),
                      vocab=_toy_vocab(world) if toy else {"continent": continents})
        hint = answer if opts is None else f"{answer} ({d.fields['answer']})"
        items.append(Item(d, facts, truth, hint))
    return items


# ----------------------------------------------------------------------------------------------- teacher


def resolve_teacher(teacher: Any, registry=None) -> Backend:
    """A Backend from a Backend, a dict {"model", "backend" (default hf), "args"}, or a model string."""
    if teacher is None or isinstance(teacher, Backend):
        return teacher
    if isinstance(teacher, str):
        teacher = {"model": teacher}
    if not isinstance(teacher, dict) or not teacher.get("model"):
        raise GeobenchError("teacher must be a Backend, a model string or a dict with 'model' (and 'backend', 'args')")
    from geobench import plugin_manager
    from geobench.evaluator import load_backend, parse_kv

    reg = registry or plugin_manager.registry()
    return load_backend(reg, teacher["model"], teacher.get("backend") or "hf", teacher.get("batch_size", 1),
                        parse_kv(teacher.get("args"), "--teacher-args"))


def teacher_messages(task: Task, item: Item) -> list[dict]:
    """The task's own prompt with the answer hint appended to the user turn (the training prompt has no hint)."""
    messages = task.to_messages(item.doc)
    last = messages[-1]
    content = list(last["content"]) if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
    content.append({"type": "text", "text": "\n" + TEACHER_HINT.format(answer=item.hint)})
    return [*messages[:-1], {**last, "content": content}]


def teacher_texts(task: Task, items: list[Item], backend: Backend, gen: GenConfig, use_cache: bool = True,
                  progress: bool = False) -> list[str]:
    """The teacher's completion per item; deterministic requests go through the response cache (resume)."""
    from geobench.cache import ResponseCache, fingerprint_text, prompt_hash, request_key

    requests = [Request(task=task.name, doc_id=it.doc.id, messages=teacher_messages(task, it), gen=gen) for it in items]
    fp = backend.fingerprint()
    cache = ResponseCache() if use_cache and fp is not None and gen.deterministic else None
    texts: list[str | None] = [None] * len(items)
    try:
        if cache is not None:
            fp_text = fingerprint_text(fp)
            for r in requests:
                r.key = request_key(fp_text, f"scaffold-teacher/{task.version}", r, prompt_hash(r))
            hits = cache.get_many([r.key for r in requests])
            for i, r in enumerate(requests):
                if r.key in hits:
                    texts[i] = hits[r.key].text
        todo = [i for i, t in enumerate(texts) if t is None]
        if todo:
            pending = [requests[i] for i in todo]
            for n, (j, completion) in enumerate(backend.generate(pending), 1):
                texts[todo[j]] = completion.text
                if cache is not None:
                    cache.put(pending[j].key, completion)
                if progress and n % 50 == 0:
                    print(f"teacher: {n}/{len(pending)}", file=sys.stderr, flush=True)
    finally:
        if cache is not None:
            cache.close()
    return [t or "" for t in texts]


# ------------------------------------------------------------------------------------------------ output


def _image_ext(raw: bytes, path: str | None) -> str:
    if raw.startswith(b"\x89PNG"):
        return ".png"
    if raw[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return ".webp"
    ext = os.path.splitext(path or "")[1].lower()
    return ext if ext and len(ext) <= 6 else ".img"


class _ImageStore:
    """Copies (or hard-links) images into <folder>/images/ under content-addressed names, each once."""

    def __init__(self, folder: Path, link: bool):
        self.dir = folder / "images"
        self.dir.mkdir()
        self.link = link
        self.by_path: dict[str, str] = {}

    def add(self, ref: ImageRef) -> str:
        if ref.path is not None and ref.path in self.by_path:
            return self.by_path[ref.path]
        raw = ref.read_bytes()
        name = hashlib.sha256(raw).hexdigest()[:20] + _image_ext(raw, ref.path)
        target = self.dir / name
        if not target.exists():
            done = False
            if self.link and ref.path is not None:
                try:
                    os.link(ref.path, target)
                    done = True
                except OSError:
                    done = False
            if not done:
                target.write_bytes(raw)
        rel = f"images/{name}"
        if ref.path is not None:
            self.by_path[ref.path] = rel
        return rel


def to_record(task: Task, item: Item, text: str, store: _ImageStore, source: str, style: str | None,
              split: str) -> dict[str, Any]:
    """One train.jsonl row: the task's prompt with {"type": "image"} placeholders, the images in order, the
    assistant turn, and provenance."""
    messages, images = [], []
    for message in task.to_messages(item.doc):
        parts = message["content"] if isinstance(message["content"], list) else [{"type": "text",
                                                                                   "text": message["content"]}]
        content = []
        for part in parts:
            if part.get("type") == "image":
                content.append({"type": "image"})
                images.append(store.add(part["image"]))
            else:
                content.append({"type": "text", "text": part["text"]})
        messages.append({"role": message["role"], "content": content})
    messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    return {"messages": messages,
            "images": images, "task": task.name, "doc_id": item.doc.id, "split": split, "source": source,
            "style": style}


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise GeobenchError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise GeobenchError(f"output folder {out} exists and is not empty", hint="choose a new folder")
    return out


def _dump(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


# ---------------------------------------------------------------------------------------------- the API


def _resolve_task(task: str | Task, task_args: str | dict | None, registry) -> Task:
    if isinstance(task, Task):
        return task
    from geobench import plugin_manager
    from geobench.evaluator import parse_kv

    reg = registry or plugin_manager.registry()
    instance = reg.task(task)  # unknown names: one-line error with a suggestion
    args = parse_kv(task_args, "--task-args")
    if args:
        factory = reg.task_factory(task)
        try:
            instance = factory(**args)
        except TypeError as e:
            raise GeobenchError(f"bad --task-args for {task!r}: {e}") from None
    return instance  # missing data is reported by docs(split), for the split asked for


def scaffold(task: str | Task, out_dir: str | os.PathLike, split: str = "train", limit: int | None = None,
             style: str = "short", teacher: Any = None, seed: int = 0, *, tolerance_km: float = DEFAULT_TOLERANCE_KM,
             teacher_gen: GenConfig | dict | str | None = None, task_args: str | dict | None = None,
             link_images: bool = False, use_cache: bool = True, progress: bool = False, registry=None,
             cues: Iterable[str] | None = None) -> dict:
    """Write fact-checked SFT exemplars of `task`'s `split` into `out_dir` (new or empty); return the report.

    `teacher`: None (templates in `style`), or a Backend / model string / {"model", "backend", "args"} that
    writes the reasoning from a hint with the true answer. `seed` varies the full template's wording and is
    the teacher's sampling seed. `tolerance_km`: how far a stated point may lie from the truth. `cues`:
    the cross-view attributes a template names (default all).
    """
    started = time.perf_counter()
    if style not in STYLES:
        raise GeobenchError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    if limit is not None and limit < 1:
        raise GeobenchError(f"--limit must be >= 1, got {limit}")
    if not tolerance_km > 0:
        raise GeobenchError(f"tolerance must be > 0 km, got {tolerance_km}")
    out = check_out_dir(out_dir)
    task_obj = _resolve_task(task, task_args, registry)
    source = "teacher" if teacher is not None else "template"
    items = prepare(task_obj, split, limit, need_template=source == "template", tolerance_km=tolerance_km)
    cues = _check_cues(cues, items)
    t_prepared = time.perf_counter()

    teacher_info = None
    if source == "teacher":
        backend = resolve_teacher(teacher, registry)
        gen = TEACHER_GEN
        if isinstance(teacher_gen, GenConfig):
            gen = teacher_gen
        elif teacher_gen:
            from geobench.evaluator import parse_kv

            gen = gen.updated(**parse_kv(teacher_gen, "--teacher-gen-kwargs"))
        if gen.do_sample and gen.seed is None:
            gen = gen.updated(seed=seed)
        texts = teacher_texts(task_obj, items, backend, gen, use_cache=use_cache, progress=progress)
        teacher_info = {"model": getattr(backend, "model_id", type(backend).__name__), "backend": backend.name,
                        "fingerprint": backend.fingerprint(), "gen": json.loads(gen.canonical()),
                        "hint": TEACHER_HINT}
    else:
        texts = [template(it, style, seed, cues) for it in items]
    t_generated = time.perf_counter()

    from geobench.results import atomic_dir

    with atomic_dir(out) as tmp:
        store = _ImageStore(tmp, link_images)
        kept, rejected = [], []
        reasons: Counter[str] = Counter()
        for it, text in zip(items, texts, strict=True):
            why = fact_check(text, it.truth)
            if cues and _cue_matches(it, cues) != 1:
                why = [*why, "ambiguous_cues"]
            if why:
                reasons.update(why)
                rejected.append({"task": task_obj.name, "doc_id": it.doc.id, "split": split, "source": source,
                                 "text": text, "reasons": why})
            else:
                kept.append(to_record(task_obj, it, text.strip(), store, source,
                                      style if source == "template" else None, split))
        (tmp / "train.jsonl").write_text(_dump(kept), encoding="utf-8")
        (tmp / "rejected.jsonl").write_text(_dump(rejected), encoding="utf-8")
        report = {
            "task": task_obj.name, "task_version": task_obj.version, "split": split, "source": source,
            "style": style if source == "template" else None, "seed": seed, "limit": limit,
            "cues": list(cues) if cues else None,
            "tolerance_km": tolerance_km, "teacher": teacher_info,
            "n_docs": len(items), "kept": len(kept), "rejected": len(rejected),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "reason_descriptions": REASONS, "n_images": len(list(store.dir.iterdir())),
            "files": {"train": "train.jsonl", "rejected": "rejected.jsonl", "images": "images/"},
            "seconds": {"prepare": round(t_prepared - started, 3), "generate": round(t_generated - t_prepared, 3),
                        "check_and_write": round(time.perf_counter() - t_generated, 3)},
        }
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    report["out"] = str(out)
    report["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return report


def _check_cues(cues: Iterable[str] | None, items: list[Item]) -> tuple[str, ...] | None:
    """`cues` as a tuple; a name no cross-view item carries is a one-line error (a typo would empty the think)."""
    if not cues:
        return None
    cues = tuple(cues)
    known = {k for it in items if it.truth.kind == "crossview" for k in (it.facts.get("attrs") or {})}
    unknown = [c for c in cues if c not in known]
    if unknown:
        raise GeobenchError(f"--cues: unknown attribute(s) {', '.join(unknown)}",
                            hint=f"known: {', '.join(sorted(known))}" if known else "only cross-view tasks with "
                            "tile attributes (the toy world) have cues")
    return cues


def _cue_matches(item: Item, cues: tuple[str, ...]) -> int:
    """How many candidates look like the ground view on `cues` (1 = the cues single out the answer)."""
    ground = item.facts.get("attrs") or {}
    return sum(all(str((attrs or {}).get(c)) == str(ground.get(c)) for c in cues)
               for attrs in item.truth.candidates.values())


def load(folder: str | os.PathLike, split: str = "train"):
    """The scaffold's train.jsonl as a `datasets.Dataset` whose "images" column holds decoded images (paths are
    resolved against the folder, so the current directory does not matter): ready for TRL's SFTTrainer."""
    import datasets

    folder = Path(folder).resolve()
    ds = datasets.load_dataset("json", data_files=str(folder / "train.jsonl"), split=split)
    ds = ds.map(lambda row: {"images": [str(folder / p) for p in row["images"]]})
    seq = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 names it List
    return ds.cast_column("images", seq(datasets.Image()))


def report_rows(report: dict) -> list[dict]:
    rows = [{"reason": "kept", "count": report["kept"], "meaning": "passed every check"}]
    rows += [{"reason": r, "count": n, "meaning": REASONS.get(r, "")} for r, n in report["reasons"].items()]
    rows.append({"reason": "rejected (exemplars)", "count": report["rejected"],
                 "meaning": "an exemplar may fail several checks"})
    return rows


# ------------------------------------------------------------------------------------------------ the CLI


@hookimpl
def geobench_register_commands(cli):
    import click

    @cli.command("scaffold")
    @click.option("--task", "-t", "task_name", required=True, help="Task name (e.g. crossview_toy, geoloc_toy, scene_toy).")
    @click.option("--split", default="train", show_default=True, help="Split to turn into exemplars.")
    @click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
                  help="Output folder (new or empty): train.jsonl, images/, scaffold_report.json.")
    @click.option("--limit", type=int, default=None, help="Only the first N documents.")
    @click.option("--style", type=click.Choice(STYLES), default="short", show_default=True,
                  help="Template length: short (attributes -> answer), tiles (+ each tile), full (whole paradigm).")
    @click.option("--teacher-model", default=None, help="Let this model write the reasoning (given the answer).")
    @click.option("--teacher-backend", default="hf", show_default=True, help="Backend of the teacher (hf, vllm, openai, dummy...).")
    @click.option("--teacher-args", default=None, help="k=v,... passed to the teacher backend.")
    @click.option("--teacher-gen-kwargs", default=None, help="k=v,... generation settings (default max_new_tokens=1024).")
    @click.option("--task-args", default=None, help="k=v,... passed to the task (e.g. k=2, difficulty=easy).")
    @click.option("--tolerance-km", type=float, default=DEFAULT_TOLERANCE_KM, show_default=True,
                  help="A stated point farther than this from the truth is a contradiction.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Wording variants (full style), teacher sampling.")
    @click.option("--link-images", is_flag=True, help="Hard-link images into the folder instead of copying.")
    @click.option("--cues", default=None, help="Cross-view attributes the template names, e.g. climate (default all).")
    @click.option("--no-cache", is_flag=True, help="Do not read or write the response cache for teacher calls.")
    @click.option("--data-dir", default=None, envvar="GEOBENCH_DATA", help="Folder holding real benchmarks.")
    def scaffold_cmd(task_name, split, out, limit, style, teacher_model, teacher_backend, teacher_args,
                     teacher_gen_kwargs, task_args, tolerance_km, seed, link_images, cues, no_cache, data_dir):
        """Write fact-checked chain-of-thought SFT exemplars (Geo-R1's scaffolding data) for a task."""
        from geobench.cli import print_table

        if data_dir:
            os.environ["GEOBENCH_DATA"] = data_dir
        teacher = None
        if teacher_model is not None:
            teacher = {"model": teacher_model, "backend": teacher_backend, "args": teacher_args}
        elif teacher_args or teacher_gen_kwargs:
            raise GeobenchError("--teacher-args / --teacher-gen-kwargs need --teacher-model")
        report = scaffold(task_name, out, split=split, limit=limit, style=style, teacher=teacher, seed=seed,
                          tolerance_km=tolerance_km, teacher_gen=teacher_gen_kwargs, task_args=task_args,
                          link_images=link_images, use_cache=not no_cache, progress=True,
                          cues=[c.strip() for c in cues.split(",") if c.strip()] if cues else None)
        print_table(report_rows(report), ["reason", "count", "meaning"],
                    title=f"scaffold {report['task']} [{report['split']}] source={report['source']}"
                          + (f" style={report['style']}" if report["style"] else ""))
        click.echo(f"kept {report['kept']} of {report['n_docs']} -> {report['out']}/train.jsonl "
                   f"({report['seconds']['total']:.1f} s)")
