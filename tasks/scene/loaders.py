"""The scene benchmarks: GeoChain in its published layout, and any yes/no or multiple-choice questions from
a JSONL file (`SceneJSONL`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from geobench.api import Doc, GenConfig, HubSource, ImageRef
from geobench.data import DataError, missing, read_csv, read_jsonl, safe_join, skip
from geobench.errors import GeobenchError

from .task import (
    BINARY_KEYS,
    GEOCHAIN_QUESTIONS,
    GEOCHAIN_SOURCE,
    LETTERS,
    NOT_VERIFIABLE,
    QUESTION_KEYS,
    RANK,
    SceneTask,
    binary_truth,
    option_truth,
    options_of,
)


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
    """GeoChain's 16 verifiable questions (Yerramilli et al., EMNLP Findings 2025, arXiv 2506.00785), read from
    its published layout under `geobench.data.benchmark_dir("geochain")`.

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

    `questions` picks a subset (e.g. `BINARY_KEYS`); `per_question` caps the docs per question, keeping the
    answers as balanced as possible (an int, or a mapping split -> int; None keeps everything).
    """

    name = "geochain"
    description = "GeoChain: 13 yes/no + continent, driving side, climate questions per street view"
    default_gen = GenConfig(max_new_tokens=1024)
    splits = ("test", "mini_test")  # the dataset card's; any split with a {split}_samples_with_answers.csv works
    source = HubSource(
        repo_id="sahitiy51/geochain", homepage="https://github.com/sahitiy/geochain",
        confirmed="repo id; the answers are made by code/generate_answers.py from data/test_samples.csv and "
                  "data/per_city_answers.csv (github.com/sahitiy/geochain at 89f0d2f)",
        unconfirmed="the Hub copy's file names (images embedded in parquet) and licence; so not pulled yet")
    source_note = GEOCHAIN_SOURCE
    image_facts = True

    def __init__(self, root: str | Path | None = None, split: str = "test",
                 questions: Iterable[str] = QUESTION_KEYS, per_question: int | Mapping[str, int] | None = None,
                 *, folder: str | Path | None = None):
        if root is not None and folder is not None:
            raise GeobenchError(f"{type(self).__name__}: give root= or folder= (its old name), not both")
        root = root if root is not None else folder
        super().__init__(Path(root) if root is not None else None)
        self.split = split
        if split not in self.splits:
            self.splits = (*self.splits, split)
        self.questions = tuple(questions)
        unknown = [q for q in self.questions if q not in QUESTION_KEYS]
        if unknown:
            raise GeobenchError(f"unknown GeoChain question(s) {', '.join(unknown)}; known: {', '.join(QUESTION_KEYS)}")
        self.per_question = per_question

    @property
    def folder(self) -> Path:
        """The dataset folder: root()."""
        return self.root()

    def source_text(self) -> str:
        return self.source_note

    def answers_file(self, split: str | None = None) -> str:
        return f"{split or self.split}_samples_with_answers.csv"

    def expected(self, split: str) -> list[str]:
        return [self.answers_file(split), "images"]

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

    def load(self, split: str) -> Iterable[Doc]:
        return self.docs(split)

    def scaffold_rows(self, split: str) -> dict[str, dict[str, str]]:
        return {row["key"]: row for row in read_csv(self.root() / self.answers_file(split), ["key"])}

    def docs(self, split: str | None = None, limit: int | None = None) -> Iterable[Doc]:
        split = split or self.split
        folder = self.root()
        status = missing(folder, self.expected(split), self.source_text())
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
                truth = binary_truth(value) if opts is None else option_truth(value, opts)
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


class SceneJSONL(SceneTask):
    """Yes/no and multiple-choice scene questions from a JSONL file, one object per line:

    `{"id": ..., "image": "rel/path.png", "question": "...", "options": ["Left", "Right"] | null, "answer": ...}`

    `options: null` is a yes/no question (answer "yes"/"no" or a JSON bool); otherwise the answer is a letter
    ("B") or an option's text. Optional `"question_key"` gives per-question accuracy `acc_<question_key>`.
    Images are relative to `image_root` (default: the JSONL's folder) and may not leave it.
    """

    name = "scene_jsonl"
    description = "yes/no and multiple-choice scene questions from a JSONL file"
    source_note = "a local JSONL file you point to"

    def __init__(self, path: str | Path, name: str | None = None, image_root: str | Path | None = None,
                 max_new_tokens: int | None = None):
        super().__init__(Path(path).parent)
        self.path = Path(path)
        self.image_root = Path(image_root) if image_root is not None else self.path.parent
        if name:
            self.name = name
        if max_new_tokens:
            self.default_gen = GenConfig(max_new_tokens=max_new_tokens)

    def expected(self, split: str) -> list[str]:
        return [self.path.name]

    def data_status(self) -> str | None:
        return None if self.path.is_file() else f"expected the JSONL file {self.path}"

    def load(self, split: str) -> Iterable[Doc]:
        return self.docs(split)

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
            truth = ("yes" if ans else "no") if isinstance(ans, bool) else binary_truth(str(ans))
            if truth is None:
                raise DataError(f"{where}: a yes/no question (options null) needs answer yes or no, got {ans!r}",
                                "bad answer")
            letter = None
        else:
            if (not isinstance(opts, list) or not 2 <= len(opts) <= len(LETTERS)
                    or not all(isinstance(o, str) and o.strip() for o in opts)):
                raise DataError(f"{where}: options must be null or a list of 2-26 non-empty strings", "bad row")
            idx = option_truth(str(ans), opts)
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
