"""Scene reasoning: GeoChain's verifiable questions about a street view, one (image, question) pair per doc.

Tasks (group "scene"):
- `geochain`: the GeoChain benchmark (Yerramilli et al., EMNLP Findings 2025, arXiv 2506.00785) read from its
  published layout under `geobench.data.benchmark_dir("geochain")`;
- `scene_toy`: the same questions on the offline toy world, written in the GeoChain layout and read by the
  same loader;
- `SceneJSONL(path)`: any yes/no or multiple-choice scene questions from a JSONL file (Python API:
  `geobench.evaluate(model, [SceneJSONL("my.jsonl")])`).

Questions: GeoChain asks 21 questions per image (`data/questions.csv` of github.com/sahitiy/geochain). The 13
binary ones are verifiable: boats, vehicles, traffic lights, flag, near the Equator, near the Poles, Northern
Hemisphere, near the coast, island, desert, mountainous, big city, small town. Three multiple-choice ones are
verifiable too: continent (7 options), driving side (Left/Right) and climate (Tropical/Dry/Temperate/
Continental/Polar). The five free-text ones (country, languages, state, city, coordinates) are not used.
Question keys are the toy world's GEOCHAIN_FACTS names plus `continent`, `driving_side`, `climate`.

GeoChain layout (what the loader reads; the folder is `benchmark_dir("geochain")`):
```
<root>/
  {split}_samples_with_answers.csv   one row per image; default split "test"
  questions.csv                      optional; GeoChain's data/questions.csv (built-in copy if absent)
  images/<city>/<sub_folder>/images/<key>.jpg    (or images/<key>.jpg; .jpeg and .png also accepted)
```
Source, as published (github.com/sahitiy/geochain at 89f0d2f, and the dataset card of the Hugging Face
dataset sahitiy51/geochain): the sample CSVs (`data/test_samples.csv`, the card's `mini_test` / `test`
splits) have the columns `key, locatability_score, lat, lon, city, sub_folder, class_mapping,
sequence_key` and carry no answers. The answers come from the repo's `code/generate_answers.py`, which
writes the same CSV plus `answer_0` .. `answer_20` (question rank - 1), its README's example output being
`data/test_samples_with_answers.csv`. Its values: "Yes"/"No" for the binary questions ("Equator" for
Northern Hemisphere at lat 0), continent names, "Left"/"Right", climate names, and "Unknown" when its
per-city table has no answer. `code/geochain_dataset.py` reads images from `<root>/<city>/<sub_folder>/
images/<key>.jpg` (the Mapillary Street-level Sequences tree, so `images/` may be a symlink to MSLS's
`train_val/`). questions.csv has the columns `Rank, Difficulty, Question, Question Type, Question Category`;
multiple-choice options are read from its "Question Type", e.g. "Multiclass (Left/Right)".
What geobench chose (not published): the answers file is named `{split}_samples_with_answers.csv`;
answers "Unknown", "Equator" or blank are not verifiable and their docs are skipped; any other value that is
not a valid answer is a one-line error. GeoChain's example loader also crops the bottom 30 rows of each
image; geobench does not crop. The Hugging Face copy embeds images in parquet: export them as
`images/<key>.jpg` to use it here.

Prompt: the question, the answer format ("Answer yes or no." or lettered options A, B, ...), then Geo-R1's
suffix. GeoChain itself asks the 21 questions as one chain; geobench asks each verifiable question on its
own (Geo-R1's exact GeoChain prompt is not published).

Metrics per sample: `acc`, `acc_<question>` (only on that question's docs, so its mean is the per-question
accuracy), `parse_rate`, `format_rate` (Geo-R1's `<think>..</think><answer>..</answer>` fullmatch). The
aggregate adds `acc_macro` (mean of the per-question accuracies) and `acc_binary_macro` (the same over the 13
binary questions, Geo-R1's "13 verifiable geo-reasoning tasks"). Unparseable answers count as wrong.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from geobench import parse, toydata
from geobench.api import Doc, GenConfig, ImageRef, Task, mean_with_stderr, user
from geobench.data import DataError, benchmark_dir, missing, read_csv, read_jsonl, safe_join, skip
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

THINK_ANSWER = ("First output the thinking process in <think> </think> tags and then output the final answer in "
                "<answer> </answer> tags.")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
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


class SceneTask(Task):
    """Shared by every scene task: docs carry question, options and the true answer; one scorer for all.

    Doc fields: `question_key` (or None), `question`, `options` (None for yes/no), `answer` ("yes"/"no" or
    the option text) and `answer_letter` (None for yes/no).
    """

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


def _binary_truth(value: str) -> str | None:
    v = value.strip().lower()
    return v if v in ("yes", "no") else None


def _option_truth(value: str, options: Sequence[str]) -> int | None:
    low = [o.lower() for o in options]
    v = value.strip().lower()
    return low.index(v) if v in low else None


def _balanced(cands: list[tuple[int, str]], order: Sequence[str], cap: int | None) -> set[int]:
    """Rows to keep for one question: round robin over the answers (in `order`), up to `cap` rows in all.

    So the answers are as balanced as the minority allows, then the rest is filled from the majority.
    """
    if cap is None or cap >= len(cands):
        return {row for row, _ in cands}
    by_answer: dict[str, list[int]] = {a: [] for a in order}
    for row, ans in cands:
        by_answer.setdefault(ans, []).append(row)
    queues = [q for q in by_answer.values() if q]
    keep: set[int] = set()
    i = 0
    while len(keep) < cap:
        progressed = False
        for q in queues:
            if i < len(q) and len(keep) < cap:
                keep.add(q[i])
                progressed = True
        if not progressed:
            break
        i += 1
    return keep


class GeoChain(SceneTask):
    """GeoChain's 16 verifiable questions, read from its published layout (see the module docstring).

    `questions` picks a subset (e.g. `BINARY_KEYS`); `per_question` caps the docs per question, keeping the
    answers as balanced as possible (an int, or a mapping split -> int; None keeps everything).
    """

    name = "geochain"
    description = "GeoChain: 13 yes/no + continent, driving side, climate questions per street view"
    default_gen = GenConfig(max_new_tokens=1024)

    def __init__(self, folder: str | Path | None = None, split: str = "test",
                 questions: Iterable[str] = QUESTION_KEYS, per_question: int | Mapping[str, int] | None = None):
        self._folder = Path(folder) if folder is not None else None
        self.split = split
        self.questions = tuple(questions)
        unknown = [q for q in self.questions if q not in QUESTION_KEYS]
        if unknown:
            raise GeobenchError(f"unknown GeoChain question(s) {', '.join(unknown)}; known: {', '.join(QUESTION_KEYS)}")
        self.per_question = per_question

    @property
    def folder(self) -> Path:
        return self._folder if self._folder is not None else benchmark_dir("geochain")

    def answers_file(self, split: str | None = None) -> str:
        return f"{split or self.split}_samples_with_answers.csv"

    def data_status(self) -> str | None:
        return missing(self.folder, [self.answers_file(), "images"], GEOCHAIN_SOURCE)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "questions": list(self.questions), "per_question": self._cap(self.split)}

    def _cap(self, split: str) -> int | None:
        if isinstance(self.per_question, Mapping):
            return self.per_question.get(split)
        return self.per_question

    def question_table(self, folder: Path) -> dict[str, tuple[str, list[str] | None]]:
        """key -> (question, options): from <root>/questions.csv when present, else GeoChain's published one."""
        path = folder / "questions.csv"
        rows = {rank: (q, qtype) for rank, (_, _, q, qtype, _) in GEOCHAIN_QUESTIONS.items()}
        if path.exists():
            rows = {}
            for row in read_csv(path, ["Rank", "Question", "Question Type"]):
                try:
                    rows[int(row["Rank"])] = (row["Question"], row["Question Type"])
                except ValueError:
                    raise GeobenchError(f"{path}: Rank {row['Rank']!r} is not a number") from None
        table = {}
        for key in self.questions:
            if RANK[key] not in rows:
                raise GeobenchError(f"{path}: no question of rank {RANK[key]} ({key})")
            question, qtype = rows[RANK[key]]
            opts = options_of(qtype)
            if (opts is None) != (key in BINARY_KEYS):
                raise GeobenchError(f"{path}: question {RANK[key]} ({key}) should be "
                                    f"{'Binary' if key in BINARY_KEYS else 'Multiclass'}, found {qtype!r}")
            table[key] = (question, opts)
        return table

    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        split = split or self.split
        folder = self.folder
        status = missing(folder, [self.answers_file(split), "images"], GEOCHAIN_SOURCE)
        if status:
            raise GeobenchError(f"task {self.name!r}: {status}")
        table = self.question_table(folder)
        path = folder / self.answers_file(split)
        cols = {k: f"answer_{RANK[k] - 1}" for k in self.questions}
        rows = read_csv(path, ["key", *cols.values()])
        truths: dict[str, list[tuple[int, str]]] = {k: [] for k in self.questions}
        for i, row in enumerate(rows):
            for k in self.questions:
                value = row[cols[k]]
                if value.strip().lower() in NOT_VERIFIABLE:
                    continue
                opts = table[k][1]
                truth = _binary_truth(value) if opts is None else _option_truth(value, opts)
                if truth is None:
                    allowed = "Yes/No" if opts is None else "/".join(opts)
                    skip(DataError(f"{path}: row {i + 2}, {cols[k]} ({k}): {value!r} is not one of {allowed}",
                                   "bad answer"))
                    continue
                truths[k].append((i, truth if opts is None else opts[truth]))
        cap = self._cap(split)
        keep = {k: _balanced(truths[k], ["yes", "no"] if table[k][1] is None else table[k][1], cap)
                for k in self.questions}
        by_row: dict[int, dict[str, str]] = {}
        for k in self.questions:
            for row_i, ans in truths[k]:
                if row_i in keep[k]:
                    by_row.setdefault(row_i, {})[k] = ans
        if not by_row:
            raise GeobenchError(f"{path}: no verifiable answers for {', '.join(self.questions)}")
        images = folder / "images"
        n = 0
        for row_i in sorted(by_row):
            row = rows[row_i]
            try:
                image = ImageRef(path=str(self._image_path(images, row, path, row_i)))
            except DataError as e:
                for _ in by_row[row_i]:  # every question of the row is a skipped sample
                    skip(e)
                continue
            for k in self.questions:
                if k not in by_row[row_i]:
                    continue
                if limit is not None and n >= limit:
                    return
                question, opts = table[k]
                ans = by_row[row_i][k]
                yield Doc(id=f"{row['key']}/{k}", images=[image], fields={
                    "question_key": k, "question": question, "options": opts, "answer": ans,
                    "answer_letter": None if opts is None else LETTERS[opts.index(ans)], "image_id": row["key"]})
                n += 1

    @staticmethod
    def _image_path(images: Path, row: dict[str, str], where: Path, row_i: int) -> Path:
        """images/<city>/<sub_folder>/images/<key>.jpg (GeoChain's code), else images/<key>.jpg; any of
        .jpg/.jpeg/.png. Names from the CSV go through safe_join, so none can leave the dataset root."""
        key = row["key"]
        if not key:
            raise DataError(f"{where}: row {row_i + 2} has an empty key", "bad row")
        nested = []
        if row.get("city") and row.get("sub_folder"):
            nested = [f"{row['city']}/{row['sub_folder']}/images/{key}"]
        try:
            candidates = [safe_join(images, base + ext) for base in (*nested, key)
                          for ext in (".jpg", ".jpeg", ".png")]
        except DataError as e:
            raise DataError(f"{where}: row {row_i + 2}: {e}", e.reason) from None
        return next((c for c in candidates if c.is_file()), candidates[0])


