"""Trainers: config validation (one line, before any model load), SFT and GRPO on the tiny model (CPU),
checkpoints that load back, eval-on-save rows in results/table.csv, the `geobench train` CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from geobench.errors import GeobenchError
from geobench.trainers.training.config import load_config, parse_set

REPO = Path(__file__).resolve().parent.parent


def _write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def scaffold_dir(crossview_scaffold) -> Path:
    return crossview_scaffold(16)


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail loudly if anything tries to load weights or a processor."""
    import geobench.hfutil as hf
    import geobench.trainers.training.run as run

    def boom(*a, **k):
        raise AssertionError("model loaded before validation")

    monkeypatch.setattr(run, "load_model", boom)
    monkeypatch.setattr(hf, "load_processor", boom)


# ---------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("text,kind,match", [
    ("output_dir: o\ndataset: {task: crossview_toy}\nnum_generation: 4\n", "grpo", "did you mean 'num_generations'"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nlr: fast\n", "grpo", "'lr' must be a number"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nper_device_batch_size: 3\nnum_generations: 4\n", "grpo",
     "not divisible by num_generations"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nlr: 0\n", "grpo", "lr must be > 0"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nnum_generations: 1\nper_device_batch_size: 1\n", "grpo",
     "num_generations must be >= 2"),
    ("output_dir: o\n", "sft", "sft needs dataset"),
    ("output_dir: o\ndataset: /nonexistent/folder\n", "sft", "no train.jsonl"),
    ("dataset: {task: crossview_toy}\n", "grpo", "missing required key 'output_dir'"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nassistant_only_loss: true\n", "grpo", "for `geobench train sft` only"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nmax_steps: true\n", "grpo", "'max_steps' must be an integer"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nlora: {rank: 8}\n", "grpo", "unknown config key 'rank' in lora"),
    ("output_dir: o\ndataset: {task: crossview_toy}\ntrl: {learning_rate: 0.1}\n", "grpo", "set 'lr' instead"),
    ("output_dir: o\ndataset: {task: crossview_toy}\nrewards: [{format: x}]\n", "grpo", "must be a number"),
    ("output_dir: o\n  bad: [yaml\n", "grpo", "not valid YAML"),
])
def test_config_errors_are_one_line(tmp_path, text, kind, match):
    with pytest.raises(GeobenchError, match=match) as e:
        load_config(_write(tmp_path, text), kind)
    assert "\n" not in str(e.value)


def test_config_set_overrides_and_defaults(tmp_path, scaffold_dir):
    p = _write(tmp_path, f"output_dir: o\ndataset: {scaffold_dir}\nlora: false\n")
    cfg = load_config(p, "sft", ["lora.r=4", "max_steps=3", "trl.bf16=false", "eval_tasks=[crossview_toy]"])
    assert cfg.lora is not None and cfg.lora.r == 4 and cfg.max_steps == 3 and cfg.trl == {"bf16": False}
    assert cfg.eval_tasks == ["crossview_toy"] and cfg.max_length is None and cfg.assistant_only_loss
    assert cfg.lr == 1e-5 and cfg.name == "o"
    assert parse_set(["a.b=1", "c=x"]) == {"a": {"b": 1}, "c": "x"}
    with pytest.raises(GeobenchError, match="use key=value"):
        parse_set(["oops"])


def test_shipped_configs_validate(tmp_path, scaffold_dir):
    load_config(REPO / "configs" / "sft_tiny.yaml", "sft", [f"dataset={scaffold_dir}"])
    load_config(REPO / "configs" / "grpo_tiny.yaml", "grpo")
    cfg = load_config(REPO / "configs" / "grpo_geo_r1.yaml", "grpo")
    assert (cfg.num_generations, cfg.beta, cfg.lr, cfg.max_completion_length, cfg.temperature, cfg.epochs) == \
        (8, 0.04, 1e-6, 2048, 1.0, 2)


def test_errors_come_before_model_load(tmp_path, no_model_load):
    from geobench.trainers.training.grpo import train_grpo

    base = {"output_dir": str(tmp_path / "o"), "dataset": {"task": "crossview_toy"}, "per_device_batch_size": 2,
            "num_generations": 2}
    with pytest.raises(GeobenchError, match="did you mean 'trl.beta'"):
        train_grpo({**base, "trl": {"betaa": 1}})
    with pytest.raises(GeobenchError, match="unknown task 'crossview_tyo'"):
        train_grpo({**base, "eval_tasks": ["crossview_tyo"]})
    with pytest.raises(GeobenchError, match="unknown reward 'formatt'"):
        train_grpo({**base, "rewards": ["formatt"]})
    with pytest.raises(GeobenchError, match="unknown reward preset"):
        train_grpo({**base, "rewards": "nope"})


