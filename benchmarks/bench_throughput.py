"""Generation throughput: geobench's `hf` backend end to end vs a hand-written transformers loop vs lm-eval.

    python benchmarks/bench_throughput.py                          # 64 docs, 32 new tokens, batch 1, 8, auto
    python benchmarks/bench_throughput.py --docs 32 --repeat 5 --batch-sizes 1,8 --json /tmp/tp.json
    python benchmarks/bench_throughput.py --methods geobench --batch-sizes 8 --profile /tmp/gb8.prof

One process, one tiny model (built with `build_tiny_model` into a temp dir, float32, CPU), the same requests:
the first N docs of `geoloc_toy` (built into a temp GEOBENCH_HOME), greedy, the same max_new_tokens.

- geobench: `geobench.evaluate(HFBackend(path, batch_size=B), "geoloc_toy", limit=N, output=None,
  use_cache=False, progress=False, gen_kwargs={"max_new_tokens": M})`. Timed end to end: request building and image hashing, image decoding
  (prefetch thread), generation, scoring, aggregation. The weights are loaded before timing.
- hand loop: `AutoModelForImageTextToText.from_pretrained` + geobench's `load_processor`, chats with PIL
  images decoded from the same files, batches in doc order (no length sort: every toy prompt has the same
  length), left padding, `model.generate(max_new_tokens=N, do_sample=False)`, `batch_decode` of the new
  tokens. Timed: image decoding, chat template, processor, generate, decode. No scoring.
- lm-eval `hf-multimodal`: contexts built with the model's chat template (`lm.apply_chat_template`, what
  `apply_chat_template=True` does), 3-arg `generate_until` requests (context with `<image>`,
  `{"until": ["<|im_end|>"], "max_gen_toks": N}`, `{"visual": [pil]}`). Timed: image decoding, context
  building, `generate_until` (which runs `gc.collect()` after every batch: ~0.17 s each once lm_eval is
  imported, whatever else is loaded, so sharing the process does not inflate it). No scoring. lm-eval 0.4.13 loads the processor with `AutoProcessor`, which
  needs torchvision for Qwen2.5-VL; the benchmark subclasses `HFMultimodalLM` and overrides its documented
  `_create_tokenizer` hook to use geobench's `load_processor` (passing a processor instance as `tokenizer=`
  does not work in 0.4.13: `_create_tokenizer` returns it without setting `self.processor`).

torch runs with 1 intra-op thread by default (`--threads`, same for every method): the tiny model gains
nothing from more (the best times at 2 threads on 2 cores equal those at 1), and with other work on the
machine, 2 OpenMP threads on 2 cores stall at their barriers and single runs take 5-50x longer, which
swamps the harness overhead this benchmark is after. `--threads 0` keeps torch's default.

Each (method, batch size) gets one untimed warm-up run, then `--repeat` timed runs, interleaved round-robin
across methods so that load from other processes hits every method alike; the table shows medians.
Generated tokens are counted per sample up to the first end token; the tiny random model rarely emits one,
so every method generates about N x max_new_tokens tokens (the table shows the counts). The warm-up
completions of every method are compared with the hand loop at batch 1 (greedy: they should agree).

Targets (samples/s ratios): geobench / hand loop >= 0.9 and geobench / lm-eval >= 1.3, at batch 8 and 1.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

TASK = "geoloc_toy"
TARGETS = [("geobench", "hand", 0.9), ("geobench", "lmeval", 1.3)]
LABELS = {"geobench": "geobench hf (evaluate)", "hand": "hand-written transformers loop",
          "lmeval": "lm-eval hf-multimodal"}


# ------------------------------------------------------------------------------------------------ helpers


def _quiet() -> None:
    """No progress bars or advisory warnings in the timed output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for name in ("lm-eval", "lm_eval", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def _end_ids(model, tokenizer) -> set[int]:
    gc_ = model.generation_config
    eos = gc_.eos_token_id if gc_.eos_token_id is not None else tokenizer.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos])
    ids.add(gc_.pad_token_id if gc_.pad_token_id is not None else tokenizer.pad_token_id)
    ids.discard(None)
    return ids


def _n_new(row: list[int], end_ids: set[int]) -> int:
    """Generated tokens of one sample: up to (not including) the first end or pad token."""
    return next((k for k, t in enumerate(row) if t in end_ids), len(row))


# ------------------------------------------------------------------------------------------------ methods


