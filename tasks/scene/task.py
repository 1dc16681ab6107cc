"""Scene reasoning: verifiable questions about a street view (GeoChain's), one (image, question) per doc.

`SceneTask` owns the prompt (the question, the answer format, Geo-R1's think/answer suffix), answer parsing
and the metrics: per sample `acc`, `acc_<question>` (only on that question's docs), `parse_rate`,
`format_rate`; the aggregate adds `acc_macro` (mean of the per-question accuracies) and `acc_binary_macro`
(the same over the 13 binary questions, Geo-R1's "13 verifiable geo-reasoning tasks"). Unparseable answers
count as wrong. GeoChain's 16 verifiable questions (of its 21) are the table below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from geobench import parse
from geobench.api import BenchmarkTask, Doc, GenConfig, ScaffoldItem, Truth, mean_with_stderr, user
from geobench.errors import GeobenchError
from geobench.parse import LETTERS, THINK_ANSWER

GEOCHAIN_SOURCE = ("images: https://huggingface.co/datasets/sahitiy51/geochain; answers: code/generate_answers.py "
                   "of https://github.com/sahitiy/geochain")

# GeoChain's 21 questions (data/questions.csv): rank -> (key, difficulty, question, question type, category).
# Keys of the unverifiable free-text questions start with "_" and are never asked.
GEOCHAIN_QUESTIONS: dict[int, tuple[str, str, str, str, str]] = {
    1: ("boats", "Easy", "Do you see any boats or ships?", "Binary", "Visual Cues"),
    2: ("vehicles", "Easy", "Do you see one or more of the following vehicles: Bus, Truck, Car, Van, Motorbike, "
        "Minibike, Bicycle?", "Binary", "Visual Cues"),
    3: ("traffic_lights", "Easy", "Can you see any traffic lights?", "Binary", "Visual Cues"),
    4: ("flag", "Easy", "Can you see any flag?", "Binary", "Visual Cues"),
    5: ("near_equator", "Easy", "Would you say this location is near the Equator?", "Binary",
        "Geographical localization"),
    6: ("near_poles", "Easy", "Does this location seem to be close to the Poles?", "Binary",
        "Geographical localization"),
    7: ("northern_hemisphere", "Easy", "Is this place located in the Northern Hemisphere?", "Binary",
        "Geographical localization"),
    8: ("continent", "Easy", "Which continent best describes where this location is?",
        "Multiclass (7 continents: North America/South America/Europe/Africa/Asia/Oceania/Antarctica)",
        "Geographical localization"),
    9: ("driving_side", "Medium", "What side of the road do vehicles drive on here?", "Multiclass (Left/Right)",
        "Culture/Infrastructure"),
    10: ("_country", "Medium", "What country is this place located in?", "Free-text", "Geographical localization"),
    11: ("near_coast", "Medium", "Is this place near coast?", "Binary", "Terrain/Environment"),
    12: ("island", "Medium", "Does this location appear to be an island?", "Binary", "Terrain/Environment"),
    13: ("desert", "Easy", "Is this place located in a desert region?", "Binary", "Terrain/Environment"),
    14: ("mountainous", "Easy", "Does this location seem to be in a mountainous or hilly region?", "Binary",
         "Terrain/Environment"),
    15: ("climate", "Medium", "What is the most likely climate type for this location?",
         "Multiclass (5 main climate types: Tropical/Dry/Temperate/Continental/Polar)", "Terrain/Environment"),
    16: ("big_city", "Easy", "Does this place look like a big city?", "Binary", "Culture/Infrastructure"),
    17: ("small_town", "Medium", "Would you classify this place as a small town?", "Binary",
         "Culture/Infrastructure"),
    18: ("_languages", "Hard", "What language(s) are most likely spoken at this place?", "Free-text",
         "Culture/Infrastructure"),
    19: ("_state", "Hard", "Can you name the state or province this place belongs to?", "Free-text",
         "Geographical localization"),
    20: ("_city", "Hard", "What is the name of the city, town, or village seen here?", "Free-text",
         "Geographical localization"),
    21: ("_coordinates", "Hard", "Based on everything observed, what are the latitude and longitude coordinates of "
         "this place? Please give a tuple of float coordinates (lat, lon)", "Free-text", "Exact Location"),
}
RANK = {v[0]: rank for rank, v in GEOCHAIN_QUESTIONS.items()}
QUESTION_KEYS = tuple(v[0] for v in GEOCHAIN_QUESTIONS.values() if not v[0].startswith("_"))
BINARY_KEYS = tuple(v[0] for v in GEOCHAIN_QUESTIONS.values() if v[3] == "Binary")
MC_KEYS = tuple(k for k in QUESTION_KEYS if k not in BINARY_KEYS)
NOT_VERIFIABLE = {"", "unknown", "equator", "nan", "n/a", "none"}  # answers that are skipped, not errors

# Other names a model may use for an option (whole words, case-insensitive). Small on purpose.
ALIASES = {"oceania": ("australia", "australasia"), "dry": ("arid", "semi-arid"), "polar": ("arctic", "tundra")}

# ---------------------------------------------------------------------------------------------- parsing


def options_of(question_type: str) -> list[str] | None:
    """Options from a GeoChain "Question Type": "Multiclass (5 main climate types: Tropical/Dry/...)" ->
    ["Tropical", "Dry", ...]; "Binary" -> None."""
    if question_type.strip().lower() == "binary":
        return None
    m = re.search(r"\((?:[^():]*:)?([^()]*)\)\s*$", question_type)
    opts = [o.strip() for o in m.group(1).split("/")] if m else []
    if len(opts) < 2 or any(not o for o in opts):
        raise GeobenchError(f"cannot read the options of question type {question_type!r}")
    return opts


REAL_CONTINENTS = frozenset(options_of(GEOCHAIN_QUESTIONS[RANK["continent"]][3]))  # GeoChain's 7 continents


def _names(option: str) -> tuple[str, ...]:
    return (option.lower(), *ALIASES.get(option.lower(), ()))


def _mentioned(text: str, options: Sequence[str]) -> set[int]:
    """Indices of the options whose text (or an alias) appears in `text` as whole words."""
    low = text.lower()
    found = set()
    for i, opt in enumerate(options):
        for name in _names(opt):
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", low):
                found.add(i)
                break
    # "North America" also contains "America"-like shorter options: keep the longest mention only.
    for i in list(found):
        if any(j != i and options[i].lower() in options[j].lower() for j in found):
            found.discard(i)
    return found


def parse_choice(text: str, options: Sequence[str]) -> str | None:
    """The chosen letter among `options` (A, B, ...), or None when absent or ambiguous.

    Accepted: a letter ("B", "(B)", "B."), a letter with its option ("B. Dry"), the option text or an alias
    ("dry", "They drive on the left"), "the answer is B" / "option B". Two different options named, or a letter
    that disagrees with the option text next to it, are ambiguous.
    """
    n = len(options)
    letters = LETTERS[:n]
    s = parse.answer(text).strip()
    if not s or not n:
        return None
    m = re.fullmatch(rf"[\(\[]?\s*([{letters}])\s*[\)\].:]?", s, re.I)
    if m:
        return m.group(1).upper()
    m = re.match(rf"[\(\[]?([{letters}])\s*[\)\].:\-\u2013]\s*(.+)", s, re.I | re.S)
    if m:
        letter = m.group(1).upper()
        named = _mentioned(m.group(2), options)
        return letter if not named or named == {letters.index(letter)} else None
    named = _mentioned(s, options)
    if len(named) == 1:
        return letters[named.pop()]
    if named:
        return None
    m = re.search(rf"(?i:answer|option|choice)\s*(?i:is)?\s*:?\s*[\(\[]?([{letters}])(?![A-Za-z])", s)
    if m:
        return m.group(1)
    return parse.choice(s, n)


def parse_answer(text: str, options: Sequence[str] | None) -> str | None:
    """"yes"/"no" for a binary question (options None), else the chosen letter; None if unparseable."""
    return parse.yes_no(text) if options is None else parse_choice(text, options)


def prompt_text(question: str, options: Sequence[str] | None) -> str:
    """The user text: the question, the answer format, then Geo-R1's think/answer instruction."""
    if options is None:
        return f"{question} Answer yes or no.\n{THINK_ANSWER}"
    lines = [question, *(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options))]
    span = f"{LETTERS[0]}-{LETTERS[len(options) - 1]}"
    return "\n".join(lines) + f"\nAnswer with the letter of the correct option ({span}).\n{THINK_ANSWER}"