def test_grpo_dataset_interleaves_images():
    from trl.data_utils import prepare_multimodal_messages

    from geobench.trainers.training.config import from_dict
    from geobench.trainers.training.grpo import grpo_dataset, resolve_task

    cfg = from_dict({"output_dir": "o", "dataset": {"task": "crossview_toy"}, "num_generations": 2,
                     "per_device_batch_size": 2}, "grpo")
    ds = grpo_dataset(resolve_task(cfg), "train", limit=3)
    row = ds[0]
    assert {"prompt", "images", "doc_id", "answer", "k", "candidates"} <= set(ds.column_names)
    assert len(row["images"]) == row["k"] + 1 == 5
    filled = prepare_multimodal_messages(row["prompt"], images=row["images"])
    parts = filled[0]["content"]
    assert [p["type"] for p in parts[:3]] == ["text", "image", "text"] and "image" in parts[1]
    from geobench.trainers.rewards import preset

    funcs, _ = preset("tiny")
    reward = funcs[0]([f"<think>x</think><answer>{row['answer']}</answer>"], candidates=[row["candidates"]],
                      k=[row["k"]], answer=[row["answer"]])
    assert reward == [1.0]


# ------------------------------------------------------------------------------------------ training


def _table_rows(results: Path) -> list[dict]:
    with open(results / "table.csv") as f:
        return list(csv.DictReader(f))


def test_sft_checkpoints_load_and_are_evaluated(tmp_path, tiny_model_path, scaffold_dir):
    from geobench.api import GenConfig, Request
    from geobench.plugins.hf import HFBackend
    from geobench.trainers.training.sft import train_sft

    out, results = tmp_path / "sft", tmp_path / "results"
    summary = train_sft({"model": tiny_model_path, "output_dir": str(out), "dataset": str(scaffold_dir),
                         "max_steps": 2, "save_steps": 1, "per_device_batch_size": 2, "lr": 1e-4,
                         "eval_tasks": ["crossview_toy"], "eval_limit": 2, "eval_output": str(results),
                         "eval_gen_kwargs": {"max_new_tokens": 4}})
    assert summary["global_step"] == 2
    assert [Path(c).name for c in summary["checkpoints"]] == ["checkpoint-1", "checkpoint-2"]
    ckpt = out / "checkpoint-2"
    assert (ckpt / "preprocessor_config.json").is_file() and (ckpt / "tokenizer.json").is_file()
    backend = HFBackend(str(ckpt))
    from geobench import plugin_manager

    task = plugin_manager.registry().task("crossview_toy")
    doc = next(iter(task.docs("test", limit=1)))
    req = Request(task=task.name, doc_id=doc.id, messages=task.to_messages(doc), gen=GenConfig(max_new_tokens=4))
    (_, completion), = list(backend.generate([req]))
    assert isinstance(completion.text, str)
    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs if "loss" in r] == [1, 2]
    steps = {r["checkpoint_step"] for r in _table_rows(results)}
    assert steps == {"1", "2"}
    assert {r["model"] for r in _table_rows(results)} == {"sft"}


def test_sft_background_evaluation_covers_every_checkpoint(tmp_path, tiny_model_path, scaffold_dir):
    from geobench.trainers.training.sft import train_sft

    base = {"model": tiny_model_path, "dataset": str(scaffold_dir), "max_steps": 2, "save_steps": 1,
            "per_device_batch_size": 2, "eval_tasks": ["crossview_toy"], "eval_limit": 2,
            "eval_gen_kwargs": {"max_new_tokens": 4}, "eval_mode": "background"}
    with pytest.raises(GeobenchError, match="cannot be combined with save_total_limit"):
        train_sft({**base, "output_dir": str(tmp_path / "x"), "save_total_limit": 1})
    with pytest.raises(GeobenchError, match="eval_mode must be"):
        train_sft({**base, "output_dir": str(tmp_path / "x"), "eval_mode": "later"})
    results = tmp_path / "results"
    summary = train_sft({**base, "output_dir": str(tmp_path / "bg"), "eval_output": str(results)})
    assert sorted(e["step"] for e in summary["evaluated"]) == [1, 2]  # the queue is drained before it returns
    assert {r["checkpoint_step"] for r in _table_rows(results)} == {"1", "2"}