class GeobenchRun:
    method = "geobench"

    def __init__(self, path: str, bs: int | str, n_docs: int, max_new: int):
        from geobench.plugins.hf import HFBackend

        self.backend = HFBackend(path, batch_size=bs)
        self.backend.load_model()  # weights load outside every timing
        self.bs, self.n_docs, self.max_new = bs, n_docs, max_new

    def __call__(self, capture: bool = False) -> tuple[int, list[str] | None]:
        import geobench

        texts: dict[int, str] = {}
        if capture:  # untimed warm-up only: record the completions (single task: index = doc order)
            original = self.backend.generate

            def recording(requests):
                for i, c in original(requests):
                    texts[i] = c.text
                    yield i, c

            self.backend.generate = recording
        try:
            res = geobench.evaluate(self.backend, TASK, limit=self.n_docs, output=None, use_cache=False,
                                    progress=False, gen_kwargs={"max_new_tokens": self.max_new})
        finally:
            self.backend.__dict__.pop("generate", None)
        assert res["n-samples"][TASK]["effective"] == self.n_docs
        return res["timing"]["generated_tokens"], [texts[i] for i in range(self.n_docs)] if capture else None

    def effective_batch(self):
        return self.backend.describe().get("effective_batch_size")


class HandLoopRun:
    """What a user writes by hand: the floor of harness overhead."""

    method = "hand"

    def __init__(self, model, processor, prompts: list[list[tuple[str, str]]], bs: int, max_new: int):
        self.model, self.processor, self.prompts = model, processor, prompts
        self.bs, self.max_new = bs, max_new
        self.end_ids = _end_ids(model, processor.tokenizer)

    def __call__(self, capture: bool = False) -> tuple[int, list[str] | None]:
        import torch
        from PIL import Image

        outputs, n_tokens = [], 0
        with torch.inference_mode():
            for start in range(0, len(self.prompts), self.bs):
                chats, images = [], []
                for parts in self.prompts[start:start + self.bs]:
                    content = []
                    for kind, value in parts:
                        if kind == "image":
                            images.append(Image.open(value).convert("RGB"))
                            content.append({"type": "image", "image": images[-1]})
                        else:
                            content.append({"type": "text", "text": value})
                    chats.append([{"role": "user", "content": content}])
                texts = self.processor.apply_chat_template(chats, add_generation_prompt=True, tokenize=False)
                inputs = self.processor(text=texts, images=images, padding=True, padding_side="left",
                                        return_tensors="pt")
                out = self.model.generate(**inputs, max_new_tokens=self.max_new, do_sample=False)
                new = out[:, inputs["input_ids"].shape[1]:]
                outputs += self.processor.batch_decode(new, skip_special_tokens=True)
                n_tokens += sum(_n_new(row, self.end_ids) for row in new.tolist())
        return n_tokens, outputs if capture else None

    def effective_batch(self):
        return self.bs


def _lmeval_class():
    """lm-eval's HFMultimodalLM with the processor loaded by geobench's `load_processor`.

    `AutoProcessor.from_pretrained` fails for Qwen2.5-VL where torchvision is missing (it builds a video
    processor); `_create_tokenizer` is the hook HFMultimodalLM itself overrides to create its processor.
    """
    from lm_eval.models.hf_vlms import HFMultimodalLM

    from geobench.hfutil import load_processor

    class HFMultimodalImageOnly(HFMultimodalLM):
        def _create_tokenizer(self, pretrained, tokenizer, revision="main", trust_remote_code=False, **kwargs):
            where = pretrained if isinstance(pretrained, str) else self.model.name_or_path
            self.processor = load_processor(where, trust_remote_code=bool(trust_remote_code))
            self.tokenizer = self.processor.tokenizer

    return HFMultimodalImageOnly


class LmEvalRun:
    method = "lmeval"

    def __init__(self, path: str, prompts: list[list[tuple[str, str]]], bs: int, max_new: int):
        self.lm = _lmeval_class()(pretrained=path, device="cpu", dtype="float32", batch_size=bs)
        self.prompts, self.bs, self.max_new = prompts, bs, max_new
        self.end_ids = _end_ids(self.lm.model, self.lm.tokenizer)
        self._outs: list[tuple] = []
        model = self.lm.model
        original = model.generate

        def recording(*args, **kwargs):  # keeps a reference to the output; tokens are counted after timing
            out = original(*args, **kwargs)
            self._outs.append((out, kwargs["input_ids"].shape[1]))
            return out

        model.generate = recording

    def context(self, parts: list[tuple[str, str]]) -> str:
        """The chat-templated context, as lm-eval's evaluator builds it with apply_chat_template=True."""
        text = "".join("<image>" if kind == "image" else value for kind, value in parts)
        return self.lm.apply_chat_template([{"role": "user", "content": text}])

    def __call__(self, capture: bool = False) -> tuple[int, list[str] | None]:
        from lm_eval.api.instance import Instance
        from PIL import Image

        self._outs.clear()
        gen_kwargs = {"until": ["<|im_end|>"], "max_gen_toks": self.max_new}
        reqs = [Instance("generate_until", doc={}, idx=i,
                         arguments=(self.context(parts), dict(gen_kwargs),
                                    {"visual": [Image.open(v).convert("RGB") for k, v in parts if k == "image"]}))
                for i, parts in enumerate(self.prompts)]
        outputs = self.lm.generate_until(reqs, disable_tqdm=True)
        n_tokens = sum(_n_new(row, self.end_ids) for out, n_in in self._outs for row in out[:, n_in:].tolist())
        self._outs.clear()
        return n_tokens, outputs if capture else None

    def effective_batch(self):
        return self.bs


