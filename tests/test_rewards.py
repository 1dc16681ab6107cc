"""GRPO rewards (trainers/rewards.py): each against hand-computed values and edge cases, string vs conversational
completions, TRL's calling convention, never raising on junk, tasks as rewards, and plugin registration."""

from __future__ import annotations

import math
import pickle
import re
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobench import GeobenchError, geo, plugin_manager
from geobench.api import Doc, Task
from geobench.trainers import rewards as R

NAMES = ["format", "accuracy", "accuracy_signed", "accuracy_released", "length", "length_monotone", "repetition",
         "shaped_pairing", "geoscore"]
FORMAT_RE = r"<think>.*?</think>\s*<answer>.*?</answer>"  # Geo-R1's released format_reward pattern


def conv(texts):
    return [[{"role": "assistant", "content": t}] for t in texts]


def one(name, text, **columns):
    return R.REWARDS[name]([text], **{k: [v] for k, v in columns.items()})[0]


# ------------------------------------------------------------------------------------------------ format


@pytest.mark.parametrize("text,expected", [
    ("<think>look</think><answer>B</answer>", 1.0),
    ("<think>look\nmore</think>\n\n <answer>\nB\n</answer>", 1.0),
    ("<think></think><answer></answer>", 1.0),
    ("<think>a</think><answer>A</answer><answer>B</answer>", 1.0),  # the regex's .*? spans both answers
    (" <think>a</think><answer>B</answer>", 0.0),  # no stripping in the released code
    ("<think>a</think><answer>B</answer>\n", 0.0),
    ("<think>a</think> text <answer>B</answer>", 0.0),
    ("<answer>B</answer>", 0.0),
    ("<think>a</think>", 0.0),
    ("<think>a<answer>B</answer>", 0.0),
    ("", 0.0),
])
def test_format(text, expected):
    assert one("format", text) == expected
    assert R.REWARDS["format"](conv([text])) == [expected]
    assert expected == float(bool(re.fullmatch(FORMAT_RE, text, re.DOTALL)))


_TAG_PIECES = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\t", "x", "<", ">",
                               "</", "think", "answer", "\u00a0", "\u2003"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_TAG_PIECES, max_size=14).map("".join))
def test_format_equals_released_regex(text):
    assert R.think_answer_format(text) == bool(re.fullmatch(FORMAT_RE, text, re.DOTALL))


def test_format_is_linear_on_adversarial_text():
    # A ReDoS guard, not a speed check (that is benchmarks/bench_speed_checks.py): the released regex
    # backtracks quadratically on these texts (measured: 1.5 s at 6,000 repeats, so minutes at 60,000); the
    # linear check takes milliseconds. 20 s is far from both.
    texts = ["<think>" + "</think><answer>" * 60_000, "<think>" + "<think></think> x" * 60_000 + "</answer>"]
    t = time.perf_counter()
    assert R.REWARDS["format"](texts) == [0.0, 0.0]
    assert time.perf_counter() - t < 20


# ---------------------------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("text,answer,k,binary,signed", [
    ("<think>..</think><answer>B</answer>", "B", 4, 1.0, 1.0),
    ("<think>..</think><answer>(b)</answer>", "B", 4, 1.0, 1.0),
    ("<think>..</think><answer>The answer is C</answer>", "C", 4, 1.0, 1.0),
    ("<think>..</think><answer>A</answer>", "B", 4, 0.0, -1.0),
    ("<answer>A</answer> then <answer>B</answer>", "B", 4, 1.0, 1.0),  # the last answer block wins
    ("<answer>A or B</answer>", "B", 4, 0.0, -1.0),  # ambiguous: no answer
    ("<answer>E</answer>", "E", 4, 0.0, -1.0),  # E is not among 4 options
    ("<answer>E</answer>", "E", 5, 1.0, 1.0),
    ("", "A", 4, 0.0, -1.0),
    ("<think>A</think>", "A", 4, 0.0, -1.0),  # the think block is not an answer
    ("B", "<answer> B </answer>", 4, 1.0, 1.0),  # VLM-R1-style solution column
])
def test_accuracy(text, answer, k, binary, signed):
    assert one("accuracy", text, answer=answer, k=k) == binary
    assert one("accuracy_signed", text, answer=answer, k=k) == signed
    assert R.REWARDS["accuracy"](conv([text]), answer=[answer], k=[k]) == [binary]