class SceneToy(GeoChain):
    """GeoChain's questions on the toy world: images and answers written in GeoChain's layout by `export`,
    read by the GeoChain loader. The test split keeps 20 docs per question (answers balanced where the
    toy world allows: islands, deserts and the poles are rare), 320 docs in all; train keeps 400 per question.
    """

    name = "scene_toy"
    description = "toy-world GeoChain questions (13 yes/no + continent, driving side, climate), offline"
    default_gen = GenConfig(max_new_tokens=64)
    TOY_PER_QUESTION = {"test": 20, "train": 400}

    def __init__(self, folder: str | Path | None = None, split: str = "test",
                 questions: Iterable[str] = QUESTION_KEYS,
                 per_question: int | Mapping[str, int] | None = None):
        super().__init__(folder, split, questions, self.TOY_PER_QUESTION if per_question is None else per_question)

    @property
    def folder(self) -> Path:
        return self._folder if self._folder is not None else toydata.ensure("scene")

    def data_status(self) -> str | None:
        if self._folder is not None:
            return super().data_status()
        return None  # built on first use


class SceneJSONL(SceneTask):
    """Yes/no and multiple-choice scene questions from a JSONL file, one object per line:

    `{"id": ..., "image": "rel/path.png", "question": "...", "options": ["Left", "Right"] | null, "answer": ...}`

    `options: null` is a yes/no question (answer "yes"/"no" or a JSON bool); otherwise the answer is a letter
    ("B") or an option's text. Optional `"question_key"` gives per-question accuracy `acc_<question_key>`.
    Images are relative to `image_root` (default: the JSONL's folder) and may not leave it.
    """

    name = "scene_jsonl"
    description = "yes/no and multiple-choice scene questions from a JSONL file"

    def __init__(self, path: str | Path, name: str | None = None, image_root: str | Path | None = None,
                 max_new_tokens: int | None = None):
        self.path = Path(path)
        self.image_root = Path(image_root) if image_root is not None else self.path.parent
        if name:
            self.name = name
        if max_new_tokens:
            self.default_gen = GenConfig(max_new_tokens=max_new_tokens)

    def data_status(self) -> str | None:
        return None if self.path.is_file() else f"expected the JSONL file {self.path}"

    def config(self) -> dict[str, Any]:
        return {**super().config(), "path": str(self.path)}

    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        rows = read_jsonl(self.path, ["id", "image", "question", "options", "answer"])
        n = 0
        for i, row in enumerate(rows):
            if limit is not None and n >= limit:
                return
            try:
                doc = self._doc(row, i + 1)
            except DataError as e:
                skip(e)
                continue
            yield doc
            n += 1

    def _doc(self, row: dict, n: int) -> Doc:
        where = f"{self.path}: row {n}"
        image, question, opts, ans = row["image"], row["question"], row["options"], row["answer"]
        if not isinstance(image, str) or not isinstance(question, str) or not question.strip():
            raise DataError(f"{where}: image and question must be non-empty strings", "bad row")
        key = row.get("question_key")
        if key is not None and not (isinstance(key, str) and re.fullmatch(r"\w+", key)):
            raise DataError(f"{where}: question_key must be a word (letters, digits, _), got {key!r}", "bad row")
        if opts is None:
            truth = ("yes" if ans else "no") if isinstance(ans, bool) else _binary_truth(str(ans))
            if truth is None:
                raise DataError(f"{where}: a yes/no question (options null) needs answer yes or no, got {ans!r}",
                                "bad answer")
            letter = None
        else:
            if (not isinstance(opts, list) or not 2 <= len(opts) <= len(LETTERS)
                    or not all(isinstance(o, str) and o.strip() for o in opts)):
                raise DataError(f"{where}: options must be null or a list of 2-26 non-empty strings", "bad row")
            idx = _option_truth(str(ans), opts)
            if idx is None and isinstance(ans, str) and re.fullmatch(rf"[{LETTERS[:len(opts)]}]", ans.strip()):
                idx = LETTERS.index(ans.strip())
            if idx is None:
                raise DataError(f"{where}: answer {ans!r} is neither an option letter nor an option's text",
                                "bad answer")
            truth, letter = opts[idx], LETTERS[idx]
        try:
            ref = ImageRef(path=str(safe_join(self.image_root, image)))
        except DataError as e:
            raise DataError(f"{where}: {e}", e.reason) from None
        return Doc(id=str(row["id"]), images=[ref],
                   fields={"question_key": key, "question": question.strip(), "options": opts, "answer": truth,
                           "answer_letter": letter, "image_id": image})


