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


def parse_completion(obj: Any, server: str) -> Completion:
    """A decoded chat-completion answer -> Completion. Every field read is checked: anything else is a one-line
    error naming the server and the field, raised before the answer can be cached."""
    def bad(field: str, value: Any, expected: str) -> GeobenchError:
        if value is _ABSENT:
            return GeobenchError(f"openai backend: malformed completion from {server}: {field} is missing, "
                                 f"expected {expected}")
        shown = one_line(json.dumps(value, default=str)[:200], 80)
        return GeobenchError(f"openai backend: malformed completion from {server}: {field} is "
                             f"{_kind(value)} ({shown}), expected {expected}")

    if not isinstance(obj, dict):
        raise bad("the answer", obj, "a JSON object (a chat completion)")
    choices = obj.get("choices", _ABSENT)
    if not isinstance(choices, list) or not choices:
        raise bad("choices", choices, "a non-empty list")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise bad("choices[0]", choice, "an object")
    message = choice.get("message", _ABSENT)
    if not isinstance(message, dict):
        raise bad("choices[0].message", message, "an object")
    content = message.get("content")
    if isinstance(content, list):  # some servers return content parts
        if not all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in content):
            raise bad("choices[0].message.content", content, "a string or a list of text parts")
        content = "".join(p.get("text", "") for p in content)
    if content is not None and not isinstance(content, str):
        raise bad("choices[0].message.content", content, "a string")
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise bad("choices[0].finish_reason", finish, "a string")
    usage = obj.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise bad("usage", usage, "an object")
    n_tokens = (usage or {}).get("completion_tokens")
    if n_tokens is not None and (isinstance(n_tokens, bool) or not isinstance(n_tokens, int)
                                 or not 0 <= n_tokens <= MAX_TOKENS):
        raise bad("usage.completion_tokens", n_tokens, f"a whole number from 0 to {MAX_TOKENS}")
    return Completion(text=content or "", n_tokens=n_tokens or 0,
                      finish_reason="length" if finish == "length" else "stop")


_ABSENT = object()
MAX_TOKENS = 10 ** 9


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def model_entries(obj: Any) -> list[dict] | None:
    """The `data` list of a decoded GET /models answer, or None if it is not one."""
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list):
        return None
    return [e for e in data if isinstance(e, dict)]