def test_accuracy_defaults_and_missing_columns():
    acc = R.REWARDS["accuracy"]
    assert acc(["<answer>D</answer>", "<answer>E</answer>"], answer=["D", "E"]) == [1.0, 0.0]  # k defaults to 4
    assert acc(["<answer>A</answer>"]) == [None]  # no answer column: does not apply
    assert acc(["<answer>A</answer>", "<answer>A</answer>"], answer=["A", None]) == [1.0, None]
    assert acc(["<answer>A</answer>"], answer=["no letter here at all"]) == [None]
    assert acc(["<answer>A</answer>", "<answer>B</answer>"], answer="A") == [1.0, 0.0]  # a scalar is broadcast
    assert acc(["<answer>A</answer>"], answer=["A"], k=["junk"]) == [1.0]


@pytest.mark.parametrize("text,answer,expected", [
    ("<answer>A</answer><answer>B</answer>", "B", 0.0),  # the first answer block wins
    ("<answer>b</answer>", "B", 1.0),  # upper-cased
    ("I think B.", "B", 1.0),  # no tags: the whole text
    ("A, or maybe C.", "C", 1.0),  # heuristics: C is late (+2) and followed by '.' (+1); A scores 1
    ("<answer>Z</answer>", "Z", 1.0),  # any letter, k ignored
    ("<answer>no letter</answer>", "A", 0.0),
])
def test_accuracy_released_parser(text, answer, expected):
    assert one("accuracy_released", text, answer=answer) == expected
    assert R.extract_choice("A, or maybe C.") == "C"
    assert R.released_answer("x <answer> A </answer> <answer>B</answer>") == "A"
    assert R.released_answer("<answer>unclosed") == "<answer>unclosed"


def test_make_accuracy_validates():
    assert R.make_accuracy("signed", parser="released").__name__ == "accuracy_signed_released"
    with pytest.raises(GeobenchError):
        R.make_accuracy("ternary")
    with pytest.raises(GeobenchError):
        R.make_accuracy(parser="llm")


# ------------------------------------------------------------------------------------------------ length


@pytest.mark.parametrize("n,cosine,monotone", [
    (0, 1.0, 1.0), (256, 1 - 0.25 * (1 - math.cos(math.pi / 4)), 1 - 0.25 * (1 - math.cos(math.pi / 4))),
    (512, 0.75, 0.75), (1024, 0.5, 0.5), (1536, 0.75, 0.5), (2048, 1.0, 0.5), (3072, 0.5, 0.5), (5000, None, 0.5),
])
def test_length_values(n, cosine, monotone):
    ids = [[7] * n]
    if cosine is not None:
        assert R.REWARDS["length"](["whatever"], completion_ids=ids)[0] == pytest.approx(cosine, abs=1e-12)
    assert R.REWARDS["length_monotone"](["whatever"], completion_ids=ids)[0] == pytest.approx(monotone, abs=1e-12)


def test_length_monotone_never_rises():
    f = R.make_length("monotone")
    values = [f.value(n) for n in range(0, 4097, 16)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert values[0] == 1.0 and values[-1] == 0.5


def test_length_target_and_parameters():
    f = R.make_length("monotone", period=1024, target=256)
    assert [f.value(n) for n in (0, 256, 640, 1024, 2048)] == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.5])
    assert f.__name__ == "length_monotone"
    g = R.make_length("cosine", period=512)
    assert g.value(512) == pytest.approx(0.5) and g.value(1024) == pytest.approx(1.0)
    for bad in (dict(kind="linear"), dict(period=0), dict(kind="monotone", target=1024), dict(target=10)):
        with pytest.raises(GeobenchError):
            R.make_length(**bad)


def test_length_token_count_sources():
    f = R.REWARDS["length"]
    assert f(["x" * 4096]) == pytest.approx([0.5])  # no ids: ceil(chars / 4) = 1024 tokens
    assert f(["x" * 8192]) == pytest.approx([1.0])  # 2048 tokens: the periodic quirk
    assert f([""]) == [1.0]
    assert f(["x" * 4096], completion_ids=[[1] * 2048]) == pytest.approx([1.0])  # ids win over characters

    class Tok:  # the released count: len(tokenizer.encode(text))
        def encode(self, text):
            return text.split()

    exact = R.make_length(tokenizer=Tok())
    assert exact(["a " * 1024], completion_ids=[[1] * 3]) == pytest.approx([0.5])  # tokenizer wins over ids
    strings = f(["abc", "x" * 2000], completion_ids=[[1] * 512, [1] * 1024])
    assert strings == f(conv(["abc", "x" * 2000]), completion_ids=[[1] * 512, [1] * 1024]) == pytest.approx([.75, .5])