# ------------------------------------------------------------------------------------------- toy export

TOY_WORLD_SEED = 0
SAMPLE_COLUMNS = ("key", "locatability_score", "lat", "lon", "city", "sub_folder", "class_mapping", "sequence_key")


def split_seed(seed: int, split: str) -> int:
    """A stable sampling seed per (dataset seed, split), so splits never share places."""
    return zlib.crc32(f"scene/{seed}/{split}".encode())


def toy_places(n: int, seed: int, split: str):
    """The places of one toy split: what `export` writes, in order (also used by tests)."""
    from geobench.tasks.toyworld import World

    return World(TOY_WORLD_SEED).sample_places(n, seed=split_seed(seed, split))


def toy_answers(place) -> dict[str, str]:
    """GeoChain's answer columns (answer_0 .. answer_20) for a toy place, with GeoChain's spellings."""
    yes_no = {k: "Yes" if v else "No" for k, v in place.geochain().items()}
    by_key = {**yes_no, "continent": place.continent or "Unknown",
              "driving_side": (place.driving_side or "Unknown").capitalize(), "climate": place.climate.capitalize(),
              "_country": place.country_name or "Unknown", "_languages": "Unknown", "_state": "Unknown",
              "_city": place.nearest_city, "_coordinates": f"{place.lat:.4f}, {place.lon:.4f}"}
    return {f"answer_{rank - 1}": by_key[v[0]] for rank, v in GEOCHAIN_QUESTIONS.items()}


