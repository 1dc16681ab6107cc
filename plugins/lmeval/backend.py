"""The `lm-eval` backend: run geobench tasks on any model type of EleutherAI's lm-evaluation-harness.

Why this direction (adapter backend) rather than only exporting geobench tasks as lm-eval YAML tasks: the
adapter keeps everything that is geobench's (the tasks' prompts and scoring, the content-addressed cache and
resume, the samples journal, one results table across checkpoints, the trainers' in-loop evaluation) and
adds every generation engine lm-eval knows: `hf-multimodal`, `vllm-vlm`, `local-chat-completions` /
`openai-chat-completions` (any OpenAI-compatible server), and third-party lm-eval model classes
(`lm_eval_model=package.module:Class`, since lm-eval 0.4 does not discover model plugins itself).
It is also the direction whose results are the same as geobench's own by construction: the completion
goes through the same `Task.score`. For plain Hugging Face checkpoints geobench's own `hf` backend stays the
faster choice (lm-eval's `hf-multimodal` was ~3x slower on the tiny model: it runs `gc.collect()` after every
batch); the adapter is for lm-eval model types geobench has no backend for, and for lm-eval users. (The
other direction, `geobench lm-eval export`, lives in `geobench.plugins.lmeval.export`, for users who want
geobench tasks inside an lm-eval pipeline.)

    geobench eval --backend lm-eval --model ./ckpt/checkpoint-500 --tasks geolocation \\
        --model-args lm_eval_model=hf-multimodal,dtype=bfloat16 --batch-size 8
    geobench eval --backend lm-eval --model hf-multimodal --model-args pretrained=./ckpt,dtype=float32

`--model` is either a model (a local folder, hub id, or a geobench name such as `tiny`, which names a folder
for weight-loading types but is left alone for lm-eval's API models; it becomes lm-eval's `pretrained=`
and the model type is `lm_eval_model=`, default `hf-multimodal`), or, as in lm-eval's own
CLI, an lm-eval model type with the model given as `pretrained=` in `--model-args`. The first form keeps
geobench's run names, results-table model column and `checkpoint-N` step detection; the second is familiar
to lm-eval users. Every other model arg goes to the lm-eval model class unchanged; `--batch-size` becomes
lm-eval's `batch_size` (on the command line pass it as `--batch-size`, not in `--model-args`; from Python a
`batch_size=` in the model-args string wins). geobench-side args: `lm_eval_model`, `chunk_size`.

How a geobench request becomes an lm-eval request: each chat message becomes text with an `<image>`
placeholder where each image was, the chat is rendered by the LM's own `apply_chat_template` (what
`lm_eval --apply_chat_template` does), and the request is `Instance("generate_until", arguments=(context,
gen_kwargs, {"visual": [PIL images]}))` with `gen_kwargs = {"until": stop strings, "max_gen_toks",
"do_sample", "temperature"}` (+ `top_p`, `top_k`, `repetition_penalty` when not neutral). A request without
images is sent as a two-argument (text-only) instance. Requests are grouped by generation settings and
sent in chunks of `chunk_size` (default max(64, 8 x batch size); 0 = everything at once): lm-eval batches
and sorts inside a chunk, and geobench caches each chunk's completions as soon as it returns (resume),
while decoded images are held for one chunk only. A seeded GenConfig seeds python, numpy and torch
before its chunk (lm-eval's HF models take no per-request seed).

Completions: the text is lm-eval's (decoded without special tokens, cut at the stop strings). For lm-eval's
Hugging Face models the generated token ids are observed through `tok_decode`, so `n_tokens` counts the
generated tokens up to the first end token exactly as the `hf` backend does; for other model types it is
the completion re-encoded with the LM's tokenizer where it has one (else 0). `finish_reason` is "length"
when `n_tokens >= max_new_tokens` and no stop string cut the text.

Verified on the tiny Qwen2.5-VL (tests/test_lmeval_interop.py): `hf-multimodal` through this backend feeds
the model the same input ids and pixels as the `hf` backend (requests with 0, 1 and 2 images) and gives the
same greedy completions, token counts and finish reasons, with and without stop strings; `geobench.evaluate`
results and samples files are identical on geoloc_toy and crossview_toy (5 images per request).

Caveats: lm-eval 0.4.13's `hf-multimodal` loads the processor with `AutoProcessor`, which needs torchvision
for Qwen2-VL / Qwen2.5-VL; here it is loaded with geobench's `load_processor` (image-only fallback) and
`min_pixels` / `max_pixels` are applied to it. Text-only lm-eval model types (`hf`, `vllm`, ...) refuse
requests with images (one line). lm-eval's API models keep only `max_images` images per request (default
1): a request with more is refused, pass `max_images=N`. A literal `<image>` in a task's text would be read
as a placeholder, so it is refused too.

lm-eval is optional (`pip install 'geobench[lmeval]'`) and imported only when the backend is built: this
module must import without it (the constructor then says how to install it, in one line), and looking the
backend up must not import lm_eval, torch or transformers (tests/test_lmeval_interop.py checks it).
Parts: `models.py` (lm-eval's model types), `convert.py` (chat and generation settings), `tokens.py`
(token counts).
"""