# ------------------------------------------------------------------------------------------------- tasks


class SceneTask(BenchmarkTask):
    """Shared by every scene task: docs carry question, options and the true answer; one scorer for all.

    Doc fields: `question_key` (or None), `question`, `options` (None for yes/no), `answer` ("yes"/"no" or
    the option text) and `answer_letter` (None for yes/no).
    """

    image_facts: ClassVar[bool] = False  # its metadata says what each image shows (GeoChain's answer columns)

    group = "scene"
    version = "1.0"
    higher_is_better = {"acc": True, "acc_macro": True, "acc_binary_macro": True, "parse_rate": True,
                        "format_rate": True, **{f"acc_{k}": True for k in QUESTION_KEYS}}
    default_gen = GenConfig(max_new_tokens=1024)

    def to_messages(self, doc: Doc) -> list[dict]:
        return user(doc.images[0], prompt_text(doc.fields["question"], doc.fields["options"]))

    def extract(self, doc: Doc, completion: str) -> str | None:
        return parse_answer(completion, doc.fields["options"])

    def score(self, doc: Doc, completion: str) -> dict[str, float]:
        pred = self.extract(doc, completion)
        f = doc.fields
        truth = f["answer"] if f["options"] is None else f["answer_letter"]
        acc = float(pred is not None and pred == truth)
        out = {"acc": acc}
        if f.get("question_key"):
            out[f"acc_{f['question_key']}"] = acc
        out["parse_rate"] = float(pred is not None)
        out["format_rate"] = float(parse.is_think_answer(completion))
        return out

    # ------------------------------------------------------------------------------------ scaffolding
    def scaffold_items(self, split: str = "train", limit: int | None = None, *,
                       need_template: bool = True) -> list[ScaffoldItem]:
        """Each doc with the facts its image's metadata row gives (every answer known for the image)."""
        if need_template and not self.image_facts:
            raise GeobenchError(f"task {self.name!r}: its metadata holds only the answer of each question, not the "
                                "image's attributes the templates need", hint="use a teacher: --teacher-model M "
                                "--teacher-backend B")
        docs = list(self.docs(split, limit))
        rows = self.scaffold_rows(split)
        items = []
        for d in docs:
            facts = answer_facts(rows.get(str(d.fields.get("image_id")), {}))
            vocab = self.scaffold_place(facts)
            opts = d.fields.get("options")
            answer = d.fields["answer"] if opts is None else d.fields["answer_letter"]
            truth = Truth("scene", answer, options=opts, country=facts.get("country"), city=facts.get("city"),
                          continent=facts.get("continent"), climate=facts.get("climate"), vocab=vocab)
            hint = answer if opts is None else f"{answer} ({d.fields['answer']})"
            items.append(ScaffoldItem(d, facts, truth, hint))
        return items

    def scaffold_rows(self, split: str) -> dict[str, dict[str, str]]:
        """The metadata row of each image id (GeoChain: its answer columns); none by default."""
        return {}

    def scaffold_place(self, facts: dict[str, Any]) -> dict[str, frozenset[str]]:
        """Add what is known at the image's point to `facts`; return the closed name lists to check against."""
        return {"continent": REAL_CONTINENTS}

    def aggregate(self, per_sample: list[dict[str, float]]) -> dict[str, float]:
        """Micro `acc`, per-question `acc_<q>`, and their macro means (acc_macro, acc_binary_macro)."""
        agg = mean_with_stderr(per_sample)
        per_q = {k[4:]: v for k, v in agg.items() if k.startswith("acc_") and not k.endswith("_stderr")}
        out: dict[str, float] = {"acc": agg["acc"]}
        if per_q:
            out["acc_macro"] = sum(per_q.values()) / len(per_q)
        binary = [per_q[k] for k in BINARY_KEYS if k in per_q]
        if binary:
            out["acc_binary_macro"] = sum(binary) / len(binary)
        for k in ("parse_rate", "format_rate"):
            out[k] = agg[k]
        ordered = [k for k in QUESTION_KEYS if k in per_q] + sorted(k for k in per_q if k not in QUESTION_KEYS)
        for k in ordered:
            out[f"acc_{k}"] = per_q[k]
        out.update({k: v for k, v in agg.items() if k.endswith("_stderr")})
        return out


def binary_truth(value: str) -> str | None:
    v = value.strip().lower()
    return v if v in ("yes", "no") else None


def option_truth(value: str, options: Sequence[str]) -> int | None:
    low = [o.lower() for o in options]
    v = value.strip().lower()
    return low.index(v) if v in low else None


def _flag(v: Any) -> bool | None:
    """A metadata yes/no as a bool (True/False also as 1/0, true/false); anything else None."""
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes"):
        return True
    if s in ("0", "false", "no"):
        return False
    return None


def answer_facts(row: dict[str, str]) -> dict[str, Any]:
    """The facts a GeoChain answers row states (answer_0 .. answer_20), by question key; unknowns left out."""
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
    return facts
