"""The one walker over chat messages.

A geobench chat is a list of `{"role", "content"}` messages whose content is a string or a list of parts:
`{"type": "image", "image": ImageRef}` and `{"type": "text", "text": str}`. Every backend, exporter and
trainer that needs the chat in another shape (PIL images for transformers, data URLs for OpenAI, `<image>`
placeholders for lm-eval) rebuilds it here with `convert`, so the rules (order of images, unknown part types)
are written once. A run's prompt overrides (`--system-prompt`, `--prompt-template`) are applied here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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


# ----------------------------------------------------------------------------------------- prompt overrides

PROMPT, QUESTION = "{prompt}", "{question}"  # a prompt template's placeholders (see docs/cli.md)


@dataclass(frozen=True)
class PromptOverride:
    """A run's own prompt: a system message, and a template for the task's prompt text.

    The template is applied to the last text of the last user turn (where a task puts its question and answer
    instructions; the images and their labels stay as the task wrote them). `{prompt}` is that text as the task
    (and preset) wrote it; `{question}` is the same without Geo-R1's think/answer instruction, so a template can
    word the answer format itself. Other braces are kept as they are. Unset (None), the chat is unchanged, so
    default prompts and cache keys stay what they were.
    """

    system: str | None = None
    template: str | None = None

    def __post_init__(self):
        if self.template is not None and PROMPT not in self.template and QUESTION not in self.template:
            raise GeobenchError(f"the prompt template has neither {PROMPT} nor {QUESTION}: "
                                f"{self.template[:60]!r}", hint="a file is read when it exists or with @FILE")

    def __bool__(self) -> bool:
        return self.system is not None or self.template is not None

    def record(self) -> dict:
        """What results.json records under config (only what is set)."""
        return {k: v for k, v in (("system_prompt", self.system), ("prompt_template", self.template)) if v is not None}

    def apply(self, messages: list[dict]) -> list[dict]:
        out = [dict(m) for m in messages]
        if self.template is not None:
            _template_last_text(out, self.template)
        if self.system is not None:
            if out and out[0].get("role") == "system":
                out[0]["content"] = self.system
            else:
                out.insert(0, {"role": "system", "content": self.system})
        return out


def _template_last_text(messages: list[dict], template: str) -> None:
    from geobench.parse import THINK_ANSWER

    def fill(text: str) -> str:
        question = text.replace(THINK_ANSWER, "").strip()
        return template.replace(PROMPT, text).replace(QUESTION, question)

    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        content = m["content"]
        if isinstance(content, str):
            m["content"] = fill(content)
            return
        parts = list(content)
        for i in range(len(parts) - 1, -1, -1):
            if isinstance(parts[i], dict) and parts[i].get("type") == "text":
                parts[i] = {**parts[i], "text": fill(parts[i]["text"])}
                m["content"] = parts
                return
        m["content"] = [*parts, {"type": "text", "text": fill("")}]
        return


def read_prompt(value: str | None, option: str, files: bool = False) -> str | None:
    """The text an option gives: `@path` is the file's text; with `files`, an existing path is too."""
    if value is None:
        return None
    path = Path(value[1:]) if value.startswith("@") else Path(value) if files and _is_file(value) else None
    if path is None:
        return value
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GeobenchError(f"{option}: cannot read {str(path)!r}: {getattr(e, 'strerror', None) or e}") from None


def _is_file(value: str) -> bool:
    try:
        return "\n" not in value and len(value) < 4096 and Path(value).is_file()
    except OSError:
        return False
