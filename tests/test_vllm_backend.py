"""The `vllm` backend without a GPU: argument mapping, request building, errors, chunking.

What runs here is geobench's own code: `engine_args` (what goes to `vllm.LLM(...)`), `sampling_params_kwargs`
(what goes to `SamplingParams(...)`), `to_vllm_messages` (what goes to `LLM.chat`), the one-line errors, and
the chunking/ordering/yielding loop of `VLLMBackend.generate`. That loop is driven by `FakeEngine`, an object
shaped like `vllm.LLM` (`.chat` returning `RequestOutput`-shaped objects): it tests OUR loop, it is NOT a
claim that vLLM works. Only `test_greedy_parity_with_hf_on_tiny_model` (marked `gpu`, skipped without CUDA and
vLLM) runs the real engine.
"""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

import geobench
import geobench.plugins.vllm.backend as vb
from conftest import run_cli
from geobench.api import Completion, GenConfig, ImageRef, Request, user
from geobench.errors import GeobenchError
from geobench.hfutil import folder_hash
from geobench.plugins.hf import HFBackend
from geobench.plugins.vllm import (
    DEFAULT_CHUNK_SIZE,
    INSTALL_HINT,
    KNOWN_ARGS,
    VLLMBackend,
    completion_from_output,
    default_mm_limit,
    engine_args,
    sampling_params_kwargs,
    to_vllm_messages,
)

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[ImageRef]:
    """Three noise PNGs of different sizes, so the order they reach the engine in can be checked."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("vllm_images")
    rng = random.Random(0)
    refs = []
    for k, (w, h) in enumerate([(96, 80), (64, 64), (128, 96)]):
        img = Image.new("RGB", (w, h))
        img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(w * h)])
        img.save(folder / f"{k}.png")
        refs.append(ImageRef(str(folder / f"{k}.png")))
    return refs


# ------------------------------------------------------------------------------------- a vllm.LLM stand-in


@dataclass
class FakeCompletionOutput:  # the fields of vllm.outputs.CompletionOutput that geobench reads
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"
    stop_reason: int | str | None = None


@dataclass
class FakeRequestOutput:  # vllm.outputs.RequestOutput: `.outputs[0]` is the completion
    outputs: list[FakeCompletionOutput]


@dataclass
class FakeEngine:
    """Implements `.chat(messages, sampling_params, use_tqdm=..., chat_template_content_format=...)` like
    `vllm.LLM`. Each completion's text names what the prompt held (texts, image sizes) and its params, so the
    tests can check what our loop sent. For testing geobench's chunking code only; it generates nothing."""

    fail_on_call: int | None = None
    calls: list[dict] = field(default_factory=list)

    def chat(self, messages, sampling_params=None, use_tqdm=True, chat_template_content_format="auto"):
        self.calls.append({"messages": messages, "params": sampling_params, "use_tqdm": use_tqdm,
                           "format": chat_template_content_format})
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("engine died")
        assert isinstance(sampling_params, list) and len(sampling_params) == len(messages)
        out = []
        for conv, params in zip(messages, sampling_params, strict=True):
            bits = []
            for m in conv:
                for part in m["content"] if isinstance(m["content"], list) else [m["content"]]:
                    if isinstance(part, str):
                        bits.append(part)
                    elif part["type"] == "text":
                        bits.append(part["text"])
                    else:
                        w, h = part["image_pil"].size
                        bits.append(f"img{w}x{h}")
            text = " | ".join(bits) + f" || max_tokens={params['max_tokens']}"
            out.append(FakeRequestOutput([FakeCompletionOutput(text, [7, 7, 7, 0])]))  # 3 tokens + EOS
        return out


def fake_backend(engine: FakeEngine, chunk_size=2, fingerprint=None) -> VLLMBackend:
    return VLLMBackend.from_engine(engine, chunk_size=chunk_size, fingerprint=fingerprint,
                                   sampling_params_factory=lambda **kw: kw)


def requests_for(images, n=5, gens=None) -> list[Request]:
    gens = gens or [GenConfig(max_new_tokens=8)]
    return [Request("toy", str(i), user(images[i % 3], f"question {i}"), gens[i % len(gens)]) for i in range(n)]


# ------------------------------------------------------------------------------------------ engine args


