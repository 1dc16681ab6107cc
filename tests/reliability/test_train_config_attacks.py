"""Training configs that are bombs or lies (issue 15, item 9): refused in one line, before any model loads, in
bounded memory and time; every problem of a config listed at once.

- alias bombs ("billion laughs": each level repeats the previous one 9 times) as a top-level value and inside
  `lora.target_modules`, `eval_gen_kwargs.stop`, `trl.lr_scheduler_kwargs` and a `--set` value; a recursive alias;
  nesting deep enough to exhaust the parser; a file too large to be a config; bytes that are not UTF-8;
- values that lie about their type: `trl: {bf16: maybe}`, a quoted "false" for a boolean (top level, in `trl:`,
  in `lora:`), `eval_gen_kwargs.max_new_tokens: -5` and a 300-character `run_name` (once found only at the first
  checkpoint);
- a config with several problems: one error that names each of them.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from conftest import run_cli
from geobench.errors import GeobenchError
from geobench.trainers.training.config import load_config

GRPO = "output_dir: o\ndataset: {task: crossview_toy}\nper_device_batch_size: 2\nnum_generations: 2\n"
LEVELS = 9  # 9 ** 9 = 387 million strings once expanded; the file is about 1 KB


def bomb(anchor_key: str = "x") -> str:
    """YAML lines defining anchors a0..a{LEVELS}; *a{LEVELS} expands to 9 ** LEVELS strings."""
    lines = [f"{anchor_key}0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, LEVELS + 1):
        lines.append(f"{anchor_key}{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _refused(path: Path, match: str, kind: str = "grpo", overrides=()) -> str:
    """load_config raises one line matching `match`, peaking under 50 MB of Python allocations."""
    import trl  # imported before measuring: a `trl:` section is checked against TRL's config classes

    assert trl.GRPOConfig and trl.SFTConfig  # trl imports them lazily, on first use

    tracemalloc.start()
    try:
        with pytest.raises(GeobenchError, match=match) as e:
            load_config(path, kind, list(overrides))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "\n" not in str(e.value)
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MB"
    assert len(str(e.value)) < 2000
    return str(e.value)


@pytest.mark.parametrize("where", [
    "lr: *a9\n",
    "lora: {target_modules: *a9}\n",
    "eval_gen_kwargs: {stop: *a9}\n",
    "trl: {lr_scheduler_kwargs: {x: *a9}}\n",
])
def test_alias_bombs_are_refused_in_one_line(tmp_path, where):
    # the anchors sit under keys that are not config keys: the bomb must be refused before key checks see them
    p = _write(tmp_path, bomb() + GRPO + where)
    msg = _refused(p, "alias bomb")
    assert msg.startswith("c.yaml: ")


def test_a_bomb_in_a_set_value_is_refused(tmp_path):
    value = "[" + ", ".join(["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                            + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, LEVELS + 1)]) + "]"
    _refused(_write(tmp_path, GRPO), "alias bomb", overrides=[f"eval_gen_kwargs.stop={value}"])


def test_recursive_alias_deep_nesting_huge_and_binary_files(tmp_path):
    _refused(_write(tmp_path, GRPO + "trl: &t {x: *t}\n"), "refers to the value that contains it")
    with pytest.raises(GeobenchError, match="nested too deeply"):  # (not under tracemalloc: it slows deep stacks)
        load_config(_write(tmp_path, GRPO + "eval_tasks: " + "[" * 10_000 + "]" * 10_000 + "\n"), "grpo")
    _refused(_write(tmp_path, GRPO + "# " + "x" * (2 << 20) + "\n"), "not a training config")
    p = tmp_path / "bin.yaml"
    p.write_bytes(GRPO.encode() + b"run_name: \xff\xfe\n")
    _refused(p, "not UTF-8")


def test_the_cli_refuses_a_bomb_in_one_line_quickly(tmp_path):
    p = _write(tmp_path, bomb() + GRPO + "lr: *a9\n")
    r = run_cli("train", "grpo", "--config", str(p), timeout=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("geobench: error: c.yaml: ") and "alias" in r.stderr


@pytest.mark.parametrize("text,match", [
    ("trl: {bf16: maybe}\n", "trl.bf16 must be true or false, got str 'maybe'"),
    ("trl: {bf16: 'false'}\n", "trl.bf16 must be true or false, got str 'false'"),
    ("trl: {gradient_checkpointing: 'no'}\n", "trl.gradient_checkpointing must be true or false"),
    ("trl: {dataloader_num_workers: '2'}\n", "trl.dataloader_num_workers must be an integer"),
    ("trl: {warmup_steps: '10'}\n", "trl.warmup_steps must be a number"),
    ("lora: 'false'\n", "'lora' must be true, false or a mapping, got str 'false'"),
    ("lora: {r: '8'}\n", "'lora.r' must be an integer"),
    ("dataset: {task: crossview_toy, limit: 'all'}\n", "'dataset.limit' must be an integer"),
    ("dataset: {task: 5}\n", "'dataset.task' must be a string"),
    ("eval_gen_kwargs: {do_sample: maybe}\n", "bad value for do_sample"),
    ("eval_gen_kwargs: {max_new_tokens: -5}\n", "max_new_tokens must be >= 1, got -5"),
    ("run_name: " + "r" * 300 + "\n", "is not a plain folder name"),
    ("run_name: ../escape\n", "is not a plain folder name"),
])
def test_values_that_lie_about_their_type_are_errors(tmp_path, text, match):
    _refused(_write(tmp_path, GRPO + text), match)


def test_a_quoted_false_for_an_sft_boolean_is_an_error(tmp_path):
    (tmp_path / "train.jsonl").write_text("")
    _refused(_write(tmp_path, f"output_dir: o\ndataset: {tmp_path}\nassistant_only_loss: 'false'\n"),
             "'assistant_only_loss' must be true or false, got str 'false'", kind="sft")


def test_every_problem_is_listed_at_once(tmp_path):
    p = _write(tmp_path, "dataset: {task: crossview_toy}\nnum_generation: 4\nlr: fast\nlora: {rank: 8}\n"
                         "trl: {bf16: maybe, betaa: 1}\neval_gen_kwargs: {max_new_tokens: -5}\n")
    msg = _refused(p, "8 problems")
    for part in ("is not divisible by num_generations = 8","did you mean 'num_generations'", "'lr' must be a number", "missing required key 'output_dir'",
                 "unknown config key 'rank' in lora", "trl.bf16 must be true or false",
                 "did you mean 'trl.beta'", "max_new_tokens must be >= 1"):
        assert part in msg, part
    r = run_cli("train", "grpo", "--config", str(p), timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "8 problems" in r.stderr, r.stderr[-2000:]


def test_problems_known_at_start_come_before_the_model_loads(tmp_path, monkeypatch):
    import geobench.hfutil as hf
    import geobench.trainers.training.run as run
    from geobench.trainers.training.grpo import train_grpo

    def boom(*a, **k):
        raise AssertionError("model loaded before validation")

    monkeypatch.setattr(run, "load_model", boom)
    monkeypatch.setattr(hf, "load_processor", boom)
    base = {"output_dir": str(tmp_path / "o"), "dataset": {"task": "crossview_toy"}, "per_device_batch_size": 2,
            "num_generations": 2, "eval_tasks": ["crossview_toy"]}
    with pytest.raises(GeobenchError, match="max_new_tokens must be >= 1"):
        train_grpo({**base, "eval_gen_kwargs": {"max_new_tokens": -5}})
    with pytest.raises(GeobenchError, match="not a plain folder name"):
        train_grpo({**base, "run_name": "r" * 300})
    # evaluations that this run would write again (another run of the same name): refused now, not at step N
    done = tmp_path / "results" / "o-step2"
    done.mkdir(parents=True)
    (done / "results.json").write_text("{}")
    with pytest.raises(GeobenchError, match="already holds checkpoint evaluations of a run named 'o'"):
        train_grpo({**base, "eval_output": str(tmp_path / "results")})
