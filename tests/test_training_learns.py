"""Training learns: SFT and GRPO change the weights and move the score they optimise the right way.

The other trainer tests check plumbing (checkpoints load, every checkpoint is evaluated, resume); a trainer
that ignored the learning rate or froze every parameter would pass them. Here, on the tiny model:
- SFT on 4 scaffold exemplars (one batch, the same every step): the training loss on that batch drops;
- GRPO with a reward the tiny model can learn in a few steps ("the share of the completion's tokens that are
  in a fixed half G of the vocabulary"): the probability the model gives to G at the first answer position,
  measured on the training prompts before and after, goes up.
Each check is also run once against a deliberately broken trainer (learning rate forced to 0 under the
config's validation), and must fail there: the checks can tell a run that learned from one that did not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

STEPS = 6
GRPO_STEPS = 12


@pytest.fixture(scope="module")
def scaffold_dir(crossview_scaffold) -> Path:
    return crossview_scaffold(4)


def _weights(folder: str | Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


def weights_moved(base: str | Path, trained: str | Path) -> float:
    """The largest absolute change of any weight between two saved models (same tensor names)."""
    a, b = _weights(base), _weights(trained)
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))[:5]
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _logged(out: Path, key: str) -> list[float]:
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [float(r[key]) for r in rows if key in r]


def _zero_lr(monkeypatch, module) -> None:
    """Break a trainer: the learning rate TRL gets is 0 (the config itself refuses lr 0, so this goes under it)."""
    real = module.common_args
    monkeypatch.setattr(module, "common_args", lambda cfg: {**real(cfg), "learning_rate": 0.0})


# ----------------------------------------------------------------------------------------------- SFT


def sft_learned(base: str, out: Path) -> list[str]:
    """What is wrong with an SFT run that should have learned its one batch (empty: it learned)."""
    problems = []
    if (moved := weights_moved(base, out)) < 1e-4:
        problems.append(f"weights did not move (largest change {moved:.2e})")
    losses = _logged(out, "loss")
    if len(losses) != STEPS:
        problems.append(f"{len(losses)} logged losses, expected {STEPS}")
    elif not losses[-1] < losses[0] - 0.3:
        problems.append(f"loss on the same batch did not drop by 0.3: {losses[0]:.3f} -> {losses[-1]:.3f}")
    accuracy = _logged(out, "mean_token_accuracy")
    if len(accuracy) != STEPS or not accuracy[-1] > accuracy[0] + 0.2:
        problems.append(f"token accuracy on the same batch did not rise by 0.2: {accuracy}")
    return problems


def _sft(tiny_model_path: str, out: Path, data: Path) -> dict:
    from geobench.trainers.training.sft import train_sft

    return train_sft({"model": tiny_model_path, "output_dir": str(out), "dataset": str(data), "max_steps": STEPS,
                      "per_device_batch_size": 4, "save_steps": 100, "logging_steps": 1, "lr": 1e-3, "seed": 0,
                      "trl": {"lr_scheduler_type": "constant", "weight_decay": 0.0}})


def test_sft_lowers_the_loss_it_trains_on(tmp_path, tiny_model_path, scaffold_dir):
    summary = _sft(tiny_model_path, tmp_path / "sft", scaffold_dir)
    assert summary["global_step"] == STEPS
    assert sft_learned(tiny_model_path, tmp_path / "sft") == []


def test_sft_check_fails_on_a_trainer_that_does_not_learn(tmp_path, tiny_model_path, scaffold_dir, monkeypatch):
    import geobench.trainers.training.sft as sft

    _zero_lr(monkeypatch, sft)
    _sft(tiny_model_path, tmp_path / "broken", scaffold_dir)
    problems = sft_learned(tiny_model_path, tmp_path / "broken")
    assert any("weights did not move" in p for p in problems), problems
    assert any("did not drop" in p for p in problems), problems
    assert any("did not rise" in p for p in problems), problems


# ---------------------------------------------------------------------------------------------- GRPO


def _good_ids(processor) -> list[int]:
    """G: every other ordinary token id (the special tokens excluded)."""
    tok = processor.tokenizer
    special = set(tok.all_special_ids)
    return [i for i in range(len(tok)) if i % 2 == 0 and i not in special]


def share_reward(processor):
    """A GRPO reward: the share of a completion's tokens (re-tokenized) that are in G."""
    good = set(_good_ids(processor))
    tok = processor.tokenizer

    def good_share(completions, **_):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        out = []
        for text in texts:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            out.append(sum(i in good for i in ids) / len(ids) if ids else 0.0)
        return out

    good_share.__name__ = "good_share"
    return good_share