def _class_mapping(place) -> str:
    """GeoChain's per-image segmentation classes, as presence markers only (values are not pixel shares)."""
    present = {"boat": place.boats, "car": place.vehicles, "traffic light": place.traffic_lights, "flag": place.flag,
               "road, route": place.road, "building": place.settlement != "rural", "sky": True}
    return json.dumps({k: 1.0 for k, v in present.items() if v})


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def export(folder: Path, splits: dict[str, int], seed: int) -> None:
    """Write the toy scene dataset in GeoChain's layout: questions.csv (the toy world's continents as the
    continent options), {split}_samples_with_answers.csv and images/<city>/query/images/<key>.png, where
    city is the country code. Ground truth is `Place.geochain()` plus continent, driving side and climate."""
    from geobench.tasks.toyworld import CLIMATES, World, render_ground

    world = World(TOY_WORLD_SEED)
    qrows = []
    for rank, (key, diff, question, qtype, cat) in GEOCHAIN_QUESTIONS.items():
        if key == "continent":
            qtype = f"Multiclass ({len(world.continents)} continents: {'/'.join(world.continents)})"
        elif key == "climate":
            qtype = f"Multiclass ({len(CLIMATES)} main climate types: {'/'.join(c.capitalize() for c in CLIMATES[::-1])})"
        qrows.append((rank, diff, question, qtype, cat))
    (folder / "questions.csv").write_text(
        _csv_text(("Rank", "Difficulty", "Question", "Question Type", "Question Category"), qrows), encoding="utf-8")
    answer_cols = [f"answer_{rank - 1}" for rank in GEOCHAIN_QUESTIONS]
    for split, n in splits.items():
        rows = []
        for i, place in enumerate(toy_places(n, seed, split)):
            key = f"toy-{split}-{i:05d}"
            city = (place.country_code or "sea").lower()
            out = folder / "images" / city / "query" / "images"
            out.mkdir(parents=True, exist_ok=True)
            render_ground(world, place, seed=split_seed(seed, split)).save(out / f"{key}.png", optimize=False)
            answers = toy_answers(place)
            rows.append([key, "", repr(place.lat), repr(place.lon), city, "query", _class_mapping(place), key,
                         *(answers[c] for c in answer_cols)])
        (folder / f"{split}_samples_with_answers.csv").write_text(
            _csv_text((*SAMPLE_COLUMNS, *answer_cols), rows), encoding="utf-8")




@hookimpl
def geobench_register_toy_datasets(register):
    register("scene", export)


@hookimpl
def geobench_register_tasks(register):
    register(SceneToy)
    register(GeoChain)
