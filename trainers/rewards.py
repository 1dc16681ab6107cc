"""GRPO reward functions: Geo-R1's released rewards, geobench's fixes and shaped rewards, and any task as a reward.

Every reward is a TRL-compatible callable `fn(completions, **columns) -> list[float | None]`, one value per
completion. TRL 1.x's `GRPOTrainer` calls `fn(prompts=..., completions=..., completion_ids=..., **columns)`
with every dataset column as a keyword (plus `trainer_state`, `log_extra`, `log_metric`, ignored here);
completions are strings for standard prompts and message lists `[{"role": "assistant", "content": ...}]` for
conversational ones: both give the same rewards here. None means "does not apply to this sample" (TRL turns it
into NaN and sums the others with `nansum`). No reward raises on what a model wrote (empty, None content,
unicode, 100k characters); a misconfigured reward (unknown metric) does. TRL sums rewards with
`GRPOConfig.reward_weights`, so there is no `combine` here: `preset(name)` gives the functions and weights.

Registered names (`geobench.plugin_manager.load().rewards`; each object's `__name__` is its name, so TRL's logs
say `rewards/accuracy/mean` and so on):

format            1.0 if the whole completion fullmatches `<think>.*?</think>\\s*<answer>.*?</answer>` (re.DOTALL),
                  else 0.0. Released `format_reward` exactly: no stripping, so leading whitespace fails (the
                  tasks' `format_rate` metric, `parse.is_think_answer`, strips first). Checked in linear time.
accuracy          choice-letter tasks: 1.0 if `parse.choice(completion, k)` equals the `answer` column, else 0.0
                  (released `mcq` values). `k` column if present, else 4. None where `answer` is missing.
accuracy_signed   the same, +1 / -1 (the paper's r_acc; no parseable letter is -1).
accuracy_released the released `mcq_reward` parser instead of geobench's: first `<answer>` block (else the whole
                  text, reasoning included), upper-cased, VLM-R1's `extract_choice` heuristics, any letter A-Z
                  (k ignored). For exact replication; `accuracy` agrees with the tasks' `acc` metric.
length            released `cosine_rewards` (VLM-R1, after arXiv 2502.03373, with acc_reward forced to 1.0):
                  r = 1 - 0.25 * (1 - cos(pi * L / 1024)), L = completion length in tokens. Periodic: 1.0 at
                  L = 0, 0.75 at 512, minimum 0.5 at 1024, back up to 0.75 at 1536 and 1.0 at 2048 (then again
                  0.5 at 3072...). With max_completion_length 2048 a 2048-token runaway earns as much as an empty
                  answer: probably unintended, kept as the faithful preset.
length_monotone   geobench's fix: the same cosine from 1.0 at L = 0 to 0.5 at L = 1024, then 0.5 for every longer
                  completion (never rises again). `make_length(kind="monotone", target=T)` keeps 1.0 up to T tokens.
repetition        released `repetition_reward`: -(1 - #unique word 6-grams / #word 6-grams) over the lower-cased
                  whitespace split of the whole completion, in [-1, 0]; 0.0 for fewer than 6 words. Includes the
                  released JSON branch (see `repetition_penalty`).
shaped_pairing    cross-view pairing with partial credit (learnability2.md §6): 1.0 for the true tile, 0.5 x the
                  picked wrong tile's attribute similarity to the truth, 0.0 for no answer or a wrong tile without
                  attributes; from the `candidates` column written by tasks/crossview.py (letter, true, similarity).
                  Equals `CrossViewTask.reward(doc, completion, "shaped")` without importing the task.
geoscore          geolocation: exp(-d / 1492.7) in [0, 1], d = haversine km between `parse.coordinates` and the
                  `lat` / `lon` columns (GeoScore / 5000, OSV-5M's decay); 0.0 when no coordinates parse.

Token count L for `length`: the tokenizer's count when `make_length(tokenizer=...)` is given (the released
`len(tokenizer.encode(text))`); else `len(completion_ids[i])` when TRL passes them (TRL's ids include the EOS
token when generation stopped, one more than re-encoding the decoded text: a negligible shift); else a
fallback of ceil(characters / 4), the usual English BPE ratio (CHARS_PER_TOKEN).

`task_reward(task, metric=None)` turns any geobench Task into a reward: each completion is scored with
`task.score(doc, text)[metric]`, the doc looked up by the `doc_id` column ("every task is an RL environment").

Sources: /work/shared/notes/geo-r1.md §3.2-3.3 (Geo-R1 = VLM-R1 `grpo_jsonl.py` at 9bd0560: `format_reward`,
`mcq_reward` / `extract_choice`, `cosine_reward`, `repetition_reward`; launch script `--reward_funcs accuracy
format length repetition`, unweighted sum), learnability2.md §6 (shaped reward), geobench.geo (GeoScore).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable
from typing import Any

from geobench import geo, parse
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DEFAULT_K = 4
CHARS_PER_TOKEN = 4.0
LENGTH_PERIOD = 1024  # the released `cosine_max_len`: the cosine's half period, in tokens
SHAPED_PARTIAL = 0.5  # = tasks/crossview.py SHAPED_PARTIAL
REPETITION_NGRAM = 6


# ------------------------------------------------------------------------------------------ plumbing


def completion_text(completion: Any) -> str:
    """The text of one completion: a string as is; a message list -> its assistant messages' text joined by
    newlines (one message, TRL's usual case, is just its content); a single message dict -> its content.
    Content may be a string or a list of parts (`{"type": "text", "text": ...}`). Anything else -> ""."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, list | tuple):
        texts = [_content_text(m.get("content")) for m in completion
                 if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "\n".join(t for t in texts if t)
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
        return "".join(out)
    return ""


def _column(columns: dict, name: str, i: int) -> Any:
    """Row i of a dataset column passed by TRL; a plain string is broadcast to every row; None if absent."""
    col = columns.get(name)
    if col is None or isinstance(col, str | bytes | int | float):
        return col
    try:
        return col[i]
    except (IndexError, KeyError, TypeError):
        return None


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


def _k(value: Any) -> int:
    try:
        k = int(value)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_K
    return k if 1 <= k <= len(LETTERS) else DEFAULT_K


class AccuracyReward(RewardFunction):
    def __init__(self, name: str, values: str = "binary", parser: str = "geobench"):
        super().__init__(name)
        if values not in ("binary", "signed"):
            raise GeobenchError(f"accuracy values must be 'binary' or 'signed', got {values!r}")
        if parser not in ("geobench", "released"):
            raise GeobenchError(f"accuracy parser must be 'geobench' or 'released', got {parser!r}")
        self.values, self.parser = values, parser

    def one(self, text, i, columns):
        truth = _column(columns, "answer", i)
        if truth is None:
            return None
        if self.parser == "released":
            gt = extract_choice(released_answer(str(truth)))
            chosen = extract_choice(released_answer(text))
        else:
            gt = parse.choice(str(truth), len(LETTERS))
            chosen = parse.choice(text, _k(_column(columns, "k", i)))
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
        return self.value(self.n_tokens(text, _column(columns, "completion_ids", i)))


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


# ------------------------------------------------------------------------------------ shaped pairing


def _candidates(value: Any) -> list[dict] | None:
    """The `candidates` column of one row: a list of dicts; also accepts a JSON string and the dict-of-lists
    layout of a `datasets.Sequence` of structs."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, dict) and isinstance(value.get("letter"), list | tuple):
        keys = list(value)
        value = [dict(zip(keys, row, strict=False)) for row in zip(*(value[k] for k in keys), strict=False)]
    if not isinstance(value, list | tuple):
        return None
    return [c for c in value if isinstance(c, dict)]


def shaped_value(text: str, candidates: list[dict], k: int | None = None, partial: float = SHAPED_PARTIAL) -> float:
    """`CrossViewTask.reward(doc, text, "shaped")` from the candidate records alone: 1.0 if the chosen letter's
    candidate is true, partial * its similarity (None counts 0) if it is wrong, 0.0 if nothing is chosen."""
    chosen = parse.choice(text, k or len(candidates))
    pick = next((c for c in candidates if c.get("letter") == chosen), None) if chosen else None
    if pick is None:
        return 0.0
    if pick.get("true"):
        return 1.0
    try:
        sim = float(pick.get("similarity") or 0.0)
    except (TypeError, ValueError):
        sim = 0.0
    return float(partial * sim) if math.isfinite(sim) else 0.0


class ShapedPairingReward(RewardFunction):
    def __init__(self, name: str, partial: float = SHAPED_PARTIAL, format_bonus: float = 0.0):
        super().__init__(name)
        self.partial, self.format_bonus = float(partial), float(format_bonus)

    def one(self, text, i, columns):
        cands = _candidates(_column(columns, "candidates", i))
        if not cands:
            return None
        k = _column(columns, "k", i)
        value = shaped_value(text, cands, _k(k) if k is not None else None, self.partial)
        if self.format_bonus:
            value += self.format_bonus * think_answer_format(text)
        return value


def make_shaped_pairing(partial: float = SHAPED_PARTIAL, format_bonus: float = 0.0,
                        name: str | None = None) -> ShapedPairingReward:
    """learnability2's shaped reward (see `shaped_value`); format_bonus adds that much for Geo-R1's format
    (learnability2 used +0.1: the `tiny` preset gets it as `format` with weight 0.1 instead)."""
    return ShapedPairingReward(name or "shaped_pairing", partial, format_bonus)


# ------------------------------------------------------------------------------------------ geoscore


def _truth_point(lat: Any, lon: Any) -> tuple[float, float] | None:
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(la) and math.isfinite(lo) and -90 <= la <= 90 and -180 <= lo <= 180):
        return None
    return la, lo


def geoscore_value(text: str, lat: float, lon: float) -> float:
    """exp(-d / 1492.7) for the coordinates in `text` (0.0 if none parse): GeoScore / 5000, in [0, 1]."""
    point = parse.coordinates(text)
    if point is None:
        return 0.0
    d = float(geo.haversine_km(lat, lon, point[0], point[1]))
    return math.exp(-d / geo.GEOSCORE_DECAY_KM)


class GeoscoreReward(RewardFunction):
    def one(self, text, i, columns):
        truth = _truth_point(_column(columns, "lat", i), _column(columns, "lon", i))
        return None if truth is None else geoscore_value(text, *truth)


# -------------------------------------------------------------------------------------- task rewards


def default_metric(task) -> str:
    """A task's reward metric: its `reward_metric` attribute if it has one, else the first metric of
    `higher_is_better` that is higher-is-better (crossview: "acc"; geolocation: "acc@1km")."""
    chosen = getattr(task, "reward_metric", None)
    if chosen:
        return chosen
    hib = dict(getattr(task, "higher_is_better", {}) or {})
    for metric, higher in hib.items():
        if higher:
            return metric
    if hib:
        return next(iter(hib))
    raise GeobenchError(f"task {getattr(task, 'name', task)!r} declares no metrics; pass metric=")


class TaskReward(RewardFunction):
    """`task.score(doc, text)[metric] * scale` (negated for a lower-is-better metric), the doc found by the
    `doc_id` column; None for an id the task does not have. The id index is built once, on first use."""

    def __init__(self, task, metric: str | None = None, split: str | None = None, docs: Iterable | None = None,
                 scale: float = 1.0, name: str | None = None):
        self.task = task
        self.metric = metric or default_metric(task)
        super().__init__(name or f"{task.name}_{self.metric}".replace("@", "_"))
        hib = dict(getattr(task, "higher_is_better", {}) or {})
        self.sign = -1.0 if hib.get(self.metric) is False else 1.0
        self.split, self.scale = split, float(scale)
        self._docs = list(docs) if docs is not None else None
        self._index: dict[str, Any] | None = None
        self._checked = False

    def index(self) -> dict[str, Any]:
        if self._index is None:
            docs = self._docs if self._docs is not None else self.task.docs(self.split)
            self._index = {str(d.id): d for d in docs}
        return self._index

    def __call__(self, completions: Any = None, doc_id: Any = None, **columns: Any) -> list[float | None]:
        return super().__call__(completions, doc_id=doc_id, **columns)

    def one(self, text, i, columns):
        key = _column(columns, "doc_id", i)
        doc = self.index().get(str(key)) if key is not None else None
        if doc is None:
            return None
        scores = self.task.score(doc, text)
        if self.metric not in scores:
            if not self._checked:
                raise GeobenchError(f"task {self.task.name!r} has no metric {self.metric!r}",
                                    hint=f"its score gives: {', '.join(scores)}")
            return None
        self._checked = True
        return self.sign * self.scale * float(scores[self.metric])


def task_reward(task, metric: str | None = None, split: str | None = None, docs: Iterable | None = None,
                scale: float = 1.0, name: str | None = None) -> TaskReward:
    """Any geobench Task as a TRL reward `fn(completions, doc_id, **columns)`: the training dataset needs a
    `doc_id` column of the task's doc ids (from `split`, default the task's; or pass the `docs` used).

    metric: default `default_metric(task)`. Note geolocation's default is the sparse `acc@1km`; its
    `geoscore` metric is 0..5000 (use scale=1/5000, or the registered `geoscore` reward).
    """
    return TaskReward(task, metric, split, docs, scale, name)


# ------------------------------------------------------------------------------------ registry, presets

REWARDS: dict[str, RewardFunction] = {
    "format": FormatReward("format"),
    "accuracy": make_accuracy("binary"),
    "accuracy_signed": make_accuracy("signed"),
    "accuracy_released": make_accuracy("binary", parser="released"),
    "length": make_length("cosine"),
    "length_monotone": make_length("monotone"),
    "repetition": make_repetition(),
    "shaped_pairing": make_shaped_pairing(),
    "geoscore": GeoscoreReward("geoscore"),
}

# (registered name, weight) lists; TRL: reward_funcs=[...], GRPOConfig(reward_weights=[...]).
REWARD_PRESETS: dict[str, list[tuple[str, float]]] = {
    # The released launch script: --reward_funcs accuracy format length repetition, unweighted sum; accuracy
    # with geobench's parser (= the tasks' acc metric). Per-rollout total in [-0.5, 3.0].
    "geo-r1": [("accuracy", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)],
    # The same with the released mcq parser too: the closest replication of the released code.
    "geo-r1-released": [("accuracy_released", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)],
    # The paper's r_acc in {-1, +1}; the paper's weights lambda are unknown (1.0 here).
    "geo-r1-paper": [("accuracy_signed", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)],
    # geo-r1 with the monotone length fix (no reward for running on to 2048 tokens).
    "geo-r1-monotone": [("accuracy", 1.0), ("format", 1.0), ("length_monotone", 1.0), ("repetition", 1.0)],
    # A tiny CPU model on the toy cross-view task: learnability2's winning reward (1 / partial / 0 + 0.1 format).
    "tiny": [("shaped_pairing", 1.0), ("format", 0.1)],
    # Geolocation (geobench's choice, not from Geo-R1): distance-shaped reward plus a small format term.
    "geolocation": [("geoscore", 1.0), ("format", 0.1)],
}


def preset(name: str) -> tuple[list[RewardFunction], list[float]]:
    """(reward functions, weights) of a preset, ready for GRPOTrainer(reward_funcs=..) and reward_weights."""
    if name not in REWARD_PRESETS:
        raise GeobenchError(f"unknown reward preset {name!r}", hint=f"known: {', '.join(REWARD_PRESETS)}")
    pairs = REWARD_PRESETS[name]
    return [REWARDS[n] for n, _ in pairs], [float(w) for _, w in pairs]


@hookimpl
def geobench_register_rewards(register):
    for name, fn in REWARDS.items():
        register(fn, name=name)
