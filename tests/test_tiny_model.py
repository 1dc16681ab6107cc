"""The built-in tiny Qwen2.5-VL: built offline, loaded like a real checkpoint, deterministic, atomic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import geobench.plugin_manager
from geobench import tinymodel as tm
from geobench.errors import GeobenchError
from geobench.hfutil import folder_hash, load_processor


def test_folder_looks_like_a_real_checkpoint(tiny_model_path):
    files = sorted(os.listdir(tiny_model_path))
    assert files == ["chat_template.jinja", "config.json", "generation_config.json", "model.safetensors",
                     "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"]
    for name in files:
        if name.endswith(".json"):
            assert "auto_map" not in json.load(open(os.path.join(tiny_model_path, name))), "no remote code"
    tok_cfg = json.load(open(os.path.join(tiny_model_path, "tokenizer_config.json")))
    assert tok_cfg["processor_class"] == "Qwen2_5_VLProcessor" and tok_cfg["tokenizer_class"] == "Qwen2Tokenizer"
    assert "extra_special_tokens" not in tok_cfg, "a list there breaks loading with transformers 4.x"
    pre = json.load(open(os.path.join(tiny_model_path, "preprocessor_config.json")))
    assert pre["image_processor_type"] == "Qwen2VLImageProcessor"
    assert open(os.path.join(tiny_model_path, "chat_template.jinja")).read() == tm.CHAT_TEMPLATE


def test_loads_and_generates_without_remote_code(tiny_model_path):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
    proc = load_processor(tiny_model_path, trust_remote_code=False)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == tm.param_count(tiny_model_path) and 100_000 < n_params < 1_000_000
    tok = proc.tokenizer
    assert [tok.convert_tokens_to_ids(t) for t in tm.SPECIAL_TOKENS] == list(range(22))
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")

    img = Image.new("RGB", (96, 80), (20, 120, 40))
    chat = [{"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": "Where?"}]}]
    text = proc.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    inputs = proc(text=[text], images=[img], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 6, 6]]  # 36 patches -> 9 image tokens
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 9
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_tokenizer_is_compact_on_answers(tiny_model_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    for text in ["<think>snow, pines</think><answer>(48.85, 2.35)</answer>", "<answer>France</answer>",
                 "latitude -33.87, longitude 151.21", "Ünïcode 東京"]:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
    assert len(tok("<answer>France</answer>")["input_ids"]) <= 6
    assert tok.decode(tok("<|im_start|>user<|image_pad|><|im_end|>")["input_ids"], skip_special_tokens=True) == "user"
    assert len(tok(" latitude longitude")["input_ids"]) == 2


def test_build_is_deterministic(tiny_model_path, tmp_path):
    same = tm.build_tiny_model(str(tmp_path / "again"), seed=0)
    other = tm.build_tiny_model(str(tmp_path / "other"), seed=1)
    assert folder_hash(same) == folder_hash(tiny_model_path)
    assert folder_hash(other) != folder_hash(tiny_model_path)
    tokenizer = "tokenizer.json"
    assert open(os.path.join(other, tokenizer)).read() == open(os.path.join(tiny_model_path, tokenizer)).read()


def test_build_is_atomic(tmp_path, monkeypatch):
    def crash(folder, seed, width=64):
        open(os.path.join(folder, "config.json"), "w").write("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(tm, "_build_into", crash)
    with pytest.raises(KeyboardInterrupt):
        tm.build_tiny_model(str(tmp_path / "m"))
    assert os.listdir(tmp_path) == [], "no half model and no temp folder left behind"


def test_build_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(GeobenchError, match="not empty"):
        tm.build_tiny_model(str(tmp_path / "m"))
    assert os.listdir(tmp_path / "m") == ["keep.txt"]


def test_default_path_built_once_under_geobench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_HOME", str(tmp_path))
    builds = []
    monkeypatch.setattr(tm, "_build_into", lambda folder, seed, width=64: (builds.append(folder),
                                                                 open(os.path.join(folder, "config.json"), "w")))
    path = tm.tiny_model_path()
    assert path == os.path.join(str(tmp_path), "models", "tiny-qwen25vl-v1")
    assert tm.tiny_model_path() == path and len(builds) == 1


def test_hooks_register_model_and_command(tmp_path):
    import click
    from click.testing import CliRunner

    from geobench.plugins import tiny_model as plugin

    models = []
    plugin.geobench_register_models(
        lambda name, resolve, description="", preset=None: models.append((name, resolve, preset.pipeline_check)))
    assert models == [("tiny", "geobench.tinymodel:tiny_model_path", True)]
    assert geobench.plugin_manager.registry().model("tiny")[0] is tm.tiny_model_path

    @click.group()
    def cli():
        pass

    plugin.geobench_register_commands(cli)
    result = CliRunner().invoke(cli, ["tiny-model", "build", str(tmp_path / "m"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "m") in result.output and "params=" in result.output
    assert os.path.isfile(tmp_path / "m" / "model.safetensors")


def test_plugin_modules_import_without_torch():
    code = ("import sys, geobench.plugins.tiny_model, geobench.plugins.hf, geobench.tinymodel, geobench.hfutil; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
