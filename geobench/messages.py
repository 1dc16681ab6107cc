"""The one walker over chat messages.

A geobench chat is a list of `{"role", "content"}` messages whose content is a string or a list of parts:
`{"type": "image", "image": ImageRef}` and `{"type": "text", "text": str}`. Every backend, exporter and
trainer that needs the chat in another shape (PIL images for transformers, data URLs for OpenAI, `<image>`
placeholders for lm-eval) rebuilds it here with `convert`, so the rules (order of images, unknown part types)
are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from geobench.errors import GeobenchError


def parts(messages: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(message, part) for every content part, in order; a string content is one text part."""
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            yield m, {"type": "text", "text": content}
        elif isinstance(content, list | tuple):
            for c in content:
                yield m, c


def images(messages: list[dict]) -> list[Any]:
    """Every image of a chat (ImageRefs, or whatever the image parts hold), in order."""
    return [c["image"] for _, c in parts(messages) if isinstance(c, dict) and c.get("type") == "image"]


def text_length(messages: list[dict]) -> int:
    """Characters of text in a chat (a cheap cost estimate for sorting batches)."""
    return sum(len(c.get("text") or "") for _, c in parts(messages) if isinstance(c, dict))


def content_text(content: Any) -> str:
    """The text of one message content: a string as is, a list of parts -> its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return "".join(c.get("text") or "" for c in content if isinstance(c, dict) and c.get("type", "text") == "text")
    return ""


def convert(messages: list[dict], image: Callable[[Any, int], Any] | None = None,
            text: Callable[[str], Any] | None = None, *, keep_strings: bool = True,
            where: str = "this backend") -> list[dict]:
    """The chat rebuilt part by part: `image(ref, k)` and `text(s)` return each new part (default: unchanged).

    `k` counts images in order. A string content stays a string unless `keep_strings` is False (then it becomes
    one text part). A part of another type is a one-line error naming `where`. Messages keep only role and
    content.
    """
    out, k = [], 0
    for m in messages:
        content = m["content"]
        if isinstance(content, str) and keep_strings:
            out.append({"role": m["role"], "content": content})
            continue
        new = []
        for c in ([{"type": "text", "text": content}] if isinstance(content, str) else content):
            kind = c.get("type")
            if kind == "image":
                new.append(image(c["image"], k) if image else c)
                k += 1
            elif kind == "text":
                new.append(text(c["text"]) if text else c)
            else:
                raise GeobenchError(f"{where}: content part type {kind!r} is not supported (only 'image' and 'text')")
        out.append({"role": m["role"], "content": new})
    return out


def with_images(messages: list[dict], decoded: list) -> list[dict]:
    """The chat with each image part's ImageRef replaced, in order, by `decoded[k]` (e.g. a PIL image)."""
    if len(decoded) != len(images(messages)):
        raise ValueError(f"{len(decoded)} images for {len(images(messages))} image parts")
    return convert(messages, image=lambda _ref, k: {"type": "image", "image": decoded[k]})
