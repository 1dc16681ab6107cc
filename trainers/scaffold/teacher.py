"""The teacher source: any geobench backend writes the reasoning, shown the task's prompt plus a hint with the
true answer (Geo-R1 does not publish its teacher or prompt; `TEACHER_HINT` is ours). The hint is never part of
the training prompt. Deterministic requests go through the response cache, so a killed run resumes.
"""

from __future__ import annotations

import sys
from typing import Any

from geobench import plugin_manager
from geobench.api import Backend, GenConfig, Request, ScaffoldItem, Task
from geobench.args import parse_kv
from geobench.cache import ResponseCache, fingerprint_text, prompt_hash, request_key
from geobench.errors import GeobenchError
from geobench.evaluator import load_backend

TEACHER_HINT = (
    "Hint, for writing a worked example: the correct answer is {answer}. Write the reasoning that reaches this "
    "answer from what the image(s) show, in this order: visual cues in the ground-level photo; cross-view evidence "
    "(compare with the satellite images, or with what the place would look like from above); geographic knowledge "
    "(climate zone, country, region); then the answer. Do not mention the hint. Output the thinking process in "
    "<think> </think> tags and then the final answer in <answer> </answer> tags.")
TEACHER_GEN = GenConfig(max_new_tokens=1024)


def resolve_teacher(teacher: Any, registry=None) -> Backend:
    """A Backend from a Backend, a dict {"model", "backend" (default hf), "args"}, or a model string."""
    if teacher is None or isinstance(teacher, Backend):
        return teacher
    if isinstance(teacher, str):
        teacher = {"model": teacher}
    if not isinstance(teacher, dict) or not teacher.get("model"):
        raise GeobenchError("teacher must be a Backend, a model string or a dict with 'model' (and 'backend', 'args')")
    reg = registry or plugin_manager.registry()
    return load_backend(reg, teacher["model"], teacher.get("backend") or "hf", teacher.get("batch_size", 1),
                        parse_kv(teacher.get("args"), "--teacher-args"))


def teacher_messages(task: Task, item: ScaffoldItem) -> list[dict]:
    """The task's own prompt with the answer hint appended to the user turn (the training prompt has no hint)."""
    messages = task.to_messages(item.doc)
    last = messages[-1]
    content = list(last["content"]) if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
    content.append({"type": "text", "text": "\n" + TEACHER_HINT.format(answer=item.hint)})
    return [*messages[:-1], {**last, "content": content}]


def teacher_texts(task: Task, items: list[ScaffoldItem], backend: Backend, gen: GenConfig, use_cache: bool = True,
                  progress: bool = False) -> list[str]:
    """The teacher's completion per item; deterministic requests go through the response cache (resume)."""
    requests = [Request(task=task.name, doc_id=it.doc.id, messages=teacher_messages(task, it), gen=gen) for it in items]
    fp = backend.fingerprint()
    cache = ResponseCache() if use_cache and fp is not None and gen.deterministic else None
    texts: list[str | None] = [None] * len(items)
    try:
        if cache is not None:
            fp_text = fingerprint_text(fp)
            for r in requests:
                r.key = request_key(fp_text, f"scaffold-teacher/{task.version}", r, prompt_hash(r))
            hits = cache.get_many([r.key for r in requests])
            for i, r in enumerate(requests):
                if r.key in hits:
                    texts[i] = hits[r.key].text
        todo = [i for i, t in enumerate(texts) if t is None]
        if todo:
            pending = [requests[i] for i in todo]
            for n, (j, completion) in enumerate(backend.generate(pending), 1):
                texts[todo[j]] = completion.text
                if cache is not None:
                    cache.put(pending[j].key, completion)
                if progress and n % 50 == 0:
                    print(f"teacher: {n}/{len(pending)}", file=sys.stderr, flush=True)
    finally:
        if cache is not None:
            cache.close()
    return [t or "" for t in texts]