from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Iterator
from typing import Any

from geobench import plugin_manager
from geobench.api import Backend, Completion, GenConfig, Request
from geobench.args import parse_kv
from geobench.errors import GeobenchError
from geobench.hfutil import first_line, folder_hash
from geobench.plugins.lmeval.convert import chat_to_lm_eval, lm_eval_gen_kwargs
from geobench.plugins.lmeval.models import (
    DEFAULT_TYPE,
    MULTIMODAL_TYPES,
    is_api_model,
    known_model_type,
    lm_eval_version,
    model_class,
    with_image_only_processor,
)
from geobench.plugins.lmeval.tokens import TokenRecorder, count_tokens

GEOBENCH_ARGS = ("lm_eval_model", "chunk_size")
# Model args that change how fast outputs come, not what they are: left out of the cache fingerprint.
NOT_FINGERPRINTED = ("batch_size", "max_batch_size", "device", "parallelize", "num_concurrent", "max_retries",
                     "timeout", "offload_folder", "max_memory_per_gpu", "max_cpu_memory")


class LMEvalBackend(Backend):
    """A geobench backend that generates with an lm-eval LM (`lm_eval.api.model.LM`).

    `LMEvalBackend(model, model_args=None, batch_size=1, **more_model_args)`: `model` is an lm-eval model
    type (then `pretrained=` comes in the model args) or the model itself (then the type is
    `lm_eval_model=`, default hf-multimodal); `model_args` is lm-eval's `k=v,...` string or a dict. The LM
    is built on the first `generate` (a fully cached rerun never loads it), or by `load()`.
    """

    name = "lm-eval"

    def __init__(self, model: str, model_args: str | dict | None = None, batch_size: int | str = 1,
                 lm_eval_model: str | None = None, chunk_size: int | None = None, **more_args):
        self.lm_eval_version = lm_eval_version()
        args = {**parse_kv(model_args, "lm-eval model args"), **more_args}
        lm_eval_model = args.pop("lm_eval_model", lm_eval_model)
        chunk_size = args.pop("chunk_size", chunk_size)
        is_path = os.path.exists(os.path.expanduser(model))
        if lm_eval_model is None and not is_path and (known_model_type(model) or "pretrained" in args
                                                      or ":" in model):
            self.model_type = model  # lm-eval's form: --model TYPE --model-args pretrained=...
        else:
            self.model_type = lm_eval_model or DEFAULT_TYPE
            if "pretrained" in args and not _same_model(args["pretrained"], model):
                raise GeobenchError(f"the model is given twice: --model {model!r} and pretrained="
                                    f"{args['pretrained']!r}", hint="pass one of them")
            args["pretrained"] = model
        self.cls = model_class(self.model_type)  # an unknown type fails here, before any loading
        if isinstance(args.get("pretrained"), str) and not is_api_model(self.cls):
            # `tiny` names a folder of weights; for a served (API) model it is the server's model name.
            args["pretrained"] = _resolve_registered(args["pretrained"])
            if args["pretrained"].startswith(("/", ".", "~")) and not os.path.exists(
                    os.path.expanduser(args["pretrained"])):
                raise GeobenchError(f"model folder not found: {args['pretrained']}")
        args.setdefault("batch_size", batch_size)
        self.args = args
        self.batch_size = args["batch_size"]
        if chunk_size is None:
            chunk_size = max(64, 8 * self.batch_size) if isinstance(self.batch_size, int) else 64
        try:
            self.chunk_size = int(chunk_size)
            if self.chunk_size < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise GeobenchError(f"chunk_size must be an integer >= 0, got {chunk_size!r}") from None
        self.model_id = str(args.get("pretrained") or args.get("model") or self.model_type)
        self.lm = None
        self._fingerprint = self._make_fingerprint()

    # -------------------------------------------------------------------------------------- identity

    def _make_fingerprint(self) -> dict[str, Any]:
        args = {k: v for k, v in sorted(self.args.items()) if k not in NOT_FINGERPRINTED}
        fp: dict[str, Any] = {"backend": "lm-eval", "lm_eval_model": self.model_type,
                              "lm_eval_version": self.lm_eval_version}
        local = _local_folder(args.get("pretrained"))
        if local is not None:
            # The content decides, not where the folder sits (as for the hf backend).
            args["pretrained"] = os.path.basename(local)
            fp["content_sha256"] = folder_hash(local)
        fp["model_args"] = {k: v if isinstance(v, str | int | float | bool | type(None)) else str(v)
                            for k, v in args.items()}
        return fp

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        device = getattr(self.lm, "device", None) if self.lm is not None else self.args.get("device")
        return {"model": self.model_id, "lm_eval_model": self.model_type, "lm_eval_class": self.cls.__name__,
                "lm_eval_version": self.lm_eval_version, "model_args": dict(self.args),
                "batch_size": self.batch_size, "chunk_size": self.chunk_size,
                "device": None if device is None else str(device)}

    # -------------------------------------------------------------------------------------- loading

    def load(self):
        """Build the lm-eval LM now (normally on the first generate); failures are one line."""
        if self.lm is None:
            cls = with_image_only_processor(self.cls)
            bar = _hf_progress_bar(False)
            hf_logger = logging.getLogger("lm_eval.models.huggingface")
            hf_logger.addFilter(_drop_backend_notice)
            try:
                self.lm = cls.create_from_arg_obj(dict(self.args))
            except GeobenchError:
                raise
            except Exception as e:  # noqa: BLE001 - any construction failure is the user's args or model
                raise GeobenchError(f"cannot create lm-eval model {self.model_type!r} with "
                                    f"{_args_text(self.args)}: {type(e).__name__}: {first_line(e)}") from None
            finally:
                _hf_progress_bar(bar)
                hf_logger.removeFilter(_drop_backend_notice)
        return self.lm

    # -------------------------------------------------------------------------------------- generation

    def generate(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        self._check(requests)
        lm = self.load()
        self._check_max_images(lm, requests)
        groups: dict[tuple[GenConfig, bool], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((req.gen, bool(req.images)), []).append(i)
        for (gen, _), idxs in groups.items():
            step = self.chunk_size or len(idxs)
            for start in range(0, len(idxs), step):
                chunk = idxs[start:start + step]
                yield from zip(chunk, self._generate_chunk(lm, [requests[i] for i in chunk], gen), strict=True)

    def _check(self, requests: list[Request]) -> None:
        if not getattr(self.cls, "MULTIMODAL", False):
            with_images = next((r for r in requests if r.images), None)
            if with_images is not None:
                raise GeobenchError(
                    f"lm-eval model type {self.model_type!r} is text-only, but task {with_images.task!r} sends "
                    f"images", hint=f"use a multimodal type: {', '.join(MULTIMODAL_TYPES)}")

    def _check_max_images(self, lm, requests: list[Request]) -> None:
        cap = getattr(lm, "max_images", None)
        most = max(requests, key=lambda r: len(r.images))
        if isinstance(cap, int) and len(most.images) > cap:
            raise GeobenchError(f"task {most.task!r} sends {len(most.images)} images per request but lm-eval model "
                                f"{self.model_type!r} keeps only max_images={cap}",
                                hint=f"add max_images={len(most.images)} to --model-args")

    def _generate_chunk(self, lm, reqs: list[Request], gen: GenConfig) -> list[Completion]:
        from lm_eval.api.instance import Instance  # optional extra: see the module docstring

        gen_kwargs = lm_eval_gen_kwargs(gen)
        instances = []
        for j, req in enumerate(reqs):
            context = _render(lm, chat_to_lm_eval(req.messages))
            args: tuple = (context, dict(gen_kwargs))
            if req.images:
                args += ({"visual": [ref.open() for ref in req.images]},)
            instances.append(Instance("generate_until", doc={}, arguments=args, idx=j))
        if gen.seed is not None:
            _seed_everything(gen.seed)
        with TokenRecorder(lm) as recorder:
            try:
                texts = lm.generate_until(instances, disable_tqdm=True)
            except GeobenchError:
                raise
            except Exception as e:
                if _is_oom(e):
                    raise GeobenchError(f"out of memory in lm-eval model {self.model_type!r} at batch size "
                                        f"{self.batch_size}", hint="use a smaller batch_size") from None
                raise
        del instances  # the decoded images of this chunk
        if len(texts) != len(reqs):
            raise GeobenchError(f"lm-eval model {self.model_type!r} returned {len(texts)} completions for "
                                f"{len(reqs)} requests")
        return [self._completion(lm, recorder, text, gen) for text in texts]

    def _completion(self, lm, recorder: TokenRecorder, text, gen: GenConfig) -> Completion:
        text = "" if text is None else str(text)
        stop_cut, n = recorder.take(text, gen.stop)
        if n is None:
            n, stop_cut = count_tokens(lm, text), False
        hit_length = n >= gen.max_new_tokens and not stop_cut
        return Completion(text=text, n_tokens=n, finish_reason="length" if hit_length else "stop")


def _render(lm, chat: list[dict[str, str]]):
    """The LM's chat template applied to the chat (a prompt string, or an API model's JSON chat)."""
    try:
        return lm.apply_chat_template(chat, add_generation_prompt=True)
    except Exception as e:  # noqa: BLE001 - no chat template, or one that rejects the chat
        raise GeobenchError(f"lm-eval model cannot apply its chat template: {type(e).__name__}: "
                            f"{first_line(e)}", hint="geobench tasks are chats: use an instruct/chat model") from None


def _is_oom(e: BaseException) -> bool:
    torch = sys.modules.get("torch")
    return (torch is not None and isinstance(e, torch.OutOfMemoryError)) or \
        (isinstance(e, RuntimeError) and "out of memory" in str(e))


def _hf_progress_bar(enabled: bool) -> bool:
    """Set transformers' progress bars on/off (its weight-loading bar tears geobench's); returns the old state."""
    try:  # transformers is imported only once an lm-eval HF model is built (it imported it by then)
        from transformers.utils import logging as hf_logging
    except ImportError:
        return False
    old = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    return old


def _drop_backend_notice(record) -> bool:
    """lm-eval warns that an image-text-to-text model is "neither CausalLM nor Seq2SeqLM" and then treats it
    as causal, which is right for every VLM it supports: that line is noise in geobench's output."""
    return "neither marked as CausalLM" not in str(record.msg)


def _args_text(args: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in args.items())


def _same_model(a: Any, b: str) -> bool:
    a = _resolve_registered(a) if isinstance(a, str) else a
    b = _resolve_registered(b)
    return a == b or (isinstance(a, str) and os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def _resolve_registered(name: str) -> str:
    """`pretrained=tiny` (a geobench-registered model name) -> its local folder; anything else unchanged."""
    if os.path.exists(os.path.expanduser(name)):
        return name
    reg = plugin_manager.registry()
    if name in reg.models:
        resolve, _ = reg.model(name)
        return str(resolve())
    return name


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _local_folder(path: Any) -> str | None:
    if not isinstance(path, str):
        return None
    expanded = os.path.expanduser(path)
    return os.path.abspath(expanded) if os.path.isdir(expanded) else None
