"""The `vllm` backend: the whole request list through vLLM's offline `LLM.chat` (continuous batching).

- Requests go to `LLM.chat` in chunks of `chunk_size` (default 512; `all` = one call), one `SamplingParams`
  per prompt; a chunk's completions are cached when its call returns, so a kill loses at most one chunk.
- The engine starts on the first `generate` (a fully cached rerun never starts vLLM nor needs a GPU), with
  `limit_mm_per_prompt` defaulting to the most images in one request.
- Images go as PIL `image_pil` parts (the next chunk decoded in a thread meanwhile), rendered with
  `chat_template_content_format="openai"` so the template sees what the `hf` backend's processor sees.
- Generation settings and `n_tokens` follow `hf` (see `mapping.py`); `--batch-size` is ignored.

vLLM itself is imported only when the engine starts: it is an optional, GPU-only extra, and argument
validation (`mapping.engine_args`) must give the same one-line errors on a machine without it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from geobench import hfutil
from geobench.api import Backend, Completion, GenConfig, Request
from geobench.errors import GeobenchError
from geobench.plugins.vllm.mapping import (
    DEFAULT_CHUNK_SIZE,
    chunk_size_arg,
    completion_from_output,
    default_mm_limit,
    engine_args,
    sampling_params_kwargs,
    to_vllm_messages,
)

INSTALL_HINT = "the vllm backend needs vLLM: pip install 'geobench[vllm]' (GPU machines only; vLLM has no CPU wheel)"


def vllm_installed() -> bool:
    """Whether vLLM is importable, without importing it (that takes seconds and needs its CUDA torch)."""
    return importlib.util.find_spec("vllm") is not None


def _decode(requests: list[Request], idxs: list[int]) -> list[list]:
    return [[ref.open() for ref in requests[i].images] for i in idxs]


def _require_gpu() -> None:
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