def test_module_import_pulls_neither_torch_nor_vllm():
    code = "import sys, geobench.plugins.vllm; print('torch' in sys.modules, 'vllm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_engine_args_mapping():
    args = engine_args("Qwen/Qwen2.5-VL-7B-Instruct", tensor_parallel_size=2, gpu_memory_utilization=0.85,
                       max_model_len=8192, limit_mm_per_prompt=5, dtype="bf16", min_pixels=3136,
                       max_pixels=1003520, revision="abc", trust_remote_code="true", seed=3, enforce_eager=True,
                       max_num_seqs=128, chunk_size=64, batch_size=8)
    assert args == {
        "model": "Qwen/Qwen2.5-VL-7B-Instruct", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.85,
        "max_model_len": 8192, "limit_mm_per_prompt": {"image": 5}, "dtype": "bfloat16",
        "mm_processor_kwargs": {"min_pixels": 3136, "max_pixels": 1003520}, "revision": "abc",
        "trust_remote_code": True, "seed": 3, "enforce_eager": True, "max_num_seqs": 128,
    }  # chunk_size and batch_size are geobench's, never LLM(...)'s


def test_engine_args_defaults_leave_vllm_defaults_alone():
    assert engine_args("m") == {"model": "m", "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9,
                                "dtype": "auto", "trust_remote_code": False}
    assert engine_args("m", max_pixels=1000)["mm_processor_kwargs"] == {"max_pixels": 1000}


@pytest.mark.parametrize("value, expected", [
    (5, {"image": 5}), ("3", {"image": 3}), ("image=2", {"image": 2}), ({"image": 4, "video": 0}, {"image": 4, "video": 0}),
])
def test_limit_mm_per_prompt_forms(value, expected):
    assert engine_args("m", limit_mm_per_prompt=value)["limit_mm_per_prompt"] == expected


def test_default_mm_limit_is_the_most_images_in_one_request(images):
    reqs = [Request("t", "0", user("text only"), GenConfig()),
            Request("t", "1", user(images[0], images[1], "two"), GenConfig())]
    assert default_mm_limit(reqs) == {"image": 2}
    assert default_mm_limit(reqs[:1]) == {"image": 1}  # never 0: the engine must accept an image later


@pytest.mark.parametrize("kwargs, needle", [
    ({"tensor_parallel_size": 0}, "tensor_parallel_size must be >= 1"),
    ({"tensor_parallel_size": "two"}, "tensor_parallel_size must be an integer"),
    ({"tensor_parallel_size": 1.5}, "tensor_parallel_size must be an integer"),
    ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization must be in (0, 1]"),
    ({"gpu_memory_utilization": "lots"}, "gpu_memory_utilization must be a number"),
    ({"max_model_len": 0}, "max_model_len must be >= 1"),
    ({"dtype": "int8"}, "bad dtype 'int8'"),
    ({"min_pixels": 5000, "max_pixels": 100}, "min_pixels (5000) > max_pixels (100)"),
    ({"limit_mm_per_prompt": 0}, "limit_mm_per_prompt must be >= 1"),
    ({"limit_mm_per_prompt": "many"}, "limit_mm_per_prompt must be an integer"),
    ({"max_num_seqs": -1}, "max_num_seqs must be >= 1"),
    ({"seed": "x"}, "seed must be an integer"),
    ({"chunk_size": 0}, "chunk_size must be >= 1"),
])
def test_bad_values_are_one_line_errors(kwargs, needle):
    with pytest.raises(GeobenchError) as e:
        VLLMBackend("m", **kwargs)  # validation comes before the vLLM check: same answer on any machine
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_arg_lists_the_known_ones():
    with pytest.raises(GeobenchError) as e:
        VLLMBackend("m", tensor_parallel=2, attn_implementation="sdpa")
    msg = str(e.value)
    assert "unknown model args 'attn_implementation', 'tensor_parallel' for backend 'vllm'" in msg
    assert all(k in msg for k in KNOWN_ARGS)


def test_data_parallel_size_is_refused_with_a_way_out():
    with pytest.raises(GeobenchError, match="data_parallel_size.*torchrun --nproc-per-node N -m geobench eval"):
        engine_args("m", data_parallel_size=2)


def test_chunk_size_arg():
    assert vb.chunk_size_arg(None) == DEFAULT_CHUNK_SIZE
    assert vb.chunk_size_arg("all") is None and vb.chunk_size_arg(16) == 16