# -------------------------------------------------------------------------------------------------- main


def _parts(messages: list[dict]) -> list[tuple[str, str]]:
    """A one-turn task chat as [("image", file path) | ("text", str)], for the non-geobench methods."""
    assert len(messages) == 1 and messages[0]["role"] == "user", "expected a one-turn user chat"
    out = []
    for c in messages[0]["content"]:
        if c["type"] == "image":
            assert c["image"].path is not None, "expected file-backed images"
            out.append(("image", c["image"].path))
        else:
            out.append(("text", c["text"]))
    return out


def _parse_sizes(text: str) -> list[int | str]:
    out: list[int | str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        out.append("auto" if part == "auto" else int(part))
    return out


def _ratio_lines(rows: dict, sizes: list) -> tuple[list[str], list[dict]]:
    lines, records = [], []
    for bs in [b for b in (8, 1) if b in sizes] + [b for b in sizes if b not in (8, 1)]:
        for num, den, target in TARGETS:
            a, b = rows.get((num, bs)), rows.get((den, bs))
            if not a or not b:
                continue
            ratio = a["samples_per_s"] / b["samples_per_s"]
            ok = ratio >= target
            records.append({"numerator": num, "denominator": den, "batch_size": bs, "ratio": ratio,
                            "target": target, "ok": ok})
            lines.append(f"  {num} / {den} at batch {bs}: {ratio:.3f}  (target >= {target})  "
                         f"{'OK' if ok else 'MISSED'}")
    return lines, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per config (median), after 1 warm-up")
    ap.add_argument("--batch-sizes", default="1,8,auto", help="'auto' runs for geobench only")
    ap.add_argument("--methods", default="geobench,hand,lmeval")
    ap.add_argument("--json", default=None, metavar="PATH", help="write every number here")
    ap.add_argument("--profile", default=None, metavar="PATH",
                    help="after timing, cProfile one extra geobench run at the largest integer batch size, "
                         "write the stats here and print the top functions")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads for every method (0: torch's default, one per core); see above")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (model, data)")
    args = ap.parse_args()
    sizes = _parse_sizes(args.batch_sizes)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    work = Path(tempfile.mkdtemp(prefix="gb-throughput-"))
    os.environ["GEOBENCH_HOME"] = str(work / "home")  # before geobench reads it (toy data, default cache)
    try:
        run(args, sizes, methods, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args, sizes: list, methods: list[str], work: Path) -> None:
    import torch

    _quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    from geobench import plugin_manager
    from geobench.hfutil import load_processor
    from geobench.tinymodel import build_tiny_model

    t0 = time.perf_counter()
    path = build_tiny_model(str(work / "tiny"))
    task = plugin_manager.registry().task(TASK)
    docs = list(task.docs(None, args.docs))  # builds the toy data into the temp home on first use
    assert len(docs) == args.docs, f"{TASK} has only {len(docs)} docs"
    prompts = [_parts(task.to_messages(d)) for d in docs]
    setup_s = time.perf_counter() - t0

    load = os.getloadavg()
    print(f"tiny model + {args.docs} {TASK} docs built in {setup_s:.1f} s; max_new_tokens={args.max_new_tokens}, "
          f"greedy, float32 CPU, torch threads={torch.get_num_threads()}, cpus={os.cpu_count()}, "
          f"load avg before={load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    if importlib.util.find_spec("lmms_eval") is None:
        print("lmms-eval: not installed, skipped")
    else:
        print("lmms-eval: installed, but not benchmarked here")

    # ---- build every runner (model loads happen here, outside all timings)
    runners = []
    hand_model = hand_proc = None
    for m in methods:
        for bs in sizes:
            if m == "geobench":
                runners.append(GeobenchRun(path, bs, args.docs, args.max_new_tokens))
            elif bs == "auto":
                continue  # a hand loop has no 'auto'; lm-eval's hf-multimodal rejects it
            elif m == "hand":
                if hand_model is None:
                    from transformers import AutoModelForImageTextToText

                    hand_model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
                    hand_proc = load_processor(path)
                runners.append(HandLoopRun(hand_model, hand_proc, prompts, bs, args.max_new_tokens))
            elif m == "lmeval":
                with contextlib.redirect_stderr(io.StringIO()):  # lm-eval's "not a git repository" noise
                    runners.append(LmEvalRun(path, prompts, bs, args.max_new_tokens))
            else:
                raise SystemExit(f"unknown method {m!r}; known: geobench, hand, lmeval")

    # ---- same prompt check: lm-eval's chat-templated context vs the hand loop's chat template
    lm = next((r for r in runners if r.method == "lmeval"), None)
    if lm is not None:
        proc = load_processor(path)
        content = [{"type": "image"} if k == "image" else {"type": "text", "text": v} for k, v in prompts[0]]
        ref = proc.apply_chat_template([[{"role": "user", "content": content}]], add_generation_prompt=True,
                                       tokenize=False)[0]
        print(f"lm-eval context == hand-loop prompt text: {lm.context(prompts[0]) == ref}")

    # ---- warm-up (untimed), capturing the completions
    texts: dict[tuple, list[str]] = {}
    for r in runners:
        _, texts[(r.method, r.bs)] = r(capture=True)
    ref_key = ("hand", 1) if ("hand", 1) in texts else next(iter(texts))

    # ---- timed runs, interleaved round-robin
    times: dict[tuple, list[float]] = {(r.method, r.bs): [] for r in runners}
    tokens: dict[tuple, list[int]] = {(r.method, r.bs): [] for r in runners}
    for _ in range(args.repeat):
        for r in runners:
            gc.collect()
            t = time.perf_counter()
            n_tok, _ = r()
            times[(r.method, r.bs)].append(time.perf_counter() - t)
            tokens[(r.method, r.bs)].append(n_tok)
    load = os.getloadavg()

    # ---- table
    rows: dict[tuple, dict] = {}
    print()
    print(f"{'method':<31} {'batch':>5} {'eff':>4} {'wall s':>7} {'min-max s':>13} {'samples/s':>10} "
          f"{'gen tok':>7} {'tok/s':>8} {'same as ' + ref_key[0] + ' b' + str(ref_key[1]):>15}")
    for r in runners:
        key = (r.method, r.bs)
        med = statistics.median(times[key])
        n_tok = int(statistics.median(tokens[key]))
        same = sum(a == b for a, b in zip(texts[key], texts[ref_key], strict=True))
        rows[key] = {"method": r.method, "label": LABELS[r.method], "batch_size": r.bs,
                     "effective_batch_size": r.effective_batch(), "wall_s": med, "runs_s": times[key],
                     "samples_per_s": args.docs / med, "generated_tokens": n_tok,
                     "generated_tokens_per_s": n_tok / med, "same_completions_as_reference": same}
        print(f"{LABELS[r.method]:<31} {r.bs!s:>5} {r.effective_batch()!s:>4} {med:>7.3f} "
              f"{min(times[key]):>6.3f}-{max(times[key]):<6.3f} {args.docs / med:>10.2f} {n_tok:>7} "
              f"{n_tok / med:>8.1f} {same:>9}/{args.docs}")
    expected = args.docs * args.max_new_tokens
    short = [k for k, v in rows.items() if v["generated_tokens"] < 0.99 * expected]
    print(f"expected tokens if no sample stops early: {expected}"
          + (f"; fewer for {short}: compare tokens/s, not samples/s" if short else " (all methods at it)"))
    print(f"load avg after={load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    print("\nratios (samples/s):")
    lines, ratios = _ratio_lines(rows, sizes)
    print("\n".join(lines) if lines else "  (need geobench and hand/lmeval at the same batch size)")

    if args.json:
        out = {"docs": args.docs, "max_new_tokens": args.max_new_tokens, "repeat": args.repeat,
               "batch_sizes": [str(b) for b in sizes], "reference_for_same_completions": list(ref_key),
               "machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                           "load_avg_after": load},
               "versions": _versions(), "rows": list(rows.values()), "ratios": ratios}
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        print(f"wrote {args.json}")

    if args.profile:
        _profile(args.profile, [r for r in runners if r.method == "geobench"])


def _profile(where: str, runners: list) -> None:
    import cProfile
    import pstats

    ints = [r for r in runners if isinstance(r.bs, int)]
    if not ints:
        print("--profile needs geobench at an integer batch size")
        return
    r = max(ints, key=lambda x: x.bs)
    prof = cProfile.Profile()
    prof.enable()
    r()
    prof.disable()
    prof.dump_stats(where)
    print(f"\ncProfile of one geobench run at batch {r.bs} -> {where}")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(30)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("geobench", "torch", "transformers", "lm_eval", "pillow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


if __name__ == "__main__":
    main()