# -------------------------------------------------------------------------------------------- repetition


def test_repetition_values():
    rep = R.REWARDS["repetition"]
    text = "a b c d e f " * 10  # 60 words, 55 6-grams, 6 distinct
    assert rep([text]) == pytest.approx([-(1 - 6 / 55)])
    assert rep(["one two three four five"]) == [0.0]  # fewer than 6 words
    assert rep([""]) == [0.0]
    value = rep(["the quick brown fox jumps over the lazy dog"])[0]
    assert value == 0.0 and math.copysign(1, value) == 1.0  # all distinct: 0.0, not -0.0
    assert rep(["A a a a a A a"]) == pytest.approx([-0.5])  # lower-cased: 2 6-grams, 1 distinct
    assert rep(["w1 w2 w3 w4 w5 w6 w1 w2 w3 w4 w5 w6"]) == pytest.approx([-(1 - 6 / 7)])
    assert R.make_repetition(n=1)(["a a b b"]) == pytest.approx([-0.5])


def test_repetition_released_json_branch():
    rep = R.REWARDS["repetition"]
    dup = '```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "car"}, {"bbox_2d": [1, 2, 3, 4], "label": "car"}]\n```'
    assert rep([dup]) == pytest.approx([-0.5])  # 1-grams over items: 2 items, 1 distinct
    assert rep(['see [{"bbox_2d": [1, 2], "label": "a"}, {"bbox_2d": [3, 4], "label": "b"}] ok']) == [0.0]
    prose = "again and again " * 20
    assert rep(["```json\n[1, 2, 3]\n```\n" + prose]) == [0.0]  # a JSON list without bbox items scores 0.0
    assert rep(['```json\n{"lat": 1}\n```\n' + prose])[0] < -0.5  # not a list: the text counts
    assert rep(["```not json```\n" + prose])[0] < -0.5  # unparseable: the text counts
    assert R.make_repetition(json_items=False)(["```json\n[1, 2, 3]\n```\n" + prose])[0] < -0.5


_BBOX_RE = r'\[\s*{.*?"bbox_2d".*?"label".*?}\s*\]'  # the released bbox-array search


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["[", "{", "}", "]", " ", "\n", '"bbox_2d"', '"label"', "x", ":"]), max_size=16)
       .map("".join))
def test_bbox_array_equals_released_regex(text):
    m = re.search(_BBOX_RE, text, re.DOTALL)
    assert R._bbox_array(text) == (m.group(0) if m else None)


# ---------------------------------------------------------------------------------------- shaped pairing

CANDS = [
    {"letter": "A", "true": False, "similarity": 0.5},
    {"letter": "B", "true": True, "similarity": 1.0},
    {"letter": "C", "true": False, "similarity": None},
    {"letter": "D", "true": False, "similarity": 5 / 6},
]


@pytest.mark.parametrize("answer,expected", [("A", 0.25), ("B", 1.0), ("C", 0.0), ("D", 0.5 * 5 / 6), ("E", 0.0),
                                             ("A or B", 0.0)])
def test_shaped_pairing_values(answer, expected):
    text = f"<think>x</think><answer>{answer}</answer>"
    assert one("shaped_pairing", text, candidates=CANDS) == pytest.approx(expected)
    assert R.REWARDS["shaped_pairing"](conv([text]), candidates=[CANDS]) == pytest.approx([expected])


def test_shaped_pairing_column_layouts_and_bonus():
    text = "<think>x</think><answer>A</answer>"
    f = R.REWARDS["shaped_pairing"]
    assert f([text], candidates=[None]) == [None]  # no candidates: does not apply
    assert f([text]) == [None]
    import json

    assert f([text], candidates=[json.dumps(CANDS)]) == [0.25]
    dict_of_lists = {key: [c[key] for c in CANDS] for key in CANDS[0]}
    assert f([text], candidates=[dict_of_lists]) == [0.25]
    bonus = R.make_shaped_pairing(format_bonus=0.1)
    assert bonus([text, "<answer>A</answer>"], candidates=[CANDS, CANDS]) == pytest.approx([0.35, 0.25])