def test_sft_lora_checkpoint_is_merged_for_eval(tmp_path, tiny_model_path, scaffold_dir):
    from geobench.trainers.training.sft import train_sft

    out, results = tmp_path / "lora", tmp_path / "results"
    train_sft({"model": tiny_model_path, "output_dir": str(out), "dataset": str(scaffold_dir), "max_steps": 1,
               "save_steps": 1, "per_device_batch_size": 2, "lora": {"r": 4, "alpha": 8}, "lr": 1e-3,
               "eval_tasks": ["crossview_toy"], "eval_limit": 1, "eval_output": str(results),
               "eval_gen_kwargs": {"max_new_tokens": 2}})
    assert (out / "checkpoint-1" / "adapter_config.json").is_file()
    assert (out / "checkpoint-1" / "merged" / "config.json").is_file()
    assert {r["checkpoint_step"] for r in _table_rows(results)} == {"1"}


def test_grpo_two_steps_checkpoint_and_eval(tmp_path, tiny_model_path):
    from geobench.trainers.training.grpo import train_grpo

    out, results = tmp_path / "grpo", tmp_path / "results"
    summary = train_grpo({"model": tiny_model_path, "output_dir": str(out), "rewards": "tiny",
                          "dataset": {"task": "crossview_toy", "split": "train", "limit": 4},
                          "max_steps": 2, "save_steps": 2, "per_device_batch_size": 2, "num_generations": 2,
                          "max_completion_length": 8, "lr": 1e-5, "eval_tasks": ["crossview_toy"], "eval_limit": 2,
                          "eval_output": str(results), "eval_gen_kwargs": {"max_new_tokens": 4}})
    assert summary["global_step"] == 2
    ckpt = out / "checkpoint-2"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "preprocessor_config.json").is_file()
    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("rewards/shaped_pairing/mean" in r and "kl" in r for r in logs)
    assert {r["checkpoint_step"] for r in _table_rows(results)} == {"2"}


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_train_commands(tmp_path, monkeypatch, capsys):
    from geobench import plugin_manager
    from geobench.cli import main

    plugin_manager.set_registry(None)  # the installed entry point `trainers` provides the command and trainers
    reg = plugin_manager.registry()
    assert {"sft", "grpo"} <= set(reg.trainers)
    assert main(["train", "list"]) == 0
    assert "grpo" in capsys.readouterr().out
    cfg = _write(tmp_path, "output_dir: o\ndataset: {task: crossview_toy}\nper_device_batch_size: 3\n"
                           "num_generations: 2\n")
    assert main(["train", "grpo", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "not divisible by num_generations" in err and err.count("\n") == 1
    assert main(["train", "grpo", "--config", str(cfg), "--set", "num_generatons=3"]) == 2
    assert "did you mean 'num_generations'" in capsys.readouterr().err


def test_train_without_a_config_says_how_to_start(capsys):
    from geobench.cli import main

    assert main(["train", "grpo"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert 3 <= len(lines) <= 10 and "missing required key" not in err
    assert "configs/grpo_tiny.yaml" in err and "configs/grpo_geo_r1.yaml" in err and "geobench demo" in err
    assert "--config configs/grpo_tiny.yaml" in err  # the CPU starter, as a command to copy
    assert main(["train", "sft"]) == 2
    err = capsys.readouterr().err
    assert "configs/sft_tiny.yaml" in err and "geobench scaffold" in err  # its data is made first


def test_train_with_several_problems_lists_them_all_in_one_line(tmp_path, capsys):
    from geobench.cli import main

    cfg = _write(tmp_path, "dataset: {task: crossview_toy}\nnum_generation: 4\nlr: fast\nper_device_batch_size: 2\n"
                           "num_generations: 2\n")
    assert main(["train", "grpo", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 problems" in err
    assert "missing required key 'output_dir'" in err and "'lr' must be a number" in err
    assert "did you mean 'num_generations'" in err
    assert main(["train", "grpo", "--set", "lr=fast"]) == 2  # --set alone is a config too: validated, not helped
    assert "missing required key 'output_dir'" in capsys.readouterr().err


def test_start_up_checks_are_reported_together(tmp_path, no_model_load):
    from geobench.trainers.training.grpo import train_grpo

    (tmp_path / "o" / "checkpoint-1").mkdir(parents=True)
    with pytest.raises(GeobenchError) as e:
        train_grpo({"output_dir": str(tmp_path / "o"), "dataset": {"task": "crossview_toy"}, "num_generations": 2,
                    "per_device_batch_size": 2, "eval_tasks": ["crossview_tyo"], "rewards": ["formatt"]})
    msg = str(e.value)
    assert "3 problems" in msg and "\n" not in msg
    assert "unknown task 'crossview_tyo'" in msg and "unknown reward 'formatt'" in msg
    assert "already holds checkpoints" in msg
