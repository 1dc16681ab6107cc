"""Geo-R1's released rewards (VLM-R1 `grpo_jsonl.py` at 9bd0560), with geobench's fixes next to them.

format            1.0 if the whole completion fullmatches `<think>.*?</think>\\s*<answer>.*?</answer>` (re.DOTALL),
                  else 0.0: the released `format_reward` exactly (no stripping), in linear time.
accuracy          choice-letter tasks: 1.0 if `parse.choice(completion, k)` equals the `answer` column, else 0.0
                  (`k` column if present, else 4; None where `answer` is missing); `accuracy_signed`: +1 / -1
                  (the paper's r_acc); `accuracy_released`: the released `mcq_reward` parser (`extract_choice`).
length            the released `cosine_rewards`: r = 1 - 0.25 * (1 - cos(pi * L / 1024)), L in tokens (periodic:
                  a 2048-token runaway earns as much as an empty answer); `length_monotone`: geobench's fix, the
                  same cosine down to 0.5 at 1024 tokens, then 0.5 for every longer completion.
repetition        the released `repetition_reward`: -(1 - #unique word 6-grams / #word 6-grams), in [-1, 0],
                  with the released JSON branch (see `repetition_penalty`).

Token count L: the tokenizer's count when `make_length(tokenizer=...)` is given; else `len(completion_ids[i])`
when TRL passes them; else ceil(characters / 4) (CHARS_PER_TOKEN). Sources: /work/shared/notes/geo-r1.md §3.2-3.3.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from geobench import parse
from geobench.errors import GeobenchError
from geobench.parse import LETTERS
from geobench.rewards import RewardFunction, column, column_k

CHARS_PER_TOKEN = 4.0
LENGTH_PERIOD = 1024  # the released `cosine_max_len`: the cosine's half period, in tokens
REPETITION_NGRAM = 6


# -------------------------------------------------------------------------------------------- format

_THINK_ANSWER_GAP = re.compile(r"</think>\s*<answer>")


def think_answer_format(text: str) -> bool:
    """Exactly `re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)` (the released
    format reward), in linear time: the text starts with `<think>`, ends with `</answer>`, and a
    `</think>\\s*<answer>` lies wholly between the two (the regex backtracks quadratically on long texts
    with many tags)."""
    text = text or ""
    return (text.startswith("<think>") and text.endswith("</answer>")
            and _THINK_ANSWER_GAP.search(text, 7, len(text) - 9) is not None)


class FormatReward(RewardFunction):
    def one(self, text, i, columns):
        return 1.0 if think_answer_format(text) else 0.0


# ------------------------------------------------------------------------------------------ accuracy


def released_answer(content: str) -> str:
    """The released `mcq_reward`'s student answer: the FIRST `<answer>..</answer>` block (DOTALL), stripped,
    else the whole stripped content. Linear: if the first `<answer>` has no `</answer>` after it, none has."""
    start = content.find("<answer>")
    if start != -1:
        end = content.find("</answer>", start + 8)
        if end != -1:
            return content[start + 8:end].strip()
    return content.strip()


_RELEASED_CHOICE = re.compile(r"(?<![A-Z])([A-Z])(?=[\.\,\?\!\:\;]|$)")
_RELEASED_KEYWORDS = ("答案", "选择", "正确", "是", "对", "answer", "correct", "choose", "select", "right",
                      "认为", "应该", "觉得", "think", "believe", "should")


def extract_choice(text: str) -> str | None:
    """VLM-R1's `extract_choice`, as released (keep the quirks: it scores each letter by the context of its
    first occurrence anywhere in the text, e.g. inside a word; ties go to the first letter found)."""
    text = re.sub(r"\s+", " ", text.upper())
    choices = _RELEASED_CHOICE.findall(text)
    if not choices:
        return None
    if len(choices) == 1:
        return choices[0]
    scores = dict.fromkeys(choices, 0)
    for c in choices:
        pos = text.find(c)
        context = text[max(0, pos - 20):min(len(text), pos + 20)]
        scores[c] += sum(k.upper() in context for k in _RELEASED_KEYWORDS)
        if pos > len(text) * 0.7:
            scores[c] += 2
        if pos < len(text) - 1 and text[pos + 1] in "。.!！,，":
            scores[c] += 1
    return max(scores.items(), key=lambda kv: kv[1])[0]


class AccuracyReward(RewardFunction):
    def __init__(self, name: str, values: str = "binary", parser: str = "geobench"):
        super().__init__(name)
        if values not in ("binary", "signed"):
            raise GeobenchError(f"accuracy values must be 'binary' or 'signed', got {values!r}")
        if parser not in ("geobench", "released"):
            raise GeobenchError(f"accuracy parser must be 'geobench' or 'released', got {parser!r}")
        self.values, self.parser = values, parser

    def one(self, text, i, columns):
        truth = column(columns, "answer", i)
        if truth is None:
            return None
        if self.parser == "released":
            gt = extract_choice(released_answer(str(truth)))
            chosen = extract_choice(released_answer(text))
        else:
            gt = parse.choice(str(truth), len(LETTERS))
            chosen = parse.choice(text, column_k(column(columns, "k", i)))
        if gt is None:
            return None
        right = chosen is not None and chosen == gt
        if self.values == "binary":
            return 1.0 if right else 0.0
        return 1.0 if right else -1.0


def make_accuracy(values: str = "binary", parser: str = "geobench", name: str | None = None) -> AccuracyReward:
    """A choice-letter accuracy reward against the `answer` column (and `k`, default 4).

    values: "binary" -> {0, 1} (released code), "signed" -> {-1, +1} (paper). parser: "geobench"
    (`parse.choice`, last answer block, ambiguous = no answer; agrees with the tasks' `acc`) or "released"
    (`mcq_reward` + `extract_choice`, see `accuracy_released`).
    """
    default = "accuracy" + ("_signed" if values == "signed" else "") + ("_released" if parser == "released" else "")
    return AccuracyReward(name or default, values, parser)


# -------------------------------------------------------------------------------------------- length


def cosine_length(n_tokens: float, period: float = LENGTH_PERIOD, max_value: float = 1.0,
                  min_value: float = 0.5) -> float:
    """The released `cosine_reward` with acc_reward = 1: max - (max - min) * (1 - cos(pi * L / period)) / 2.
    Defaults: 1 - 0.25 * (1 - cos(pi * L / 1024)); periodic with period 2 * period."""
    return max_value - (max_value - min_value) * (1 - math.cos(math.pi * n_tokens / period)) / 2


def monotone_length(n_tokens: float, period: float = LENGTH_PERIOD, target: float = 0, max_value: float = 1.0,
                    min_value: float = 0.5) -> float:
    """max_value up to `target` tokens, the same cosine half-wave down to min_value at `period` tokens, then
    min_value forever. target = 0 equals `cosine_length` on [0, period]."""
    x = min(max((n_tokens - target) / (period - target), 0.0), 1.0)
    return max_value - (max_value - min_value) * (1 - math.cos(math.pi * x)) / 2


class LengthReward(RewardFunction):
    def __init__(self, name: str, kind: str = "cosine", period: float = LENGTH_PERIOD, target: float = 0,
                 max_value: float = 1.0, min_value: float = 0.5, tokenizer: Any = None,
                 chars_per_token: float = CHARS_PER_TOKEN):
        super().__init__(name)
        if kind not in ("cosine", "monotone"):
            raise GeobenchError(f"length kind must be 'cosine' or 'monotone', got {kind!r}")
        if not period > 0 or not 0 <= target < period or not chars_per_token > 0:
            raise GeobenchError(f"length reward needs period > 0, 0 <= target < period and chars_per_token > 0 "
                                f"(got period={period}, target={target}, chars_per_token={chars_per_token})")
        if kind == "cosine" and target:
            raise GeobenchError("length kind 'cosine' (the released formula) has no target; use kind='monotone'")
        self.kind, self.period, self.target = kind, float(period), float(target)
        self.max_value, self.min_value = float(max_value), float(min_value)
        self.tokenizer, self.chars_per_token = tokenizer, float(chars_per_token)

    def n_tokens(self, text: str, ids: Any) -> int:
        """Tokenizer count if given (released), else len(completion_ids) if TRL passed them, else chars / 4."""
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text))
        if ids is not None and not isinstance(ids, str | bytes):
            try:
                return len(ids)
            except TypeError:
                pass
        return math.ceil(len(text) / self.chars_per_token)

    def value(self, n_tokens: float) -> float:
        if self.kind == "cosine":
            return cosine_length(n_tokens, self.period, self.max_value, self.min_value)
        return monotone_length(n_tokens, self.period, self.target, self.max_value, self.min_value)

    def one(self, text, i, columns):
        return self.value(self.n_tokens(text, column(columns, "completion_ids", i)))


def make_length(kind: str = "cosine", period: float = LENGTH_PERIOD, target: float = 0, max_value: float = 1.0,
                min_value: float = 0.5, tokenizer: Any = None, chars_per_token: float = CHARS_PER_TOKEN,
                name: str | None = None) -> LengthReward:
    """A length reward. kind "cosine": the released periodic formula (`cosine_length`); "monotone": 1.0 up to
    `target` tokens, cosine down to 0.5 at `period` tokens, then 0.5 (`monotone_length`). `tokenizer`: count
    tokens exactly as the released code (`len(tokenizer.encode(text))`) instead of using completion_ids."""
    return LengthReward(name or ("length" if kind == "cosine" else f"length_{kind}"), kind, period, target,
                        max_value, min_value, tokenizer, chars_per_token)


# ---------------------------------------------------------------------------------------- repetition

_FENCED_JSON = re.compile(r"```json(.*?)```", re.S)
_FENCED = re.compile(r"```(.*?)```", re.S)
_BBOX_OPEN = re.compile(r"\[\s*\{")
_BBOX_CLOSE = re.compile(r"\}\s*\]")


def _bbox_array(text: str) -> str | None:
    """The released `re.search(r'\\[\\s*{.*?"bbox_2d".*?"label".*?}\\s*\\]', text, re.DOTALL).group(0)`, in
    linear time: only the first `[{` can start a match (a later start needs a suffix the first also has), and
    the lazy parts take the earliest `"bbox_2d"`, then `"label"`, then `}]` after it."""
    m = _BBOX_OPEN.search(text)
    if not m:
        return None
    b = text.find('"bbox_2d"', m.end())
    if b == -1:
        return None
    lab = text.find('"label"', b + 9)
    if lab == -1:
        return None
    close = _BBOX_CLOSE.search(text, lab + 7)
    return text[m.start():close.end()] if close else None


def _json_item_repetition(text: str, max_penalty: float) -> float | None:
    """The released JSON branch (written for detection outputs), or None to fall through to plain text."""
    m = _FENCED_JSON.search(text)
    if m:
        block = m.group(1).strip()
    else:
        m = _FENCED.search(text)
        block = m.group(1).strip() if m else None
        if not block:
            block = _bbox_array(text)
    if not block:
        return None
    try:
        data = json.loads(block)
    except (ValueError, RecursionError):
        return None  # the released code tries json_repair here; geobench does not ship it
    if not data or not isinstance(data, list):
        return None
    items = [f"{item['bbox_2d']}_{item['label']}" for item in data
             if isinstance(item, dict) and "bbox_2d" in item and "label" in item]
    if not items:
        return 0.0
    return (1 - len(set(items)) / len(items)) * max_penalty + 0.0


def repetition_penalty(text: str, n: int = REPETITION_NGRAM, max_penalty: float = -1.0,
                       json_items: bool = True) -> float:
    """The released `repetition_reward`: -(1 - unique n-grams / n-grams) of the lower-cased whitespace-split
    words (n = 6), in [max_penalty, 0]; 0.0 for an empty text or fewer than n words.

    json_items (released behaviour): if the text holds a fenced block (```json ...``` first, else ``` ... ```,
    else a `[{..."bbox_2d"..."label"...}]` array) that parses as a non-empty JSON list, the penalty is over its
    items instead: 1-grams of `"{bbox_2d}_{label}"`, and 0.0 when no item has both keys (a fenced JSON list of
    anything else scores 0.0 whatever the prose repeats). Unparseable blocks fall through to the text (the
    released code first tries `json_repair`; not shipped here); non-dict items are skipped (the released code
    crashes on a string item holding "bbox_2d" and "label").
    """
    text = text or ""
    if text == "":
        return 0.0
    if json_items:
        r = _json_item_repetition(text, max_penalty)
        if r is not None:
            return r
    words = text.lower().split()
    if len(words) < n:
        return 0.0
    grams = list(zip(*[words[i:] for i in range(n)], strict=False))
    return (1 - len(set(grams)) / len(grams)) * max_penalty + 0.0  # + 0.0: no -0.0


class RepetitionReward(RewardFunction):
    def __init__(self, name: str, n: int = REPETITION_NGRAM, max_penalty: float = -1.0, json_items: bool = True):
        super().__init__(name)
        if int(n) < 1:
            raise GeobenchError(f"repetition n-gram size must be >= 1, got {n}")
        self.n, self.max_penalty, self.json_items = int(n), float(max_penalty), bool(json_items)

    def one(self, text, i, columns):
        return repetition_penalty(text, self.n, self.max_penalty, self.json_items)


def make_repetition(n: int = REPETITION_NGRAM, max_penalty: float = -1.0, json_items: bool = True,
                    name: str | None = None) -> RepetitionReward:
    return RepetitionReward(name or "repetition", n, max_penalty, json_items)