# ---------------------------------------------------------------------------------------------- geoscore


def test_geoscore_values():
    g = R.REWARDS["geoscore"]
    assert g(["<answer>(48.85, 2.35)</answer>"], lat=[48.85], lon=[2.35]) == pytest.approx([1.0])
    d = float(geo.haversine_km(0, 0, 0, 1))  # 111.19 km
    assert g(["<answer>0, 1</answer>"], lat=[0.0], lon=[0.0]) == pytest.approx([math.exp(-d / 1492.7)])
    assert g(["<answer>(0, 180)</answer>"], lat=[0], lon=[0]) == pytest.approx([math.exp(-20015.1 / 1492.7)], rel=1e-3)
    assert g(["<answer>somewhere nice</answer>", ""], lat=[0, 0], lon=[0, 0]) == [0.0, 0.0]
    assert g(["<answer>(1, 2)</answer>"]) == [None]  # no lat/lon columns
    assert g(["<answer>(1, 2)</answer>"] * 2, lat=[float("nan"), 91], lon=[0, 0]) == [None, None]
    text = "<think>hot, dry</think><answer>lat: -33.87, lon: 151.21</answer>"
    assert g([text], lat=[-33.87], lon=[151.21]) == g(conv([text]), lat=[-33.87], lon=[151.21]) == [1.0]


# ------------------------------------------------------------------------------------------ task rewards


def test_task_reward_crossview_toy():
    reg = plugin_manager.load()
    task = reg.task("crossview_toy")
    docs = list(task.docs(limit=8))
    fn = R.task_reward(task, docs=docs)
    assert fn.metric == "acc" and fn.__name__ == "crossview_toy_acc"
    texts, ids, expected, shaped = [], [], [], []
    for d in docs:
        for letter in "ABCD":
            text = f"<think>compare</think><answer>{letter}</answer>"
            texts.append(text)
            ids.append(d.id)
            expected.append(float(letter == d.fields["answer"]))
            shaped.append(task.reward(d, text, "shaped"))
    assert fn(texts, doc_id=ids) == expected == fn(conv(texts), doc_id=ids)
    assert R.REWARDS["accuracy"](texts, answer=[d.fields["answer"] for d in docs for _ in "ABCD"]) == expected
    cands = [d.fields["candidates"] for d in docs for _ in "ABCD"]
    assert R.REWARDS["shaped_pairing"](texts, candidates=cands) == pytest.approx(shaped)
    assert 0 < sum(0 < s < 1 for s in shaped)  # the toy has partial credit to give
    assert fn(["<answer>A</answer>"], doc_id=["no such doc"]) == [None]
    assert fn(["<answer>A</answer>"]) == [None]
    assert R.task_reward(task, "format_rate", docs=docs)(["<think>a</think><answer>A</answer>"],
                                                          doc_id=[docs[0].id]) == [1.0]
    with pytest.raises(GeobenchError, match="no metric"):
        R.task_reward(task, "nonsense", docs=docs)(["A"], doc_id=[docs[0].id])


def test_task_reward_geoloc_toy():
    task = plugin_manager.load().task("geoloc_toy")
    docs = task.docs(limit=5)
    fn = R.task_reward(task)  # built from the task's own split on first use
    assert fn.metric == "acc@1km"
    exact = [f"<think>x</think><answer>({d.fields['lat']}, {d.fields['lon']})</answer>" for d in docs]
    ids = [d.id for d in docs]
    assert fn(exact, doc_id=ids) == [1.0] * 5
    assert fn(["<answer>(0, 0)</answer>", "no idea"], doc_id=ids[:2]) == [0.0, 0.0]
    gs = R.task_reward(task, "geoscore", scale=1 / 5000)
    texts = ["<answer>(10, 20)</answer>", "<answer>(-30, 100)</answer>", "junk"]
    expected = R.REWARDS["geoscore"](texts, lat=[d.fields["lat"] for d in docs[:3]],
                                     lon=[d.fields["lon"] for d in docs[:3]])
    got = gs(texts, doc_id=ids[:3])
    assert got[:2] == pytest.approx(expected[:2], rel=1e-12) and 0 < expected[0] < 1
    # unparseable: the task scores a miss at 20037.5 km (GeoScore 0.0074 of 5000), the geoscore reward gives 0
    assert expected[2] == 0.0 and got[2] == pytest.approx(math.exp(-geo.MISS_KM / geo.GEOSCORE_DECAY_KM))