def mass_on_good(model_dir: str | Path, dataset, processor) -> float:
    """The mean probability the model gives to G as the first token of its answer, over the prompts."""
    import torch
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    good = torch.tensor(_good_ids(processor))
    masses = []
    with torch.no_grad():
        for row in dataset:
            text = processor.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
            inputs = processor(text=[text], images=row["images"], return_tensors="pt")
            probs = model(**inputs).logits[0, -1].float().softmax(-1)
            masses.append(float(probs[good].sum()))
    return sum(masses) / len(masses)


@pytest.fixture(scope="module")
def grpo_setup(tiny_model_path):
    from geobench import hfutil, plugin_manager
    from geobench.trainers.training.grpo import grpo_dataset

    processor = hfutil.load_processor(tiny_model_path)
    dataset = grpo_dataset(plugin_manager.registry().task("crossview_toy"), "train", limit=4)
    return processor, dataset, mass_on_good(tiny_model_path, dataset, processor)


def _grpo(tiny_model_path: str, out: Path, processor, monkeypatch) -> dict:
    import geobench.trainers.training.grpo as grpo

    monkeypatch.setattr(grpo, "build_rewards", lambda cfg, task, registry=None: ([share_reward(processor)], [1.0]))
    return grpo.train_grpo({"model": tiny_model_path, "output_dir": str(out), "rewards": "tiny",
                            "dataset": {"task": "crossview_toy", "split": "train", "limit": 4},
                            "max_steps": GRPO_STEPS, "save_steps": 100, "per_device_batch_size": 16,
                            "num_generations": 4, "max_completion_length": 8, "lr": 1e-2, "beta": 0.0,
                            "temperature": 1.0, "logging_steps": 1, "seed": 0,
                            "trl": {"lr_scheduler_type": "constant", "weight_decay": 0.0}})


def grpo_learned(base: str, out: Path, grpo_setup) -> list[str]:
    processor, dataset, before = grpo_setup
    problems = []
    if (moved := weights_moved(base, out)) < 1e-4:
        problems.append(f"weights did not move (largest change {moved:.2e})")
    after = mass_on_good(out, dataset, processor)
    print(f"P(G) at the first answer position: {before:.3f} -> {after:.3f}")
    if not after > before + 0.05:
        problems.append(f"probability of the rewarded tokens did not rise by 0.05: {before:.3f} -> {after:.3f}")
    return problems


def test_grpo_raises_the_reward_it_optimises(tmp_path, tiny_model_path, grpo_setup, monkeypatch):
    summary = _grpo(tiny_model_path, tmp_path / "grpo", grpo_setup[0], monkeypatch)
    assert summary["global_step"] == GRPO_STEPS
    assert grpo_learned(tiny_model_path, tmp_path / "grpo", grpo_setup) == []


def test_grpo_check_fails_on_a_trainer_that_does_not_learn(tmp_path, tiny_model_path, grpo_setup, monkeypatch):
    import geobench.trainers.training.grpo as grpo

    _zero_lr(monkeypatch, grpo)
    _grpo(tiny_model_path, tmp_path / "broken", grpo_setup[0], monkeypatch)
    problems = grpo_learned(tiny_model_path, tmp_path / "broken", grpo_setup)
    assert any("weights did not move" in p for p in problems), problems
    assert any("did not rise" in p for p in problems), problems
