"""geobench <-> OpenAI chat-completions JSON: the request body (images inlined as data URLs carrying the
original file bytes, nothing re-encoded) and the completion read back from the answer."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from geobench import messages
from geobench.api import Completion, ImageRef, Request
from geobench.errors import GeobenchError
from geobench.plugins.openai_compat.client import one_line

# Magic numbers of the formats vision servers decode; PIL is the fallback for anything else.
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
         (b"GIF89a", "image/gif"), (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


def image_mime(raw: bytes) -> str | None:
    """The MIME type of encoded image bytes, from magic numbers (PIL for rarer formats); None if unknown."""
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in MAGIC:
        if raw.startswith(magic):
            return mime
    # PIL only for the rare formats: a backend that sends PNG/JPEG never imports it (tested: the backend
    # stays free of torch, transformers and PIL).
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            return Image.MIME.get(img.format or "")
    except Exception:  # noqa: BLE001 - unknown format: the caller raises one line
        return None


def data_url(ref: ImageRef) -> str:
    """`data:<mime>;base64,<the original bytes>`; an empty or unrecognisable image is a one-line error."""
    raw = ref.read_bytes()
    where = ref.path or "<bytes>"
    if not raw:
        raise GeobenchError(f"image is empty (0 bytes): {where}")
    mime = image_mime(raw)
    if mime is None:
        raise GeobenchError(f"cannot tell the image format of {where} (not PNG, JPEG, WEBP, GIF, BMP or TIFF)")
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def to_openai_messages(chat: list[dict]) -> list[dict]:
    """geobench chat (ImageRef parts) -> OpenAI chat (text and image_url parts, images as data URLs)."""
    return messages.convert(chat, image=lambda ref, _k: {"type": "image_url", "image_url": {"url": data_url(ref)}},
                            text=lambda t: {"type": "text", "text": t}, where="openai backend")


def request_body(model_id: str, request: Request, max_tokens_field: str, extra_sampling: bool) -> dict[str, Any]:
    """The JSON body for one request. Greedy sends neutral sampling values; with `extra_sampling` also vLLM/
    SGLang's top_k and repetition_penalty, always explicit (else vLLM applies the checkpoint's defaults)."""
    gen = request.gen
    sampling = gen.do_sample and gen.temperature > 0
    body: dict[str, Any] = {"model": model_id, "messages": to_openai_messages(request.messages),
                            max_tokens_field: gen.max_new_tokens,
                            "temperature": gen.temperature if sampling else 0.0,
                            "top_p": gen.top_p if sampling else 1.0}
    top_k = gen.top_k if sampling and gen.top_k > 0 else -1
    if extra_sampling:
        body["top_k"] = top_k
        body["repetition_penalty"] = gen.repetition_penalty
    elif top_k != -1 or gen.repetition_penalty != 1.0:
        raise GeobenchError("openai backend: top_k and repetition_penalty need extra_sampling=true "
                            "(a vLLM/SGLang server); this request sets them")
    if gen.seed is not None:
        body["seed"] = gen.seed
    if gen.stop:
        body["stop"] = list(gen.stop)
    return body


def parse_completion(payload: bytes, server: str) -> Completion:
    """A chat-completion answer -> Completion; anything else is a one-line error naming the server."""
    try:
        obj = json.loads(payload)
        choice = obj["choices"][0]
        content = choice["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise GeobenchError(f"openai backend: unexpected response from {server} (not a chat completion): "
                            f"{one_line(payload.decode('utf-8', 'replace'), 120)}") from None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    usage = obj.get("usage") or {}
    n_tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return Completion(text=content or "", n_tokens=int(n_tokens or 0),
                      finish_reason="length" if choice.get("finish_reason") == "length" else "stop")


def model_entries(payload: bytes) -> list[dict] | None:
    """The `data` list of a GET /models answer, or None if it is not one."""
    try:
        data = json.loads(payload).get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return [e for e in data if isinstance(e, dict)]
