"""GPU acceptance check: one command, no download of weights or data, a JSON and a Markdown summary.

    python benchmarks/gpu_check.py                 # one H100/H200: Qwen2.5-VL-7B architecture, random bf16 weights
    python benchmarks/gpu_check.py --tiny          # CPU, seconds: the same code path on the tiny model (the suite runs it)

What it measures (synthetic toy-world images, the tiny model's tokenizer and processor, whose special-token ids the
big configs are given, so no tokenizer is downloaded):
- the `hf` backend's samples/s and generated tokens/s at batch 1, 8, 32 and `auto`, a fixed number of new tokens
  (EOS and padding ids moved to an id random weights never reach first, so every request generates them all);
- beside a hand-written loop over the same batches calling `model.generate` directly (what the harness costs);
- beside the memory-bandwidth bound: one decode step reads every weight once, so tokens/s <= batch x HBM
  bandwidth / weight bytes;
- peak GPU memory;
- 3 GRPO steps of `geobench train grpo` with the Qwen2.5-VL-3B architecture (random weights) and the Geo-R1
  preset's generation settings (8 rollouts, temperature 1.0; the completion length is capped by --grpo-tokens);
- the `vllm` backend the same way when vLLM is importable (else one line saying it was skipped).
The full mode cannot run on a CPU machine; it is written against transformers' and torch's APIs and was not run
where it was written (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HBM_GBPS = {"H200": 4800, "H100": 3350, "A100": 2039, "L40S": 864}  # vendor peak memory bandwidth, GB/s
SIZES = {  # Qwen2.5-VL's published configs (text + vision towers)
    "7B": dict(text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
               vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           fullatt_block_indexes=[7, 15, 23, 31])),
    "3B": dict(text=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
               vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                           fullatt_block_indexes=[7, 15, 23, 31])),
}


def build(size: str | None, tiny_folder: str, device: str, dtype):
    """A random-weight model of `size` (None: the tiny model itself) with the tiny processor's token ids."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from geobench import hfutil

    config = AutoConfig.from_pretrained(tiny_folder)
    if size is not None:
        for k, v in SIZES[size]["text"].items():
            setattr(config.text_config, k, v)
            if hasattr(config, k):
                setattr(config, k, v)
        for k, v in SIZES[size]["vision"].items():
            setattr(config.vision_config, k, v)
    last = config.text_config.vocab_size - 1  # random weights never pick it before max_new_tokens runs out
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.eval()
    model.generation_config.eos_token_id = last
    model.generation_config.pad_token_id = last
    return model, hfutil.load_processor(tiny_folder)


def requests(n: int, new_tokens: int):
    from geobench import plugin_manager
    from geobench.api import GenConfig, Request

    reg = plugin_manager.registry()
    task = reg.task("geoloc_toy")
    gen = GenConfig(max_new_tokens=new_tokens)
    return [Request(task.name, d.id, task.to_messages(d), gen) for d in list(task.docs("test", n))[:n]]


def bench_backend(model, processor, reqs, batch, new_tokens) -> dict:
    from geobench.plugins.hf.backend import HFBackend

    be = HFBackend.from_loaded(model, processor, batch_size=batch)
    list(be.generate(reqs[: min(len(reqs), 2)]))  # warm-up (kernels, allocator)
    sync()
    t0 = time.perf_counter()
    out = list(be.generate(reqs))
    sync()
    secs = time.perf_counter() - t0
    tokens = sum(c.n_tokens for _, c in out)
    return {"batch": batch, "effective_batch": be.describe()["effective_batch_size"], "seconds": secs,
            "samples_per_s": len(reqs) / secs, "tokens_per_s": tokens / secs, "tokens": tokens,
            "all_fixed_length": all(c.n_tokens == new_tokens for _, c in out)}


