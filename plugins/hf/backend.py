"""The `hf` backend: a transformers image-text-to-text model, batched with left padding.

Batch size 1 is the reference mode; larger batches must give the same greedy completions (the tests check
this on the tiny model). Requests are grouped by generation settings, sorted longest first (so an
out-of-memory error shows up on the first batch), and results are yielded as each batch finishes. The next
batch's images are decoded in a thread while the current batch generates.

Imported only when the `hf` backend is looked up (the plugin's entry point, `geobench.plugins.hf`, is light).
This module imports torch and transformers only inside the methods that load or run the model: building the
backend and computing its fingerprint (config, weight files, dtype) stay cheap, so a rerun whose completions
are all cached never imports them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from geobench import hfutil, messages
from geobench.api import Backend, Completion, GenConfig, Request
from geobench.args import batch_size as batch_size_arg
from geobench.args import positive_int, truthy
from geobench.errors import GeobenchError
from geobench.plugins.hf import device as devices

KNOWN_ARGS = ("batch_size", "dtype", "device", "attn_implementation", "min_pixels", "max_pixels",
              "trust_remote_code", "revision", "max_batch_size")
CPU_AUTO_BATCH = 16  # batch_size=auto on CPU: no OOM signal to probe with, so a fixed cap


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e))


# ---------------------------------------------------------------------------------------------- backend


class HFBackend(Backend):
    """transformers `AutoModelForImageTextToText` + its processor (chat template, left padding)."""

    name = "hf"
    loads_weights = True

    def __init__(self, model: str, batch_size: int | str = 1, dtype: str = "auto", device: str = "auto",
                 attn_implementation: str | None = None, min_pixels: int | None = None,
                 max_pixels: int | None = None, trust_remote_code: bool = False, revision: str | None = None,
                 max_batch_size: int = 64, **unknown):
        if unknown:
            raise GeobenchError(f"unknown model arg{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(map(repr, sorted(unknown)))} for backend 'hf'; known: {', '.join(KNOWN_ARGS)}")
        # Cheap checks first: a typo should not cost a model load.
        batch_size = batch_size_arg(batch_size, "batch_size")
        max_batch_size = positive_int("max_batch_size", max_batch_size, optional=True)
        min_pixels = positive_int("min_pixels", min_pixels, optional=True)
        max_pixels = positive_int("max_pixels", max_pixels, optional=True)
        if min_pixels and max_pixels and min_pixels > max_pixels:
            raise GeobenchError(f"min_pixels ({min_pixels}) > max_pixels ({max_pixels})")
        if device == "auto":
            device = "cuda" if devices.cuda_available() else "cpu"
        if not devices.valid(device):
            raise GeobenchError(f"bad device {device!r} (e.g. auto, cpu, cuda, cuda:1)")
        if device.startswith("cuda") and not devices.cuda_available():
            raise GeobenchError(f"device {device!r} requested but CUDA is not available here")
        dtype = str(dtype).removeprefix("torch.")
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        if dtype not in hfutil.DTYPES:
            raise GeobenchError(f"bad dtype {dtype!r}; known: auto, {', '.join(hfutil.DTYPES)}")
        trust_remote_code = truthy(trust_remote_code)
        hfutil.check_attn_implementation(attn_implementation, "--model-args attn_implementation")
        self.local_path = hfutil.local_folder(model)
        where = self.local_path or model

        if self.local_path is None and (cached := hfutil.cached_config(model, revision)) and hfutil.has_weights(cached):
            self.local_path = os.path.dirname(cached)  # a hub id fully in the HF cache: its snapshot folder
        where = self.local_path or model
        self._load_args = dict(where=where, dtype=hfutil.DTYPES[dtype], revision=revision,
                               trust_remote_code=trust_remote_code, attn_implementation=attn_implementation,
                               device=device)
        self._pixel_args = (min_pixels, max_pixels)
        self._setup(None, None, model, batch_size, max_batch_size)
        self.device, self.dtype, self.attn_implementation = device, hfutil.DTYPES[dtype], attn_implementation
        self.revision = revision
        self.hub_repo, self.commit = hfutil.snapshot(self.local_path or "")
        self.trust_remote_code = trust_remote_code
        if self.local_path is None:
            if hfutil.valid_repo_id(model) and hfutil.hub_unreachable():
                raise hfutil.offline_error(model)
            self._load_processor()  # not cached: fetch (or fail in one line) now, before any other work
        else:
            hfutil.check_config(self.local_path)
        # Processor and weights load on first use: a rerun whose completions are all cached loads neither.
        self._fingerprint = self._hash_fingerprint()

    @property
    def processor(self):
        if self._processor is None and getattr(self, "_load_args", None) is not None:
            self._load_processor()
        return self._processor

    @processor.setter
    def processor(self, value) -> None:
        self._processor = value

    def _load_processor(self) -> None:
        from transformers import AutoConfig

        a = self._load_args
        try:  # the config first: an unknown architecture is a clearer error than its processor's complaint
            AutoConfig.from_pretrained(a["where"], revision=a["revision"], trust_remote_code=a["trust_remote_code"])
            self._processor = hfutil.load_processor(a["where"], trust_remote_code=a["trust_remote_code"],
                                             revision=a["revision"])
        except GeobenchError:
            raise
        except Exception as e:  # noqa: BLE001 - every load failure becomes one line
            raise hfutil.load_error(self.model_id, self.local_path, e) from None
        self._apply_pixels(*self._pixel_args)

    @classmethod
    def from_loaded(cls, model, processor, batch_size: int | str = 1, name: str = "in-memory",
                    fingerprint: dict[str, Any] | None = None) -> HFBackend:
        """Wrap an already-loaded model and processor (trainers evaluating the model they train).

        `fingerprint()` returns `fingerprint` as given: without one it is None, and the caller must not cache,
        since nothing identifies the in-memory weights.
        """
        self = cls.__new__(cls)
        self._load_args = None
        self.local_path = self.revision = self.commit = self.hub_repo = None
        self.trust_remote_code = False
        self._setup(model, processor, name, batch_size, 64)
        self._fingerprint = fingerprint
        return self

    def _setup(self, model, processor, model_id: str, batch_size, max_batch_size) -> None:
        self.processor = processor
        self.model_id = model_id
        self.batch_size = batch_size_arg(batch_size, "batch_size")
        self.max_batch_size = positive_int("max_batch_size", max_batch_size, optional=True)
        self._limit = 1  # the batch size now in use
        self._oom_cap: int | None = None  # auto: a batch size known to fit, after an out-of-memory error
        self._largest_ok = 0  # the largest batch that ran: the effective batch size
        self.model = None
        if model is not None:
            self._bind(model)

    def _bind(self, model) -> None:
        """Attach the loaded model and read what generation needs from it."""
        self.model = model
        self.device = str(model.device)
        self.dtype = str(model.dtype).removeprefix("torch.")
        self.attn_implementation = getattr(model.config, "_attn_implementation", None)
        processor = self.processor
        gc = model.generation_config
        eos = gc.eos_token_id if gc.eos_token_id is not None else processor.tokenizer.eos_token_id
        self._pad_id = gc.pad_token_id if gc.pad_token_id is not None else processor.tokenizer.pad_token_id
        self._end_ids = set(eos if isinstance(eos, list) else [eos]) | {self._pad_id}
        self._end_ids.discard(None)

    def _apply_pixels(self, min_pixels: int | None, max_pixels: int | None) -> None:
        ip = getattr(self.processor, "image_processor", None)
        if min_pixels is None and max_pixels is None:
            return
        if ip is None or "shortest_edge" not in dict(getattr(ip, "size", None) or {}):
            raise GeobenchError("min_pixels/max_pixels apply only to Qwen-VL style image processors")
        size = dict(ip.size)
        if min_pixels is not None:
            size["shortest_edge"] = min_pixels
        if max_pixels is not None:
            size["longest_edge"] = max_pixels
        if size["shortest_edge"] > size["longest_edge"]:
            raise GeobenchError(f"min_pixels ({size['shortest_edge']}) > max_pixels ({size['longest_edge']})")
        ip.size = type(ip.size)(**size)

    def _pixels(self) -> tuple[int | None, int | None]:
        """The image processor's pixel budget: read from it once loaded, else from the saved config + args."""
        if self._processor is not None or self.local_path is None:
            size = dict(getattr(getattr(self.processor, "image_processor", None), "size", None) or {})
            return size.get("shortest_edge"), size.get("longest_edge")
        saved = hfutil.saved_pixels(self.local_path)
        return tuple(arg if arg is not None else s for arg, s in zip(self._pixel_args, saved, strict=True))

    def _hash_fingerprint(self) -> dict[str, Any]:
        min_px, max_px = self._pixels()
        return hfutil.weights_fingerprint("hf", self, self.dtype, min_px, max_px)

    def fingerprint(self) -> dict[str, Any] | None:
        """Computed once at load. For `from_loaded`, the dict given there, or None (do not cache)."""
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        min_px, max_px = self._pixels()
        return {"model": self.local_path or self.model_id, "batch_size": self.batch_size,
                "effective_batch_size": self._largest_ok or None, "max_batch_size": self.max_batch_size,
                "device": self.device, "dtype": self.dtype, "attn_implementation": self.attn_implementation,
                "min_pixels": min_px, "max_pixels": max_px}

    # ------------------------------------------------------------------------------------------ generation

    def load_model(self):
        """Load the weights now (normally on the first generate); load errors are one line."""
        if self.model is None:
            import torch
            from transformers import AutoModelForImageTextToText
            from transformers.utils import logging as hf_logging

            a = self._load_args
            _ = self.processor  # load it first if needed: _bind reads its tokenizer
            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # its weight-loading bar would tear geobench's own progress bar
            try:
                model = AutoModelForImageTextToText.from_pretrained(
                    a["where"], dtype=getattr(torch, a["dtype"]), revision=a["revision"],
                    trust_remote_code=a["trust_remote_code"], attn_implementation=a["attn_implementation"],
                ).to(a["device"])
            except Exception as e:  # noqa: BLE001 - every load failure becomes one line
                raise hfutil.load_error(self.model_id, self.local_path, e) from None
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
            self._bind(model)
        return self.model

    def generate(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        import torch

        self.load_model()
        if self.batch_size != "auto":
            limit = self.batch_size
        else:
            cap = self.max_batch_size if self.device.startswith("cuda") else min(self.max_batch_size, CPU_AUTO_BATCH)
            limit = min(self._oom_cap or cap, cap, len(requests))
        self._limit = limit
        was_training = self.model.training
        self.model.eval()
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="geobench-images") as pool, torch.inference_mode():
                plan = self._plan(requests)
                nxt = next(plan, None)
                future = pool.submit(_decode, requests, nxt[1]) if nxt else None
                while nxt is not None:
                    (gen, idxs), images = nxt, future
                    nxt = next(plan, None)
                    future = pool.submit(_decode, requests, nxt[1]) if nxt else None
                    yield from self._run(requests, gen, idxs, images.result())
        finally:
            self.model.train(was_training)

    def _plan(self, requests: list[Request]) -> Iterator[tuple[GenConfig, list[int]]]:
        """Batches of requests sharing a GenConfig, longest prompt first (by images, then text length).

        Images are not decoded yet, so length is estimated; the group holding the longest prompt comes first.
        """
        groups: dict[GenConfig, list[int]] = {}
        longest_first = sorted(range(len(requests)), reverse=True,
                               key=lambda i: (len(requests[i].images), messages.text_length(requests[i].messages)))
        for i in longest_first:
            groups.setdefault(requests[i].gen, []).append(i)
        for gen, idxs in groups.items():
            pos = 0
            while pos < len(idxs):
                yield gen, idxs[pos:pos + self._batch_limit(gen)]
                pos += self._batch_limit(gen)

    def _batch_limit(self, gen: GenConfig) -> int:
        """Seeded sampling runs one request per batch: the seed then fixes each completion whatever the batch
        size or neighbours, which is what lets the cache store it (greedy batches are exact already)."""
        return 1 if gen.do_sample and gen.temperature > 0 and gen.seed is not None else self._limit

    def _run(self, requests, gen: GenConfig, idxs: list[int], images: dict) -> Iterator[tuple[int, Completion]]:
        """Generate `idxs` in batches of the current limit; with batch_size=auto, halve it on OOM and retry."""
        pos = 0
        while pos < len(idxs):
            batch = idxs[pos:pos + self._batch_limit(gen)]
            try:
                completions = self._generate_batch(requests, gen, batch, images)
            except Exception as e:
                if not _is_oom(e):
                    raise
                completions = None
            if completions is None:  # out of memory; the failed batch's tensors are released by now
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if self.batch_size != "auto" or len(batch) == 1:
                    raise GeobenchError(f"out of memory at batch size {len(batch)} on {self.device}",
                                        hint="use a smaller batch_size, batch_size=auto, or smaller max_pixels"
                                        ) from None
                self._limit = self._oom_cap = (len(batch) + 1) // 2
                continue
            self._largest_ok = max(self._largest_ok, len(batch))
            yield from zip(batch, completions, strict=True)
            pos += len(batch)

    def _generate_batch(self, requests, gen: GenConfig, batch: list[int], images: dict) -> list[Completion]:
        chats = [messages.with_images(requests[i].messages, images[i]) for i in batch]
        texts = self.processor.apply_chat_template(chats, add_generation_prompt=True, tokenize=False)
        flat = [im for i in batch for im in images[i]]
        inputs = self.processor(text=texts, images=flat or None, padding=True, padding_side="left",
                                return_tensors="pt").to(self.model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        if gen.seed is not None:
            import torch

            torch.manual_seed(gen.seed)
        out = self.model.generate(**inputs, **self._generate_kwargs(gen))
        new = out[:, inputs["input_ids"].shape[1]:].tolist()
        return [self._completion(row, gen) for row in new]

    def _generate_kwargs(self, gen: GenConfig) -> dict[str, Any]:
        """GenConfig -> `generate` kwargs; neutral sampling values when greedy (no checkpoint defaults leak)."""
        sampling = gen.do_sample and gen.temperature > 0
        kw = {"max_new_tokens": gen.max_new_tokens, "do_sample": sampling,
              "repetition_penalty": gen.repetition_penalty, "pad_token_id": self._pad_id,
              "temperature": gen.temperature if sampling else 1.0, "top_p": gen.top_p if sampling else 1.0,
              "top_k": gen.top_k if sampling else 50}
        if gen.stop:
            kw.update(stop_strings=list(gen.stop), tokenizer=self.processor.tokenizer)
        return kw

    def _completion(self, ids: list[int], gen: GenConfig) -> Completion:
        n = next((k for k, t in enumerate(ids) if t in self._end_ids), len(ids))
        text = self.processor.tokenizer.decode(ids[:n], skip_special_tokens=True)
        cut = min((p for p in (text.find(s) for s in gen.stop if s) if p >= 0), default=-1)
        if cut >= 0:
            text = text[:cut]
        hit_length = n >= gen.max_new_tokens and cut < 0
        return Completion(text=text, n_tokens=n, finish_reason="length" if hit_length else "stop")


def _decode(requests: list[Request], idxs: list[int]) -> dict[int, list]:
    """Decode the images of some requests (runs in the prefetch thread); errors name the file."""
    return {i: [ref.open() for ref in requests[i].images] for i in idxs}
