"""geobench requests -> lm-eval requests: the chat as lm-eval chat history (`<image>` where each image was)
and a GenConfig as `generate_until` kwargs. Shared by the backend and the task exporter."""

from __future__ import annotations

from typing import Any

from geobench import messages
from geobench.api import GenConfig
from geobench.errors import GeobenchError

PLACEHOLDER = "<image>"  # lm-eval's DEFAULT_IMAGE_PLACEHOLDER


def _text(text: str) -> str:
    if PLACEHOLDER in text:
        raise GeobenchError(f"a prompt contains the literal text {PLACEHOLDER!r}, which lm-eval "
                            "reads as an image placeholder; the lm-eval backend cannot send it")
    return text


def chat_to_lm_eval(chat: list[dict]) -> list[dict[str, str]]:
    """geobench chat -> lm-eval chat history: string contents with `<image>` where each image was."""
    out = messages.convert(chat, image=lambda _ref, _k: PLACEHOLDER, text=_text, where="the lm-eval backend")
    return [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else "".join(m["content"])}
            for m in out]


def lm_eval_gen_kwargs(gen: GenConfig) -> dict[str, Any]:
    """GenConfig -> lm-eval `generate_until` kwargs (neutral sampling values are left out)."""
    sampling = gen.do_sample and gen.temperature > 0
    kw: dict[str, Any] = {"until": list(gen.stop), "max_gen_toks": gen.max_new_tokens, "do_sample": sampling,
                          "temperature": gen.temperature if sampling else 0.0}
    if sampling and gen.top_p < 1:
        kw["top_p"] = gen.top_p
    if sampling and gen.top_k > 0:
        kw["top_k"] = gen.top_k
    if gen.repetition_penalty != 1:
        kw["repetition_penalty"] = gen.repetition_penalty
    return kw
