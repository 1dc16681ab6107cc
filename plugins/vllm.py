"""The `vllm` backend: the whole request list through vLLM's offline `LLM.chat` (continuous batching).

    geobench eval --backend vllm --model Qwen/Qwen2.5-VL-7B-Instruct --tasks all \\
        --model-args tensor_parallel_size=1,gpu_memory_utilization=0.9,max_model_len=8192,dtype=bfloat16

How it works
------------
- Requests go to `LLM.chat` in chunks of `chunk_size` (default 512) requests per call, each call with a list
  of `SamplingParams`, one per prompt, so requests with different generation settings still share one call
  and one continuous batch. A chunk's completions are yielded (and so cached by the evaluator) when that
  call returns. **Trade-off:** `LLM.chat` returns only when its whole list is done, so a killed run loses
  the chunk in flight (at most `chunk_size` requests); a larger chunk (`chunk_size=all`: one call for
  everything) keeps the engine fuller at the end of each chunk, a smaller one loses less work on a kill.
- The engine is built on the first `generate` call, when the requests are known: a rerun whose completions
  are all cached never starts vLLM (nor needs a GPU), and `limit_mm_per_prompt` defaults to the largest
  number of images in one request (at least 1), which is what vLLM reserves memory for when it profiles.
- Images are decoded with `ImageRef.open()` (one-line errors naming the file) and passed as
  `{"type": "image_pil", "image_pil": <PIL image>}` parts; the next chunk's images are decoded in a thread
  while the current chunk generates. Text parts stay `{"type": "text", "text": ...}`.
- Prompts are rendered with `chat_template_content_format="openai"`, so the model's chat template sees
  `[{"type": "image"}, {"type": "text", "text": ...}]` exactly as the `hf` backend's processor does. (In the
  "string" format vLLM joins the parts with newlines itself, which changes the prompt.)
- Generation settings map as in `hf` (`sampling_params_kwargs`): greedy (`do_sample=False`, or temperature 0)
  is temperature 0; sampling passes temperature, top_p and top_k; repetition_penalty, seed, stop strings and
  max_new_tokens (-> max_tokens) always. Greedy outputs should match `hf`; sampled ones need not (different
  random streams).
- `n_tokens` counts generated tokens without the end token, as `hf` does: vLLM keeps the EOS (or stop token
  id) that ended a request in `token_ids` while leaving it out of the text.
- `--batch-size` is ignored: vLLM schedules its own batches (tune `max_num_seqs` instead).

vLLM API relied on (read in vllm-project/vllm; pyproject requires vllm>=0.10):
- `vllm/entrypoints/llm.py`: `LLM(model, *, tensor_parallel_size, dtype, revision, seed,
  gpu_memory_utilization, trust_remote_code, enforce_eager, mm_processor_kwargs, **kwargs -> EngineArgs)`
  (`max_model_len`, `limit_mm_per_prompt`, `max_num_seqs` are EngineArgs fields); `LLM(data_parallel_size>1)`
  raises in single-process use. `LLM.chat(messages, sampling_params=None, use_tqdm=True, ...,
  chat_template_content_format="auto", ...)`: a list of conversations; `sampling_params` a single value or a
  list "paired one by one with the prompt"; returns `RequestOutput`s "in the same order as the input messages".
- `vllm/entrypoints/chat_utils.py`: content part types `text` and `image_pil` (a PIL image, also
  `image_url` for URLs / data URLs); in the "openai" format an image part reaches the template as
  `{"type": "image"}`; in the "string" format the parts are joined with "\\n".
- `vllm/sampling_params.py`: `SamplingParams(max_tokens, temperature, top_p, top_k, repetition_penalty,
  seed, stop, ...)`; temperature < 1e-5 means greedy; top_k: -1 disables in every version (older versions
  reject 0; newer ones accept 0 or -1); `skip_special_tokens=True` and stop strings left out of the text by
  default.
- `vllm/outputs.py`: `RequestOutput.outputs[0]` is a `CompletionOutput(text, token_ids, finish_reason,
  stop_reason)`; `finish_reason` "stop" or "length"; `stop_reason` is the matched stop string or stop token
  id, None for EOS (vllm PR #2976). `vllm/v1/engine/detokenizer.py`: the token that stopped a request is
  appended to `token_ids` but not detokenized.
- `examples/offline_inference/vision_language.py` (Qwen2-VL / Qwen2.5-VL): `mm_processor_kwargs=
  {"min_pixels": ..., "max_pixels": ...}`, `limit_mm_per_prompt={"image": n}`.

Nothing here imports torch or vllm at module import: `geobench --help` must stay fast, and argument
validation (`engine_args`) runs, and is tested, without vLLM installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from geobench import hfutil
from geobench.api import Backend, Completion, GenConfig, Request
from geobench.args import truthy
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

INSTALL_HINT = "the vllm backend needs vLLM: pip install 'geobench[vllm]' (GPU machines only; vLLM has no CPU wheel)"
DEFAULT_CHUNK_SIZE = 512
ENGINE_ARGS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "limit_mm_per_prompt", "dtype",
               "min_pixels", "max_pixels", "revision", "trust_remote_code", "seed", "enforce_eager", "max_num_seqs")
BACKEND_ARGS = ("chunk_size", "batch_size")  # geobench's own; never sent to LLM(...)
KNOWN_ARGS = ENGINE_ARGS + BACKEND_ARGS
VLLM_DTYPES = {"auto": "auto", **hfutil.DTYPES}


# ------------------------------------------------------------------------------------------ validation


def _int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise GeobenchError(f"{name} must be an integer, got {value!r}")
    try:
        n = int(value)
        if isinstance(value, float) and n != value:
            raise ValueError(value)
    except (TypeError, ValueError):
        raise GeobenchError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise GeobenchError(f"{name} must be >= {minimum}, got {value!r}")
    return n


def _mm_limit(value) -> dict[str, int]:
    """`limit_mm_per_prompt`: 5, "5", "image=5" or {"image": 5} -> {"image": 5}."""
    if isinstance(value, dict):
        return {str(k): _int(f"limit_mm_per_prompt[{k!r}]", v, 0) for k, v in value.items()}
    if isinstance(value, str) and "=" in value:
        key, _, n = value.partition("=")
        return {key.strip(): _int("limit_mm_per_prompt", n.strip(), 0)}
    return {"image": _int("limit_mm_per_prompt", value)}


def _check_known(model_args: dict) -> None:
    if "data_parallel_size" in model_args:
        raise GeobenchError(
            "model arg 'data_parallel_size' is not supported: vLLM's offline LLM class runs one data-parallel "
            "replica per process", hint="run one `geobench eval` per GPU (CUDA_VISIBLE_DEVICES=i) with --limit "
            "slices or different tasks; they share the response cache safely")
    unknown = sorted(set(model_args) - set(KNOWN_ARGS))
    if unknown:
        raise GeobenchError(f"unknown model arg{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                            f"for backend 'vllm'; known: {', '.join(KNOWN_ARGS)}")


def engine_args(model: str, **model_args) -> dict[str, Any]:
    """The keyword arguments `LLM(...)` gets for `--model model --model-args ...`, validated.

    Unknown names and bad values are one-line GeobenchErrors. geobench's own args (`chunk_size`,
    `batch_size`) are accepted and left out. `limit_mm_per_prompt` is present only when given: otherwise the
    backend sets it from the requests when it builds the engine (`default_mm_limit`). `min_pixels` /
    `max_pixels` become `mm_processor_kwargs` (the Qwen2-VL / Qwen2.5-VL image processor's pixel budget).
    """
    _check_known(model_args)
    a = dict(model_args)
    out: dict[str, Any] = {"model": model}
    out["tensor_parallel_size"] = _int("tensor_parallel_size", a.get("tensor_parallel_size", 1))
    gmu = a.get("gpu_memory_utilization", 0.9)
    try:
        gmu = float(gmu)
    except (TypeError, ValueError):
        raise GeobenchError(f"gpu_memory_utilization must be a number in (0, 1], got {gmu!r}") from None
    if not 0 < gmu <= 1:
        raise GeobenchError(f"gpu_memory_utilization must be in (0, 1], got {gmu!r}")
    out["gpu_memory_utilization"] = gmu
    dtype = str(a.get("dtype", "auto")).removeprefix("torch.")
    if dtype not in VLLM_DTYPES:
        raise GeobenchError(f"bad dtype {dtype!r}; known: {', '.join(VLLM_DTYPES)}")
    out["dtype"] = VLLM_DTYPES[dtype]
    if a.get("max_model_len") is not None:
        out["max_model_len"] = _int("max_model_len", a["max_model_len"])
    if a.get("limit_mm_per_prompt") is not None:
        out["limit_mm_per_prompt"] = _mm_limit(a["limit_mm_per_prompt"])
    if a.get("max_num_seqs") is not None:
        out["max_num_seqs"] = _int("max_num_seqs", a["max_num_seqs"])
    if a.get("seed") is not None:
        out["seed"] = _int("seed", a["seed"], 0)
    min_px = _int("min_pixels", a["min_pixels"]) if a.get("min_pixels") is not None else None
    max_px = _int("max_pixels", a["max_pixels"]) if a.get("max_pixels") is not None else None
    if min_px and max_px and min_px > max_px:
        raise GeobenchError(f"min_pixels ({min_px}) > max_pixels ({max_px})")
    mm = {k: v for k, v in (("min_pixels", min_px), ("max_pixels", max_px)) if v is not None}
    if mm:
        out["mm_processor_kwargs"] = mm
    if a.get("revision") is not None:
        out["revision"] = str(a["revision"])
    out["trust_remote_code"] = truthy(a.get("trust_remote_code", False))
    if a.get("enforce_eager") is not None:
        out["enforce_eager"] = truthy(a["enforce_eager"])
    return out


def chunk_size_arg(value) -> int | None:
    """`chunk_size`: requests per `LLM.chat` call; "all" (None) sends the whole list in one call."""
    if value is None:
        return DEFAULT_CHUNK_SIZE
    if isinstance(value, str) and value.strip().lower() == "all":
        return None
    return _int("chunk_size", value)


def default_mm_limit(requests: list[Request]) -> dict[str, int]:
    """`limit_mm_per_prompt` when not given: the most images in one request, at least 1."""
    return {"image": max([len(r.images) for r in requests] + [1])}


def sampling_params_kwargs(gen: GenConfig) -> dict[str, Any]:
    """GenConfig -> `SamplingParams(...)` kwargs, with the `hf` backend's semantics (`HFBackend._generate_kwargs`).

    Greedy when `do_sample` is off or temperature is 0 (vLLM: temperature 0 is greedy), with neutral
    top_p/top_k so no sampling setting leaks in; top_k 0 ("off" for geobench and transformers) is vLLM's -1.
    """
    sampling = gen.do_sample and gen.temperature > 0
    kw: dict[str, Any] = {
        "max_tokens": gen.max_new_tokens,
        "temperature": gen.temperature if sampling else 0.0,
        "top_p": gen.top_p if sampling else 1.0,
        "top_k": (gen.top_k or -1) if sampling else -1,
        "repetition_penalty": gen.repetition_penalty,
    }
    if gen.seed is not None:
        kw["seed"] = gen.seed
    if gen.stop:
        kw["stop"] = list(gen.stop)
    return kw


def to_vllm_messages(request: Request, images: list) -> list[dict]:
    """The request's chat in `LLM.chat`'s format, each image part replaced, in order, by `images[k]` (PIL)."""
    it = iter(images)
    used = 0
    out = []
    for m in request.messages:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for c in content:
                kind = c.get("type")
                if kind == "image":
                    img = next(it, None)
                    if img is None:
                        raise ValueError(f"request {request.task}/{request.doc_id}: fewer images than image parts")
                    parts.append({"type": "image_pil", "image_pil": img})
                    used += 1
                elif kind == "text":
                    parts.append({"type": "text", "text": c["text"]})
                else:
                    raise GeobenchError(f"request {request.task}/{request.doc_id}: content part type {kind!r} is not "
                                        "supported by the vllm backend (only 'image' and 'text')")
            content = parts
        out.append({"role": m["role"], "content": content})
    if used != len(images):
        raise ValueError(f"request {request.task}/{request.doc_id}: {len(images)} images for {used} image parts")
    return out


def completion_from_output(output) -> Completion:
    """A vLLM `RequestOutput` (its first `CompletionOutput`) -> Completion.

    `n_tokens` leaves out the token that ended the request (EOS, or a stop token id): vLLM keeps it in
    `token_ids` (finish_reason "stop" with stop_reason None or an int) but not in the text, and `hf` does not
    count it. A stop *string* (stop_reason a str) is cut from the text; its tokens are counted, as in `hf`.
    """
    out = output.outputs[0]
    n = len(out.token_ids)
    if out.finish_reason == "stop" and not isinstance(getattr(out, "stop_reason", None), str) and n:
        n -= 1
    return Completion(text=out.text, n_tokens=n, finish_reason="length" if out.finish_reason == "length" else "stop")


def vllm_installed() -> bool:
    """Whether vLLM is importable, without importing it (that takes seconds and needs its CUDA torch)."""
    return importlib.util.find_spec("vllm") is not None


def _decode(requests: list[Request], idxs: list[int]) -> list[list]:
    return [[ref.open() for ref in requests[i].images] for i in idxs]


def _require_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        raise GeobenchError("the vllm backend needs a CUDA GPU, and none is visible here "
                            "(torch.cuda.is_available() is False)", hint="use --backend hf on a CPU machine")


# ---------------------------------------------------------------------------------------------- backend


class VLLMBackend(Backend):
    """vLLM's offline `LLM` engine; see the module docstring for chunking, images and settings."""

    name = "vllm"
    loads_weights = True

    def __init__(self, model: str, **model_args):
        # Validate everything before looking for vLLM: a typo is reported the same on any machine.
        self.chunk_size = chunk_size_arg(model_args.get("chunk_size"))
        self.batch_size = model_args.get("batch_size")  # ignored: vLLM schedules its own batches
        self._engine_args = engine_args(model, **model_args)
        if not vllm_installed():
            raise GeobenchError(INSTALL_HINT)
        self.model_id = model
        self.revision = self._engine_args.get("revision")
        self.local_path = hfutil.local_folder(model)
        if self.local_path is None and (cached := hfutil.cached_config(model, self.revision)):
            self.local_path = os.path.dirname(cached)  # a hub id already in the HF cache: its snapshot folder
        if self.local_path is not None:
            # vLLM loads exactly the folder that was hashed (as `hf` does); the folder is the revision.
            self._engine_args["model"] = self.local_path
            self._engine_args.pop("revision", None)
        self.hub_repo, self.commit = hfutil.snapshot(self.local_path or "")
        self.llm = None
        self._make_params: Callable[..., Any] | None = None
        self._fingerprint = self._hash_fingerprint()

    @classmethod
    def from_engine(cls, llm, *, name: str = "in-memory", chunk_size: int | str | None = DEFAULT_CHUNK_SIZE,
                    fingerprint: dict[str, Any] | None = None,
                    sampling_params_factory: Callable[..., Any] | None = None) -> VLLMBackend:
        """Wrap an engine that already exists (e.g. a trainer's colocated `vllm.LLM`): anything with
        `.chat(messages, sampling_params, use_tqdm=..., chat_template_content_format=...)`.

        `fingerprint()` returns `fingerprint` as given: without one it is None and nothing is cached.
        `sampling_params_factory` builds one prompt's sampling params from `sampling_params_kwargs(gen)`
        (default `vllm.SamplingParams`).
        """
        self = cls.__new__(cls)
        self.chunk_size = chunk_size_arg(chunk_size)
        self.batch_size = None
        self._engine_args = {"model": name}
        self.local_path = self.revision = self.hub_repo = self.commit = None
        self.model_id = name
        self.llm = llm
        self._make_params = sampling_params_factory
        self._fingerprint = fingerprint
        return self

    # ------------------------------------------------------------------------------------------ identity

    def _hash_fingerprint(self) -> dict[str, Any]:
        min_px, max_px = self._pixels()
        return hfutil.weights_fingerprint("vllm", self, self._engine_args["dtype"], min_px, max_px)

    def _pixels(self) -> tuple[int | None, int | None]:
        """The pixel budget in use: the model args, else the saved image processor's (None if unknown)."""
        mm = self._engine_args.get("mm_processor_kwargs", {})
        saved = hfutil.saved_pixels(self.local_path) if self.local_path else (None, None)
        return mm.get("min_pixels", saved[0]), mm.get("max_pixels", saved[1])

    def fingerprint(self) -> dict[str, Any] | None:
        """Model content hash (local folder) or hub id + revision/commit, dtype, pixel budget, backend "vllm".

        The backend is part of the key: vLLM's kernels need not reproduce `hf`'s outputs token for token.
        """
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"model": self.local_path or self.model_id, "engine_args": dict(self._engine_args),
                "chunk_size": self.chunk_size or "all", "batch_size": "ignored (vLLM schedules its own batches)",
                "device": "cuda", "dtype": self._engine_args.get("dtype"), "min_pixels": self._pixels()[0],
                "max_pixels": self._pixels()[1]}

    # ---------------------------------------------------------------------------------------- generation

    def load_engine(self, requests: list[Request] | None = None):
        """Start vLLM now (normally on the first generate, where `requests` set `limit_mm_per_prompt`)."""
        if self.llm is not None:
            return self.llm
        self._engine_args.setdefault("limit_mm_per_prompt", default_mm_limit(requests or []))
        _require_gpu()
        try:
            from vllm import LLM
        except ImportError as e:
            raise GeobenchError(f"vLLM is installed but cannot be imported: {hfutil.first_line(e)}",
                                hint="vLLM pins its own torch; install it in a fresh venv") from None
        try:
            self.llm = LLM(**self._engine_args)
        except Exception as e:  # noqa: BLE001 - every engine start failure becomes one line
            raise GeobenchError(f"cannot start the vLLM engine for {self.model_id}: {hfutil.first_line(e)}",
                                hint="vLLM's log above has the details; GEOBENCH_DEBUG=1 shows the traceback") from e
        return self.llm

    def _params_factory(self) -> Callable[..., Any]:
        if self._make_params is None:
            try:
                from vllm import SamplingParams
            except ImportError:
                raise GeobenchError(INSTALL_HINT) from None
            self._make_params = SamplingParams
        return self._make_params

    def generate(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        if self.llm is None:
            _require_gpu()  # before importing vLLM: on a CPU machine that import alone takes seconds
        make = self._params_factory()
        # Every request's sampling params before the engine starts: a setting vLLM rejects fails in seconds.
        by_gen: dict[GenConfig, dict] = {}
        params = []
        for r in requests:
            kw = by_gen.get(r.gen)
            if kw is None:
                kw = by_gen[r.gen] = sampling_params_kwargs(r.gen)
            try:
                params.append(make(**kw))
            except ValueError as e:  # vLLM's validation errors are ValueErrors
                raise GeobenchError(f"generation settings not accepted by vLLM ({r.task}): {hfutil.first_line(e)}") from None
        limit = self._engine_args.get("limit_mm_per_prompt") or default_mm_limit(requests)
        for r in requests:
            if len(r.images) > limit.get("image", 0):
                raise GeobenchError(f"request {r.task}/{r.doc_id} has {len(r.images)} images, more than "
                                    f"limit_mm_per_prompt={limit.get('image', 0)}",
                                    hint=f"pass --model-args limit_mm_per_prompt={len(r.images)}")
        llm = self.load_engine(requests)
        size = self.chunk_size or len(requests)
        chunks = [list(range(s, min(s + size, len(requests)))) for s in range(0, len(requests), size)]
        with ThreadPoolExecutor(1, thread_name_prefix="geobench-images") as pool:
            future = pool.submit(_decode, requests, chunks[0])
            for k, idxs in enumerate(chunks):
                images = future.result()
                if k + 1 < len(chunks):
                    future = pool.submit(_decode, requests, chunks[k + 1])  # decodes while this chunk generates
                messages = [to_vllm_messages(requests[i], imgs) for i, imgs in zip(idxs, images, strict=True)]
                del images
                try:
                    outputs = llm.chat(messages, [params[i] for i in idxs], use_tqdm=False,
                                       chat_template_content_format="openai")
                except ValueError as e:  # vLLM rejects a request (e.g. prompt longer than max_model_len)
                    raise GeobenchError(f"vLLM rejected a request: {hfutil.first_line(e)}",
                                        hint="a prompt longer than max_model_len is the usual cause: raise "
                                        "max_model_len or lower max_pixels") from e
                del messages  # peak memory: this chunk's results + the next chunk's images, not three chunks
                if len(outputs) != len(idxs):
                    raise RuntimeError(f"LLM.chat returned {len(outputs)} outputs for {len(idxs)} prompts")
                for i, out in zip(idxs, outputs, strict=True):
                    yield i, completion_from_output(out)


@hookimpl
def geobench_register_backends(register):
    register(VLLMBackend, name="vllm")