def test_task_reward_lower_is_better_and_default_metric():
    class Fake(Task):  # the Task contract (geobench.api) declares reward_metric
        name = "fake"
        higher_is_better = {"err": False, "acc": True}

        def docs(self, split=None, limit=None):
            return [Doc(id="1", fields={}), Doc(id="2", fields={})]

        def score(self, doc, completion):
            return {"err": float(len(completion)), "acc": 1.0}

    fn = R.task_reward(Fake(), "err")
    assert fn(["abc", "de"], doc_id=[1, "2"]) == [-3.0, -2.0]  # negated; ids compared as strings
    assert R.default_metric(Fake()) == "acc"
    Fake.reward_metric = "err"
    assert R.default_metric(Fake()) == "err"
    Fake.higher_is_better = {}
    del Fake.reward_metric
    with pytest.raises(GeobenchError):
        R.task_reward(Fake())


# ---------------------------------------------------------------------------------------- robustness, TRL


def test_trl_calling_convention():
    """GRPOTrainer calls fn(prompts=, completions=, completion_ids=, **columns, trainer_state=, log_extra=, ...)."""
    prompts = [[{"role": "user", "content": "which tile?"}]] * 2
    completions = conv(["<think>a</think><answer>B</answer>", "<answer>C</answer>"])
    extra = dict(prompts=prompts, completion_ids=[[1] * 1024, [1] * 2048], trainer_state=object(),
                 log_extra=lambda *a: None, log_metric=lambda *a: None, answer=["B", "B"], k=[4, 4],
                 candidates=[CANDS, CANDS], lat=[0, 0], lon=[0, 0], doc_id=["x", "y"], image_path=[["a"], ["b"]])
    out = {name: R.REWARDS[name](completions=completions, **extra) for name in NAMES}
    assert out["format"] == [1.0, 0.0]
    assert out["accuracy"] == [1.0, 0.0] and out["accuracy_signed"] == [1.0, -1.0]
    assert out["length"] == pytest.approx([0.5, 1.0]) and out["length_monotone"] == pytest.approx([0.5, 0.5])
    assert out["shaped_pairing"] == pytest.approx([1.0, 0.0])
    assert out["geoscore"] == [0.0, 0.0]
    for name in NAMES:
        assert len(out[name]) == 2


def _junk():
    text = st.text(max_size=300)
    message = st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user", "tool"]),
                                     "content": st.one_of(st.none(), text, st.integers(),
                                                          st.lists(st.one_of(text, st.fixed_dictionaries(
                                                              {"type": st.just("text"), "text": text})), max_size=3))})
    return st.one_of(text, st.none(), st.integers(), st.lists(message, max_size=3), message,
                     st.builds(lambda t: f"<think>{t}</think><answer>{t}</answer>", text))


_COLUMN = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats(allow_nan=True),
                    st.lists(st.dictionaries(st.sampled_from(["letter", "true", "similarity"]),
                                             st.one_of(st.none(), st.text(max_size=3), st.floats(), st.booleans()),
                                             max_size=3), max_size=4))


@settings(max_examples=150, deadline=None)
@given(st.lists(_junk(), min_size=1, max_size=4), st.dictionaries(
    st.sampled_from(["answer", "k", "candidates", "lat", "lon", "completion_ids"]), _COLUMN, max_size=6))
def test_never_raises(completions, column_values):
    n = len(completions)
    columns = {k: [v] * n for k, v in column_values.items()}
    for name in NAMES:
        with _no_warning():
            out = R.REWARDS[name](completions, **columns)
        assert len(out) == n
        assert all(v is None or isinstance(v, float) for v in out)