# -------------------------------------------------------------------------------------- sampling params


def test_sampling_params_greedy_and_sampling():
    assert sampling_params_kwargs(GenConfig(max_new_tokens=64)) == {
        "max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0}
    gen = GenConfig(max_new_tokens=32, do_sample=True, temperature=0.7, top_p=0.9, top_k=20,
                    repetition_penalty=1.05, seed=3, stop=("</answer>", "\n\n"))
    assert sampling_params_kwargs(gen) == {
        "max_tokens": 32, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.05,
        "seed": 3, "stop": ["</answer>", "\n\n"]}


def test_sampling_settings_do_not_leak_into_greedy():
    # do_sample off, or temperature 0, is greedy whatever top_p/top_k say (as in hf)
    for gen in (GenConfig(temperature=0.7, top_p=0.5, top_k=3), GenConfig(do_sample=True, temperature=0.0, top_k=3)):
        kw = sampling_params_kwargs(gen)
        assert (kw["temperature"], kw["top_p"], kw["top_k"]) == (0.0, 1.0, -1)


def test_top_k_zero_means_off():
    kw = sampling_params_kwargs(GenConfig(do_sample=True, temperature=1.0, top_k=0))
    assert kw["top_k"] == -1  # "off" in every vLLM version (older ones reject 0)


GEN_CASES = [
    GenConfig(),
    GenConfig(max_new_tokens=7, repetition_penalty=1.2),
    GenConfig(do_sample=True, temperature=0.6, top_p=0.8, top_k=40, seed=1),
    GenConfig(do_sample=True, temperature=1.3, top_k=0, seed=2, stop=("STOP",)),
    GenConfig(do_sample=True, temperature=0.0, top_p=0.3, top_k=5),  # temperature 0: greedy in both
    GenConfig(temperature=0.9, top_p=0.2, stop=("a", "b")),  # do_sample off: greedy in both
]


@pytest.mark.parametrize("gen", GEN_CASES, ids=range(len(GEN_CASES)))
def test_mapping_has_the_hf_backends_semantics(gen):
    """Same GenConfig -> the same decoding rule in `hf` (`HFBackend._generate_kwargs`) and `vllm`."""
    hf_self = SimpleNamespace(_pad_id=0, processor=SimpleNamespace(tokenizer="tok"))
    hf = HFBackend._generate_kwargs(hf_self, gen)
    vl = sampling_params_kwargs(gen)
    assert vl["max_tokens"] == hf["max_new_tokens"]
    assert vl["repetition_penalty"] == hf["repetition_penalty"]
    assert (vl["temperature"] == 0.0) == (not hf["do_sample"]), "greedy in one, sampling in the other"
    if hf["do_sample"]:
        assert vl["temperature"] == hf["temperature"] and vl["top_p"] == hf["top_p"]
        assert vl["top_k"] == (hf["top_k"] if hf["top_k"] else -1)  # 0 is "off" in transformers, -1 in vLLM
    assert vl.get("stop", []) == hf.get("stop_strings", [])
    assert vl.get("seed") == gen.seed  # hf seeds torch with gen.seed before generate


# ------------------------------------------------------------------------------------- request building


def test_to_vllm_messages_keeps_images_in_order_and_text_parts(images):
    pils = [ref.open() for ref in images]
    req = Request("toy", "d1", user(images[2], "first", images[0], "second"), GenConfig())
    req.messages.insert(0, {"role": "system", "content": "You are a geographer."})
    msgs = to_vllm_messages(req, [pils[2], pils[0]])
    assert msgs[0] == {"role": "system", "content": "You are a geographer."}
    assert msgs[1]["role"] == "user"
    parts = msgs[1]["content"]
    assert [p["type"] for p in parts] == ["image_pil", "text", "image_pil", "text"]
    assert parts[0]["image_pil"] is pils[2] and parts[2]["image_pil"] is pils[0]
    assert parts[1] == {"type": "text", "text": "first"} and parts[3] == {"type": "text", "text": "second"}
    assert isinstance(req.messages[1]["content"][0]["image"], ImageRef), "the request itself is untouched"


def test_to_vllm_messages_image_count_must_match(images):
    req = Request("toy", "d", user(images[0], images[1], "two"), GenConfig())
    with pytest.raises(ValueError, match="fewer images"):
        to_vllm_messages(req, [images[0].open()])
    with pytest.raises(ValueError, match="3 images for 2 image parts"):
        to_vllm_messages(req, [im.open() for im in images])


def test_unsupported_part_type_is_a_one_line_error():
    req = Request("toy", "d", [{"role": "user", "content": [{"type": "video", "video": "x.mp4"}]}], GenConfig())
    with pytest.raises(GeobenchError, match="content part type 'video' is not supported"):
        to_vllm_messages(req, [])


@pytest.mark.parametrize("out, expected", [
    (FakeCompletionOutput("a b c", [5, 6, 7, 0], "stop", None), Completion("a b c", 3, "stop")),  # EOS kept in ids
    (FakeCompletionOutput("a b c", [5, 6, 7, 9], "stop", 9), Completion("a b c", 3, "stop")),  # stop token id
    (FakeCompletionOutput("a b", [5, 6, 7], "stop", "</answer>"), Completion("a b", 3, "stop")),  # stop string
    (FakeCompletionOutput("a b c d", [5, 6, 7, 8], "length", None), Completion("a b c d", 4, "length")),
    (FakeCompletionOutput("", [0], "stop", None), Completion("", 0, "stop")),
])
def test_completion_from_output_counts_like_hf(out, expected):
    assert completion_from_output(FakeRequestOutput([out])) == expected


# -------------------------------------------------------------------------- chunking (our loop, fake engine)


def test_chunks_order_and_per_prompt_params(images):
    """Our loop, driven by FakeEngine: chunk sizes, one SamplingParams per prompt, every index once, in order."""
    gens = [GenConfig(max_new_tokens=8), GenConfig(max_new_tokens=4, do_sample=True, temperature=0.5, seed=1)]
    reqs = requests_for(images, n=5, gens=gens)
    engine = FakeEngine()
    out = list(fake_backend(engine, chunk_size=2).generate(reqs))
    assert [i for i, _ in out] == [0, 1, 2, 3, 4]
    assert [len(c["messages"]) for c in engine.calls] == [2, 2, 1]
    assert all(c["use_tqdm"] is False and c["format"] == "openai" for c in engine.calls)
    sent = [p for c in engine.calls for p in c["params"]]
    assert sent == [sampling_params_kwargs(r.gen) for r in reqs], "params paired one by one with the prompts"
    sizes = {0: "img96x80", 1: "img64x64", 2: "img128x96"}
    for i, c in out:
        assert c.text == f"{sizes[i % 3]} | question {i} || max_tokens={reqs[i].gen.max_new_tokens}"
        assert (c.n_tokens, c.finish_reason) == (3, "stop")


def test_chunk_size_all_is_one_call(images):
    engine = FakeEngine()
    out = list(fake_backend(engine, chunk_size="all").generate(requests_for(images, n=7)))
    assert len(out) == 7 and [len(c["messages"]) for c in engine.calls] == [7]
    assert list(fake_backend(FakeEngine()).generate([])) == []


def test_results_are_yielded_chunk_by_chunk(images):
    """The first chunk's completions come out before the second chunk is sent (what makes resume work)."""
    engine = FakeEngine()
    gen = fake_backend(engine, chunk_size=2).generate(requests_for(images, n=6))
    first = [next(gen), next(gen)]
    assert [i for i, _ in first] == [0, 1] and len(engine.calls) == 1
    assert len(list(gen)) == 4 and len(engine.calls) == 3


def test_a_killed_run_loses_at_most_the_chunk_in_flight(images):
    """Through the evaluator and its cache: the engine dies in chunk 2; the rerun regenerates only from there."""
    fp = {"backend": "vllm", "model": "fake-engine-for-tests"}
    dying = FakeEngine(fail_on_call=2)
    with pytest.raises(RuntimeError, match="engine died"):
        geobench.evaluate(fake_backend(dying, chunk_size=2, fingerprint=fp), tasks="geoloc_toy", limit=5,
                          output=None, progress=False)
    engine = FakeEngine()
    res = geobench.evaluate(fake_backend(engine, chunk_size=2, fingerprint=fp), tasks="geoloc_toy", limit=5,
                            output=None, progress=False)
    assert sum(len(c["messages"]) for c in engine.calls) == 3, "chunk 1 (2 docs) came from the cache"
    assert res["timing"]["cache_hits"] == 2 and res["n-samples"]["geoloc_toy"]["effective"] == 5


def test_image_limit_is_checked_before_the_engine_runs(images):
    engine = FakeEngine()
    be = fake_backend(engine)
    be._engine_args["limit_mm_per_prompt"] = {"image": 1}
    reqs = [Request("toy", "two", user(images[0], images[1], "x"), GenConfig())]
    with pytest.raises(GeobenchError, match="toy/two has 2 images, more than limit_mm_per_prompt=1"):
        list(be.generate(reqs))
    assert engine.calls == []


def test_settings_vllm_rejects_fail_before_the_engine_runs(images):
    def strict(**kw):  # stands in for SamplingParams' own validation (newer vLLM: temperature in [0, 2])
        if kw["temperature"] > 2:
            raise ValueError(f"temperature must be in [0, 2], got {kw['temperature']}.")
        return kw

    engine = FakeEngine()
    be = VLLMBackend.from_engine(engine, sampling_params_factory=strict)
    reqs = requests_for(images, n=2, gens=[GenConfig(do_sample=True, temperature=3.0, seed=1)])
    with pytest.raises(GeobenchError, match=r"generation settings not accepted by vLLM \(toy\): temperature"):
        list(be.generate(reqs))
    assert engine.calls == []


def test_corrupt_image_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    reqs = [Request("toy", "0", user(ImageRef(str(bad)), "where?"), GenConfig())]
    with pytest.raises(GeobenchError, match="cannot decode image .*bad.jpg"):
        list(fake_backend(FakeEngine()).generate(reqs))


# ---------------------------------------------------------------------- construction, fingerprint, errors


@pytest.mark.skipif(VLLM_INSTALLED, reason="vLLM is installed here")
def test_missing_vllm_is_the_install_hint():
    with pytest.raises(GeobenchError) as e:
        VLLMBackend("Qwen/Qwen2.5-VL-7B-Instruct")
    assert str(e.value) == INSTALL_HINT


def assert_one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip() and "warning" not in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("geobench: error: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.skipif(VLLM_INSTALLED, reason="vLLM is installed here")
def test_cli_without_vllm_prints_the_install_hint(tmp_path):
    r = run_cli("eval", "--backend", "vllm", "--model", "x", "--tasks", "geoloc_toy", "--limit", "1",
                "--output", str(tmp_path))
    assert_one_line_error(r, INSTALL_HINT)


def test_cli_bad_model_arg_is_one_line(tmp_path):
    r = run_cli("eval", "--backend", "vllm", "--model", "x", "--tasks", "geoloc_toy", "--limit", "1",
                "--model-args", "tensor_parallel_size=2,gpu_memory_utilisation=0.5", "--output", str(tmp_path))
    assert_one_line_error(r, "unknown model arg 'gpu_memory_utilisation' for backend 'vllm'; known:")


@pytest.fixture
def pretend_vllm_installed(monkeypatch):
    """Construction only (no engine is built, no vLLM import happens): lets fingerprints be tested here."""
    monkeypatch.setattr(vb, "vllm_installed", lambda: True)


def test_fingerprint_of_a_local_folder(tiny_model_path, pretend_vllm_installed):
    be = VLLMBackend(tiny_model_path, dtype="bf16", min_pixels=3136, max_pixels=12544, tensor_parallel_size=2)
    fp = be.fingerprint()
    assert fp == {"backend": "vllm", "model": os.path.basename(tiny_model_path), "dtype": "bfloat16",
                  "min_pixels": 3136, "max_pixels": 12544, "content_sha256": folder_hash(tiny_model_path)}
    assert be.llm is None, "the engine starts on the first generate, not at construction"
    d = be.describe()
    assert d["engine_args"]["model"] == tiny_model_path and d["engine_args"]["tensor_parallel_size"] == 2
    assert d["chunk_size"] == DEFAULT_CHUNK_SIZE
    # the settings that change outputs change the key; tensor parallelism does not
    assert VLLMBackend(tiny_model_path, dtype="bf16", min_pixels=3136, max_pixels=12544).fingerprint() == fp
    assert VLLMBackend(tiny_model_path, dtype="fp16", min_pixels=3136, max_pixels=12544).fingerprint() != fp
    assert VLLMBackend(tiny_model_path, dtype="bf16", min_pixels=1024, max_pixels=12544).fingerprint() != fp
    # 3136 is the saved processor's own minimum: saying it explicitly changes nothing, so neither does the key
    assert VLLMBackend(tiny_model_path, dtype="bf16", max_pixels=12544).fingerprint() == fp
    assert HFBackend(tiny_model_path).fingerprint()["backend"] == "hf"


def test_fingerprint_pixels_default_to_the_saved_processor_like_hf(tiny_model_path, pretend_vllm_installed):
    fp = VLLMBackend(tiny_model_path).fingerprint()
    hf = HFBackend(tiny_model_path).fingerprint()
    assert (fp["min_pixels"], fp["max_pixels"]) == (56 * 56, 112 * 112) == (hf["min_pixels"], hf["max_pixels"])
    assert set(fp) == set(hf) and fp["content_sha256"] == hf["content_sha256"]
    assert fp["backend"] == "vllm" and hf["backend"] == "hf"  # never the same cache keys
    assert VLLMBackend(tiny_model_path, max_pixels=56 * 56).fingerprint()["max_pixels"] == 56 * 56


def test_cached_hub_id_is_its_snapshot_folder(tiny_model_path, tmp_path, monkeypatch, pretend_vllm_installed):
    import shutil

    import huggingface_hub.constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--geobench-test--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    snapshot = shutil.copytree(tiny_model_path, repo / "snapshots" / sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    be = VLLMBackend("geobench-test/tiny", revision="main")
    fp = be.fingerprint()
    assert fp["model"] == "geobench-test/tiny" and fp["commit"] == sha
    assert fp["content_sha256"] == folder_hash(str(snapshot))
    assert be.describe()["engine_args"]["model"] == str(snapshot), "vLLM loads the folder that was hashed"
    assert "revision" not in be.describe()["engine_args"]
    assert VLLMBackend(str(snapshot)).fingerprint() == fp


def test_fingerprint_of_a_hub_id(pretend_vllm_installed):
    fp = VLLMBackend("org/some-vl-model", revision="v2").fingerprint()
    assert fp == {"backend": "vllm", "model": "org/some-vl-model", "dtype": "auto", "min_pixels": None,
                  "max_pixels": None, "revision": "v2"}


def test_missing_local_folder_is_one_line(pretend_vllm_installed):
    with pytest.raises(GeobenchError, match="model folder not found: ./no/such/folder"):
        VLLMBackend("./no/such/folder")


@pytest.mark.skipif(VLLM_INSTALLED and _cuda(), reason="a GPU and vLLM are here")
def test_no_gpu_is_one_line(images, pretend_vllm_installed):
    be = VLLMBackend("org/some-vl-model")
    assert list(be.generate([])) == []  # nothing to do: no engine, no GPU needed
    with pytest.raises(GeobenchError) as e:
        list(be.generate(requests_for(images, n=1)))
    assert "needs a CUDA GPU" in str(e.value) and "--backend hf" in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------- real engine


@pytest.mark.gpu
@pytest.mark.skipif(not (VLLM_INSTALLED and _cuda()), reason="needs CUDA and vLLM")
def test_greedy_parity_with_hf_on_tiny_model(tiny_model_path, images):
    """The real engine on the tiny Qwen2.5-VL: greedy completions equal the `hf` backend's (float32 both)."""
    import torch

    reqs = [Request("toy", str(i), user(*([images[i % 3]] if i % 4 else []), f"Where was photo {i} taken?"),
                    GenConfig(max_new_tokens=12)) for i in range(8)]
    hf = HFBackend(tiny_model_path, dtype="float32", device="cuda", batch_size=1)
    ref = dict(hf.generate(reqs))
    del hf
    torch.cuda.empty_cache()
    be = VLLMBackend(tiny_model_path, dtype="float32", gpu_memory_utilization=0.3, max_model_len=2048,
                     enforce_eager=True, chunk_size=3)
    out = dict(be.generate(reqs))
    assert sorted(out) == list(range(len(reqs)))
    assert {i: (c.text, c.n_tokens, c.finish_reason) for i, c in out.items()} == \
        {i: (c.text, c.n_tokens, c.finish_reason) for i, c in ref.items()}