def bench_hand_loop(model, processor, reqs, batch, new_tokens) -> dict:
    """The same requests through `model.generate` directly, `batch` at a time: no harness."""
    import torch

    from geobench import messages

    chats = [messages.with_images(r.messages, [ref.open() for ref in r.images]) for r in reqs]
    t0 = time.perf_counter()
    tokens = 0
    for s in range(0, len(chats), batch):
        part = chats[s:s + batch]
        texts = processor.apply_chat_template(part, add_generation_prompt=True, tokenize=False)
        images = [im for c in part for m in c for p in m["content"] if p.get("type") == "image" for im in [p["image"]]]
        inputs = processor(text=texts, images=images or None, padding=True, padding_side="left",
                           return_tensors="pt").to(model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        tokens += (out.shape[1] - inputs["input_ids"].shape[1]) * out.shape[0]
    sync()
    secs = time.perf_counter() - t0
    return {"batch": batch, "seconds": secs, "samples_per_s": len(reqs) / secs, "tokens_per_s": tokens / secs}


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bandwidth_bound(model, batch: int, device_name: str) -> float | None:
    gbps = next((v for k, v in HBM_GBPS.items() if k in device_name), None)
    if gbps is None:
        return None
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return batch * gbps * 1e9 / weight_bytes


def grpo(folder: str, out: Path, tiny: bool, tokens: int) -> dict:
    from geobench import plugin_manager

    cfg = {"model": folder, "output_dir": str(out / "grpo"), "dataset": {"task": "crossview_toy", "split": "train"},
           "rewards": "geo-r1-released", "num_generations": 8, "temperature": 1.0, "beta": 0.04,
           "max_completion_length": tokens, "per_device_batch_size": 8, "gradient_accumulation_steps": 1,
           "max_steps": 3, "save_steps": 1000, "logging_steps": 1, "eval_tasks": [], "lr": 1e-6,
           "trl": {} if tiny else {"bf16": True, "gradient_checkpointing": True}}
    trainer = plugin_manager.registry().trainer("grpo")
    t0 = time.perf_counter()
    summary = trainer.train(cfg)
    return {"steps": summary["global_step"], "seconds": time.perf_counter() - t0,
            "seconds_per_step": (time.perf_counter() - t0) / max(summary["global_step"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="CPU, seconds: the tiny model instead of 7B/3B")
    ap.add_argument("--out", default="gpu_check", help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--new-tokens", type=int, default=None, help="fixed new tokens (default 128; tiny 8)")
    ap.add_argument("--requests", type=int, default=None, help="requests per measurement (default 64; tiny 16)")
    ap.add_argument("--grpo-tokens", type=int, default=None, help="GRPO completion cap (default 512; tiny 8)")
    args = ap.parse_args()
    import torch

    from geobench.tinymodel import tiny_model_path

    tiny = args.tiny
    if not tiny and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU here; run with --tiny for the CPU check")
    new_tokens = args.new_tokens or (8 if tiny else 128)
    n = args.requests or (16 if tiny else 64)
    device = "cpu" if tiny else "cuda"
    dtype = torch.float32 if tiny else torch.bfloat16
    device_name = "cpu" if tiny else torch.cuda.get_device_name(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = tiny_model_path()
    report: dict = {"mode": "tiny" if tiny else "7B", "device": device_name, "new_tokens": new_tokens, "requests": n,
                    "torch": torch.__version__, "rows": [], "skipped": []}
    t_start = time.perf_counter()
    model, processor = build(None if tiny else "7B", folder, device, dtype)
    report["params"] = sum(p.numel() for p in model.parameters())
    reqs = requests(n, new_tokens)
    batches = [1, 8] if tiny else [1, 8, 32]
    for b in [*batches, "auto"]:
        row = bench_backend(model, processor, reqs, b, new_tokens)
        eb = row["effective_batch"] or 1
        hand = bench_hand_loop(model, processor, reqs, eb, new_tokens)
        row.update(hand_tokens_per_s=hand["tokens_per_s"], harness_ratio=row["tokens_per_s"] / hand["tokens_per_s"],
                   bandwidth_bound_tokens_per_s=bandwidth_bound(model, eb, device_name))
        report["rows"].append(row)
    if torch.cuda.is_available():
        report["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        grpo_folder = folder
        if not tiny:  # a random 3B, saved so `geobench train grpo` loads it the way it loads any checkpoint
            model3, processor3 = build("3B", folder, "cuda", torch.bfloat16)
            model3.save_pretrained(tmp)
            processor3.save_pretrained(tmp)
            del model3
            torch.cuda.empty_cache()
            grpo_folder = tmp
        report["grpo"] = grpo(grpo_folder, out, tiny, args.grpo_tokens or (8 if tiny else 512))
    from geobench.plugins.vllm import vllm_installed

    if tiny or not vllm_installed():
        report["skipped"].append("vllm: " + ("not run with --tiny (vLLM needs a GPU)" if tiny else "not importable here"))
    else:
        report["vllm"] = vllm_row(folder, reqs, new_tokens, out)
    report["seconds"] = time.perf_counter() - t_start
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))


def vllm_row(tiny_folder: str, reqs, new_tokens: int, out: Path) -> dict:
    """The 7B architecture through the `vllm` backend (a saved random checkpoint; vLLM loads folders only)."""
    import torch

    from geobench.plugins.vllm.backend import VLLMBackend

    folder = out / "random-7b"
    if not (folder / "config.json").is_file():
        model, processor = build("7B", tiny_folder, "cuda", torch.bfloat16)
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        del model
        torch.cuda.empty_cache()
    be = VLLMBackend(str(folder), dtype="bfloat16", gpu_memory_utilization=0.85)
    t0 = time.perf_counter()
    done = list(be.generate(reqs))
    secs = time.perf_counter() - t0
    tokens = sum(c.n_tokens for _, c in done)
    return {"seconds": secs, "samples_per_s": len(reqs) / secs, "tokens_per_s": tokens / secs,
            "median_tokens": statistics.median(c.n_tokens for _, c in done)}


def markdown(r: dict) -> str:
    lines = [f"# gpu_check ({r['mode']}, {r['device']}, {r['params'] / 1e9:.3f} B params, "
             f"{r['new_tokens']} new tokens x {r['requests']} requests)", "",
             "| batch | effective | samples/s | tokens/s | hand loop tokens/s | harness/hand | bandwidth bound tokens/s |",
             "|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        bound = row["bandwidth_bound_tokens_per_s"]
        lines.append(f"| {row['batch']} | {row['effective_batch']} | {row['samples_per_s']:.2f} | "
                     f"{row['tokens_per_s']:.1f} | {row['hand_tokens_per_s']:.1f} | {row['harness_ratio']:.2f} | "
                     f"{'' if bound is None else f'{bound:.0f}'} |")
    if "peak_gpu_memory_gib" in r:
        lines.append(f"\npeak GPU memory: {r['peak_gpu_memory_gib']:.1f} GiB")
    g = r["grpo"]
    lines.append(f"\nGRPO: {g['steps']} steps in {g['seconds']:.1f} s ({g['seconds_per_step']:.2f} s/step)")
    if "vllm" in r:
        v = r["vllm"]
        lines.append(f"\nvllm: {v['samples_per_s']:.2f} samples/s, {v['tokens_per_s']:.1f} tokens/s")
    lines += [f"\nskipped: {s}" for s in r["skipped"]]
    lines.append(f"\ntotal: {r['seconds']:.1f} s")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
