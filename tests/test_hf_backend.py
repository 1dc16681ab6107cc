"""The `hf` backend on the tiny random-weight Qwen2.5-VL: batching, parity, settings, fingerprints, errors."""

from __future__ import annotations

import os
import random
import shutil
import threading

import pytest

from geobench.api import Completion, GenConfig, ImageRef, Request, user
from geobench.errors import GeobenchError
from geobench.hfutil import folder_hash, load_processor
from geobench.plugins.hf import HFBackend


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[ImageRef]:
    """Four noise PNGs of different sizes (so different numbers of image tokens)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = random.Random(0)
    refs = []
    for k, (w, h) in enumerate([(96, 80), (64, 64), (128, 96), (80, 112)]):
        img = Image.new("RGB", (w, h))
        img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(w * h)])
        img.save(folder / f"{k}.png")
        refs.append(ImageRef(str(folder / f"{k}.png")))
    return refs


@pytest.fixture(scope="module")
def backend(tiny_model_path) -> HFBackend:
    return HFBackend(tiny_model_path)


GREEDY16 = GenConfig(max_new_tokens=16)


def mixed_requests(images, gen: GenConfig = GREEDY16, n: int = 10) -> list[Request]:
    """Requests with 0, 1 or 2 images and prompts of very different lengths."""
    words = "Where was this photo taken ? latitude longitude France (48.85, 2.35) <answer>B</answer>".split()
    out = []
    for i in range(n):
        parts: list = [images[i % 4]] if i % 3 else []
        if i % 4 == 0:
            parts.append(images[(i + 1) % 4])
        parts.append(" ".join(words[j % len(words)] for j in range(1 + 6 * i)))
        out.append(Request("toy", str(i), user(*parts), gen))
    return out


def run(backend: HFBackend, requests: list[Request], batch_size=1) -> dict[int, Completion]:
    backend.batch_size = batch_size
    out = list(backend.generate(requests))
    assert sorted(i for i, _ in out) == list(range(len(requests))), "every index exactly once"
    return dict(out)


# --------------------------------------------------------------------------------------------- generation


def test_generate_yields_every_index_once(backend, images):
    reqs = mixed_requests(images)
    out = list(backend.generate(reqs))
    assert sorted(i for i, _ in out) == list(range(len(reqs)))
    for _, c in out:
        assert isinstance(c, Completion) and isinstance(c.text, str)
        assert 0 <= c.n_tokens <= 16 and c.finish_reason in ("stop", "length")
    assert list(backend.generate([])) == []


def test_batched_greedy_equals_batch_1(backend, images):
    reqs = mixed_requests(images, GenConfig(max_new_tokens=24))
    ref = run(backend, reqs, 1)
    assert len({c.text for c in ref.values()}) > 1, "different prompts should give different garbage"
    for bs in (4, 8):
        assert run(backend, reqs, bs) == ref, f"batch {bs} differs from batch 1"
    assert backend.describe()["effective_batch_size"] == 8


def test_batches_never_mix_gen_configs(backend, images, monkeypatch):
    short, long = GenConfig(max_new_tokens=3), GenConfig(max_new_tokens=9)
    reqs = mixed_requests(images, short, n=6)
    for r in reqs[::2]:
        r.gen = long
    seen = []
    real = backend._generate_batch

    def spy(requests, gen, batch, imgs):
        seen.append((gen, batch))
        return real(requests, gen, batch, imgs)

    monkeypatch.setattr(backend, "_generate_batch", spy)
    backend.batch_size = 8
    out = dict(backend.generate(reqs))
    assert len(seen) == 2
    for gen, batch in seen:
        assert {reqs[i].gen for i in batch} == {gen}
    lengths = [len(reqs[i].images) * 1000 + len(reqs[i].messages[0]["content"][-1]["text"]) for i in seen[0][1]]
    assert lengths == sorted(lengths, reverse=True), "longest prompt first"
    for i, r in enumerate(reqs):
        assert out[i].n_tokens <= r.gen.max_new_tokens
    monkeypatch.undo()
    assert out == run(backend, reqs, 1)


def test_stop_strings_truncate(backend, images):
    req = mixed_requests(images, GenConfig(max_new_tokens=24), n=3)[2]
    full = run(backend, [req])[0].text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop.strip() and stop in full
    got = run(backend, [Request("toy", "s", req.messages, GenConfig(max_new_tokens=24, stop=(stop,)))])[0]
    assert got.text == full[: full.index(stop)]
    assert got.finish_reason == "stop"


def test_finish_reason_length(backend, images):
    out = run(backend, mixed_requests(images, GenConfig(max_new_tokens=2)), 4)
    assert any(c.finish_reason == "length" for c in out.values())
    for c in out.values():
        assert c.n_tokens <= 2
        assert (c.finish_reason == "length") == (c.n_tokens == 2)


def test_seeded_sampling_is_reproducible(backend, images):
    gen = GenConfig(max_new_tokens=12, do_sample=True, temperature=1.0, seed=7)
    reqs = mixed_requests(images, gen, n=3)
    assert run(backend, reqs, 2) == run(backend, reqs, 2)
    greedy = run(backend, mixed_requests(images, GenConfig(max_new_tokens=12), n=3), 2)
    assert run(backend, reqs, 2) != greedy


def test_auto_batch_halves_on_oom(tiny_model_path, images, monkeypatch):
    import torch

    b = HFBackend(tiny_model_path, batch_size="auto", max_batch_size=8)
    reqs = mixed_requests(images, n=7)
    ref = run(b, reqs, 1)
    sizes = []
    real = b.model.generate

    def small_gpu(**kw):
        sizes.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return real(**kw)

    monkeypatch.setattr(b.model, "generate", small_gpu)
    b.batch_size = "auto"
    assert dict(b.generate(reqs)) == ref
    assert sizes[:3] == [7, 4, 2]
    assert b.describe()["effective_batch_size"] == 2 and b.describe()["batch_size"] == "auto"
    b.batch_size = 4
    with pytest.raises(GeobenchError, match="out of memory at batch size 4"):
        list(b.generate(reqs))


def test_images_are_decoded_in_a_background_thread(backend, images, monkeypatch):
    threads = set()
    real = ImageRef.open

    def spy(self, *a, **kw):
        threads.add(threading.current_thread().name)
        return real(self, *a, **kw)

    monkeypatch.setattr(ImageRef, "open", spy)
    run(backend, mixed_requests(images, GenConfig(max_new_tokens=2)), 2)
    assert threads and all(t.startswith("geobench-images") for t in threads)


def test_corrupt_image_names_the_file(backend, images, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    reqs = mixed_requests(images, GenConfig(max_new_tokens=2), n=3)
    reqs.append(Request("toy", "bad", user(ImageRef(str(bad)), "where?"), GenConfig(max_new_tokens=2)))
    with pytest.raises(GeobenchError, match="broken.png"):
        list(backend.generate(reqs))


# ------------------------------------------------------------------------------------- from_loaded, pixels


def test_from_loaded_matches_and_has_no_fingerprint(backend, images):
    reqs = mixed_requests(images, n=4)
    wrapped = HFBackend.from_loaded(backend.model, backend.processor, batch_size=2)
    assert wrapped.fingerprint() is None
    assert HFBackend.from_loaded(backend.model, backend.processor, fingerprint={"x": 1}).fingerprint() == {"x": 1}
    backend.model.train()
    try:
        assert run(wrapped, reqs, 2) == run(backend, reqs, 1)
        assert backend.model.training, "generate restores the caller's train/eval mode"
    finally:
        backend.model.eval()
    assert backend.processor.tokenizer.padding_side == "right", "left padding is per call, not a side effect"


def test_pixel_budget_is_applied(tiny_model_path, images):
    small = HFBackend(tiny_model_path, max_pixels=56 * 56)
    big = HFBackend(tiny_model_path, min_pixels=200 * 200, max_pixels=300 * 300)
    img = images[2].open()
    grids = [b.processor(text=["<|image_pad|>"], images=[img])["image_grid_thw"].tolist() for b in (small, big)]
    assert grids[0][0][1] * grids[0][0][2] < grids[1][0][1] * grids[1][0][2]
    assert small.describe()["max_pixels"] == 56 * 56 and big.fingerprint()["min_pixels"] == 200 * 200
    assert len(run(big, mixed_requests(images, GenConfig(max_new_tokens=2), n=3), 3)) == 3


# ------------------------------------------------------------------------------------------ fingerprints


def test_fingerprint_stable_and_content_addressed(tiny_model_path, tmp_path):
    fp = HFBackend(tiny_model_path).fingerprint()
    assert fp == HFBackend(tiny_model_path).fingerprint()
    assert fp["backend"] == "hf" and fp["dtype"] == "float32" and len(fp["content_sha256"]) == 64
    copy = shutil.copytree(tiny_model_path, tmp_path / "copy")
    assert HFBackend(str(copy)).fingerprint()["content_sha256"] == fp["content_sha256"]
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight
    weights.write_bytes(bytes(data))
    assert folder_hash(str(copy)) != fp["content_sha256"]
    assert HFBackend(str(copy)).fingerprint()["content_sha256"] != fp["content_sha256"]
    assert HFBackend(tiny_model_path, max_pixels=56 * 56).fingerprint() != fp


def test_hub_snapshot_fingerprint_names_the_commit(tiny_model_path, tmp_path, monkeypatch):
    import huggingface_hub.constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--geobench-test--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    snapshot = shutil.copytree(tiny_model_path, repo / "snapshots" / sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    by_id = HFBackend("geobench-test/tiny").fingerprint()
    assert by_id["model"] == "geobench-test/tiny" and by_id["commit"] == sha and by_id["content_sha256"]
    by_path = HFBackend(str(snapshot)).fingerprint()
    assert by_path == by_id  # a cached hub id is its snapshot folder: same content, same cache keys


def test_folder_hash_skips_dot_folders(tiny_model_path, tmp_path):
    copy = shutil.copytree(tiny_model_path, tmp_path / "m")
    before = folder_hash(str(copy))
    os.makedirs(copy / ".cache" / "huggingface")
    (copy / ".cache" / "huggingface" / "x.metadata").write_text("timestamp 123")
    assert folder_hash(str(copy)) == before
    (copy / "extra.txt").write_text("x")
    assert folder_hash(str(copy)) != before


def test_folder_hash_reads_head_and_tail_of_big_files(tmp_path):
    big = tmp_path / "shard.safetensors"
    data = bytearray(os.urandom(3 << 20))
    big.write_bytes(bytes(data))
    before = folder_hash(str(tmp_path))
    data[len(data) // 2] ^= 1  # the middle is not read: the documented price of hashing 15 GB cheaply
    big.write_bytes(bytes(data))
    assert folder_hash(str(tmp_path)) == before
    data[-1] ^= 1
    big.write_bytes(bytes(data))
    assert folder_hash(str(tmp_path)) != before


# ------------------------------------------------------------------------------------------------ errors


def one_line_error(**kwargs) -> str:
    with pytest.raises(GeobenchError) as err:
        HFBackend(**kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_bad_model_args(tiny_model_path):
    msg = one_line_error(model=tiny_model_path, batchsize=4)
    assert "unknown model arg 'batchsize'" in msg and "batch_size" in msg
    assert "batch_size" in one_line_error(model=tiny_model_path, batch_size="many")
    assert "dtype" in one_line_error(model=tiny_model_path, dtype="int3")
    assert "device" in one_line_error(model=tiny_model_path, device="gpu")
    assert "min_pixels" in one_line_error(model=tiny_model_path, min_pixels=9000, max_pixels=4000)


def test_missing_folder(tmp_path):
    assert one_line_error(model=str(tmp_path / "nope")) == f"model folder not found: {tmp_path / 'nope'}"
    assert one_line_error(model="./surely-not-here") == "model folder not found: ./surely-not-here"


def test_broken_config(tiny_model_path, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no config.json" in one_line_error(model=str(empty))
    broken = shutil.copytree(tiny_model_path, tmp_path / "broken")
    (broken / "config.json").write_text("{not json")
    msg = one_line_error(model=str(broken))
    assert str(broken) in msg and "not a valid JSON" in msg
    (broken / "config.json").write_text('{"model_type": "no_such_arch"}')
    lazy = HFBackend(str(broken))  # the architecture is only resolved when the weights load (lazily)
    with pytest.raises(GeobenchError) as err:
        lazy.load_model()
    assert "no_such_arch" in str(err.value) and str(broken) in str(err.value) and "\n" not in str(err.value)


def test_hub_id_not_cached_offline(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    msg = one_line_error(model="geobench-test/not-a-model")
    assert msg.startswith("cannot load model 'geobench-test/not-a-model' offline: not in the local HF cache")
    assert "hf download geobench-test/not-a-model" in msg


def test_load_processor_falls_back_without_torchvision(tiny_model_path):
    proc = load_processor(tiny_model_path)
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken torchvision: the fallback must be used
        assert type(proc).__name__ == "Qwen2_5_VLImageOnlyProcessor"
    else:
        assert type(proc).__name__ == "Qwen2_5_VLProcessor"
    assert proc.chat_template and proc.image_token == "<|image_pad|>"


def test_registers_backend():
    from geobench.plugin_manager import Lazy
    from geobench.plugins import hf

    got = []
    hf.geobench_register_backends(lambda cls, name=None: got.append((cls, name)))
    # Registered by reference (the entry point stays light); the reference loads the backend class.
    assert [(Lazy(ref, "hf").load(), name) for ref, name in got] == [(HFBackend, "hf")]
