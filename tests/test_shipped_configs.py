"""Every shipped training config passes validation, and an optional dependency a config names (FlashAttention 2,
DeepSpeed, peft) is checked before any model loads: one line that says how to install it or which fallback to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, run_cli
from geobench import hfutil
from geobench.errors import GeobenchError
from geobench.trainers.training import config, config_checks

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
REAL = hfutil.installed


def _kind(path: Path) -> str:
    return path.name.split("_")[0]


def _with_gpu_extra(monkeypatch):
    """As on a CUDA machine with `pip install 'geobench[gpu]'`."""
    monkeypatch.setattr(hfutil, "installed", lambda name: name in ("flash_attn", "deepspeed") or REAL(name))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_each_shipped_config_passes_validation(path, monkeypatch, tmp_path):
    assert _kind(path) in config.KINDS
    sets = []
    if _kind(path) == "sft":  # its data is made by `geobench scaffold` first: stand in an (empty) scaffold folder
        (tmp_path / "train.jsonl").write_text("")
        sets.append(f"dataset={tmp_path}")
    cfg = config.load_config(path, _kind(path), sets)
    _with_gpu_extra(monkeypatch)
    config_checks.check_trl_keys(cfg)


def test_flash_attention_without_its_package_is_one_line_with_the_install_and_the_fallback(monkeypatch):
    monkeypatch.setattr(hfutil, "installed", lambda name: name != "flash_attn" and REAL(name))
    cfg = config.load_config(REPO / "configs" / "grpo_geo_r1.yaml", "grpo")
    with pytest.raises(GeobenchError, match=r"flash_attention_2 needs the 'flash_attn' package") as e:
        config_checks.check_trl_keys(cfg)
    assert "geobench[gpu]" in str(e.value) and "trl.model_init_kwargs.attn_implementation=sdpa" in str(e.value)
    fallback = config.load_config(REPO / "configs" / "grpo_geo_r1.yaml", "grpo",
                                  ["trl.model_init_kwargs.attn_implementation=sdpa"])
    config_checks.check_trl_keys(fallback)


def test_the_cli_stops_before_any_model_loads(tmp_path):
    if REAL("flash_attn"):
        pytest.skip("FlashAttention is installed here")
    r = run_cli("train", "grpo", "--config", str(REPO / "configs" / "grpo_geo_r1.yaml"), cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("geobench: error: ")
    assert "flash_attn" in r.stderr and "attn_implementation=sdpa" in r.stderr
    assert not (tmp_path / "checkpoints").exists()
    r = run_cli("eval", "--model", "tiny", "--tasks", "geoloc_toy", "--limit", "1", "--model-args",
                "attn_implementation=flash_attention_2", "--output", str(tmp_path / "res"), timeout=120)
    assert r.returncode == 2 and "--model-args attn_implementation=sdpa" in r.stderr, r.stderr


def test_lora_and_deepspeed_need_their_packages(monkeypatch, tmp_path):
    (tmp_path / "train.jsonl").write_text("")
    monkeypatch.setattr(hfutil, "installed", lambda name: name not in ("peft", "deepspeed") and REAL(name))
    cfg = config.load_config(None, "sft", ["output_dir=x", f"dataset={tmp_path}", "lora=true"])
    with pytest.raises(GeobenchError, match="lora needs the 'peft' package"):
        config_checks.check_trl_keys(cfg)
    cfg = config.load_config(None, "sft", ["output_dir=x", f"dataset={tmp_path}", "trl.deepspeed=ds.json"])
    with pytest.raises(GeobenchError, match="trl.deepspeed needs the 'deepspeed' package"):
        config_checks.check_trl_keys(cfg)
