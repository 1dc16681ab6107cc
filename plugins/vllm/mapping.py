"""vLLM's side of the `vllm` backend, without vLLM: validated `LLM(...)` arguments, `SamplingParams` kwargs,
`LLM.chat` messages and `RequestOutput` -> Completion. Pure Python, so it is tested where vLLM is absent.

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
"""

from __future__ import annotations

from typing import Any

from geobench import hfutil, messages
from geobench.api import Completion, GenConfig, Request
from geobench.args import number, truthy
from geobench.errors import GeobenchError

DEFAULT_CHUNK_SIZE = 512
ENGINE_ARGS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "limit_mm_per_prompt", "dtype",
               "min_pixels", "max_pixels", "revision", "trust_remote_code", "seed", "enforce_eager", "max_num_seqs")
BACKEND_ARGS = ("chunk_size", "batch_size")  # geobench's own; never sent to LLM(...)
KNOWN_ARGS = ENGINE_ARGS + BACKEND_ARGS
VLLM_DTYPES = {"auto": "auto", **hfutil.DTYPES}


# ------------------------------------------------------------------------------------------ validation


def _int(name: str, value, minimum: int = 1) -> int:
    return number(name, value, int, minimum)


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
            "replica per process", hint="launch geobench itself data-parallel: `torchrun --nproc-per-node N -m geobench eval "
            "--backend vllm ...` runs N engines (each on its share of the GPUs, tensor_parallel_size each) and "
            "writes one run (docs/scale-out.md)")
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
    parts = len(messages.images(request.messages))
    if len(images) != parts:
        raise ValueError(f"request {request.task}/{request.doc_id}: " + (
            "fewer images than image parts" if len(images) < parts else f"{len(images)} images for {parts} image parts"))
    return messages.convert(request.messages, image=lambda _ref, k: {"type": "image_pil", "image_pil": images[k]},
                            text=lambda t: {"type": "text", "text": t},
                            where=f"request {request.task}/{request.doc_id} (vllm backend)")


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