class _no_warning:
    """The junk must be handled by the code itself, not by the last-resort guard (which warns)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_long_and_unicode_completions():
    words = "the street has red roofs and palm trees near a dry river bed \u00e9\u00e8 \u4e2d\u6587 ".split()
    body = " ".join(words[i % len(words)] + str(i % 97) for i in range(16_000))
    text = f"<think>{body}</think><answer>B</answer>"
    assert len(text) > 100_000
    cols = dict(answer=["B"], candidates=[CANDS], lat=[0.0], lon=[0.0])
    t = time.perf_counter()
    out = {name: R.REWARDS[name]([text], **cols)[0] for name in NAMES}
    assert time.perf_counter() - t < 60  # a hang guard (a quadratic scan of 100k chars); speed: benchmarks/
    assert out["format"] == 1.0 and out["accuracy"] == 1.0 and out["shaped_pairing"] == 1.0
    assert -1 < out["repetition"] < 0 and out["geoscore"] == 0.0
    assert out == {name: R.REWARDS[name](conv([text]), **cols)[0] for name in NAMES}


def test_string_and_conversational_agree():
    texts = ["<think>a</think><answer>A</answer>", "", "B.", "<answer>(1, 2)</answer>", "\u00e9 " * 40]
    cols = dict(answer=["A"] * 5, candidates=[CANDS] * 5, lat=[1] * 5, lon=[2] * 5)
    parts = [[{"role": "assistant", "content": [{"type": "text", "text": t}]}] for t in texts]
    for name in NAMES:
        fn = R.REWARDS[name]
        assert fn(texts, **cols) == fn(conv(texts), **cols) == fn(parts, **cols), name
    assert R.completion_text([{"role": "assistant", "content": None}]) == ""
    assert R.completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    two = [{"role": "assistant", "content": "<think>a</think>"}, {"role": "assistant", "content": "<answer>B</answer>"}]
    assert R.completion_text(two) == "<think>a</think>\n<answer>B</answer>"
    assert R.REWARDS["format"]([two]) == [1.0]


def test_picklable_and_named():
    for name, fn in R.REWARDS.items():
        assert fn.__name__ == name
        again = pickle.loads(pickle.dumps(fn))
        assert again(["<think>a</think><answer>A</answer>"], answer=["A"], candidates=[CANDS], lat=[0], lon=[0]) \
            == fn(["<think>a</think><answer>A</answer>"], answer=["A"], candidates=[CANDS], lat=[0], lon=[0])


# ---------------------------------------------------------------------------------- registration, presets


def test_registered_through_plugin_manager():
    reg = plugin_manager.load()
    assert set(NAMES) <= set(reg.rewards)
    for name in NAMES:
        assert reg.reward(name) is R.REWARDS[name]
        assert reg.owner[("reward", name)] == "rewards"


def test_presets():
    assert R.REWARD_PRESETS["geo-r1"] == [("accuracy", 1.0), ("format", 1.0), ("length", 1.0), ("repetition", 1.0)]
    assert R.REWARD_PRESETS["tiny"] == [("shaped_pairing", 1.0), ("format", 0.1)]
    for name, pairs in R.REWARD_PRESETS.items():
        fns, weights = R.preset(name)
        assert [f.__name__ for f in fns] == [n for n, _ in pairs] and len(weights) == len(fns)
    with pytest.raises(GeobenchError, match="known"):
        R.preset("nope")
    # the released per-rollout total lies in [-0.5, 3.0]
    fns, weights = R.preset("geo-r1")
    best = sum(w * f(["<think>a</think><answer>A</answer>"], answer=["A"])[0] for f, w in zip(fns, weights, strict=True))
    assert best == pytest.approx(3.0, abs=1e-3)


def test_no_torch_at_import():
    code = "import sys, geobench.trainers.rewards; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_entry_point_registers_every_reward_by_reference():
    import geobench.trainers.rewards as entry
    from geobench.trainers.rewards import presets

    assert {n: getattr(presets, a) for n, a in entry.BUILTIN.items()} == presets.REWARDS
    reg = plugin_manager.load()
    assert all(reg.reward(n) is presets.REWARDS[n] for n in entry.BUILTIN)
    assert {n: reg.reward_preset(n) for n in reg.reward_presets} == entry.REWARD_PRESETS
    assert reg.owner[("reward_preset", "geo-r1")] == "rewards"
    with pytest.raises(GeobenchError, match="unknown reward preset 'nope'"):
        reg.reward_preset("nope")
