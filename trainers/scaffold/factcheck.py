"""The scaffold's fact-check: the reasons an exemplar (template or teacher) contradicts its document's metadata.

Geo-R1 keeps a synthetic reasoning trace only if a "fact-check engine" finds its key entities (coordinates,
names, climate) agree with the metadata; `fact_check` is that engine, the same for every source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from geobench import geo, parse
from geobench.api import Truth
from geobench.trainers.scaffold.settings import DEFAULT_TOLERANCE_KM

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
CLIMATE_WORDS = {"polar": "polar", "arctic": "polar", "tundra": "polar", "continental": "continental",
                 "temperate": "temperate", "dry": "dry", "arid": "dry", "semi-arid": "dry", "tropical": "tropical"}
_NEGATION = re.compile(r"\b(?:not|no|isn't|aren't|unlike|than|instead|excluding|excludes?|rul(?:e|es|ing) out)\W+"
                       r"(?:\w+\W+){0,2}$", re.I)
_CLAUSES = re.compile(r"(?<=[.!?;])\s+|\n+")
_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.S)
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.S)


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


def default_extract(truth: Truth) -> Callable[[str], Any]:
    """The answer parser of a letter / yes-no truth when the task's own `extract` is not given: the core parsers
    (cross-view and multiple choice: `parse.choice`; binary: `parse.yes_no`)."""
    if truth.kind == "crossview":
        return lambda text: parse.choice(text, truth.n_letters)
    if truth.options is None:
        return parse.yes_no
    return lambda text: parse.choice(text, len(truth.options))


def fact_check(text: str, truth: Truth, extract: Callable[[str], Any] | None = None) -> list[str]:
    """The reasons (keys of REASONS) why an exemplar contradicts its metadata; [] keeps it.

    `extract(text)`: the task's answer parser for letter and yes/no truths (`scaffold` passes the task's
    `extract(doc, text)`, so a task's own answer forms count), default `default_extract(truth)`.

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
    if truth.kind in ("crossview", "scene"):
        chosen = (extract or default_extract(truth))(text)
        bad = "wrong_answer" if truth.kind == "scene" and truth.options is None else "wrong_letter"
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

