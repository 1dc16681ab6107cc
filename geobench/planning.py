"""From tasks to requests, and from completions back to per-sample records.

`plan_task` builds every request of a task before any model loads (so data errors surface in seconds):
docs, chat messages (with the preset's prompt suffix and the run's prompt overrides), generation settings, prompt hashes. `check_images`
decodes each image about to be generated on once. `record` scores one completion into the samples-file row.
Task methods run through `call_task`, so a bug in a task plugin is one line naming the task and its plugin.
"""

from __future__ import annotations

import contextlib
import dataclasses

from geobench import data
from geobench.api import Completion, Request, Task
from geobench.cache import prompt_hash
from geobench.errors import GeobenchError
from geobench.messages import PromptOverride
from geobench.plugin_manager import Registry
from geobench.presets import with_suffix

ON_ERROR = ("raise", "skip")


@dataclasses.dataclass
class Plan:
    """One task's docs and requests, in doc order, with what was skipped."""

    task: Task
    docs: list
    requests: list[Request]
    prompt_shas: list[str]
    index: dict[str, int]
    skipped: data.Skipped | None = None

    def drop(self, doc_ids: set[str]) -> None:
        """Leave out skipped docs (bad images found after planning)."""
        keep = [j for j, d in enumerate(self.docs) if d.id not in doc_ids]
        self.docs = [self.docs[j] for j in keep]
        self.requests = [self.requests[j] for j in keep]
        self.prompt_shas = [self.prompt_shas[j] for j in keep]
        self.index = {d.id: j for j, d in enumerate(self.docs)}


def collecting(on_error: str):
    """Count bad samples (on_error='skip'), or let the first one raise."""
    return data.collecting_skips() if on_error == "skip" else contextlib.nullcontext(None)


def reasons(counts) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def plan_task(reg: Registry, task: Task, limit: int | None, gen_overrides: dict, on_error: str = "raise",
              suffix: str = "", prompt: PromptOverride | None = None) -> Plan:
    """Every request of `task`: its chat (the preset's `suffix`, then the run's `prompt` overrides, if any),
    generation settings and prompt hash."""
    gen = task.default_gen.updated(**gen_overrides) if gen_overrides else task.default_gen
    with collecting(on_error) as skipped:
        all_docs = call_task(reg, task, "docs", None, limit)
        docs, requests, shas, index = [], [], [], {}
        for doc in all_docs:
            try:
                if doc.id in index:
                    raise data.DataError(f"task {task.name!r}: duplicated doc id {doc.id!r}", "duplicated id")
                chat = with_suffix(call_task(reg, task, "to_messages", doc), suffix)
                req = Request(task.name, doc.id, prompt.apply(chat) if prompt else chat, gen)
                sha = prompt_hash(req)  # reads every image's bytes: a missing image is found here
            except data.DataError as e:
                data.skip(e)
                continue
            index[doc.id] = len(docs)
            docs.append(doc)
            requests.append(req)
            shas.append(sha)
    if not docs:
        why = f" (all {sum(skipped.counts.values())} skipped: {reasons(skipped.counts)})" if skipped and \
            skipped.counts else ""
        raise GeobenchError(f"task {task.name!r} has no documents{why}", hint="check its data path")
    return Plan(task, docs, requests, shas, index, skipped)


def check_images(pending: list[Request], by_task: dict[str, Plan], on_error: str,
                 dropped: dict[str, dict[str, data.DataError]] | None = None) -> list[Request]:
    """Decode every image of `pending` once; bad ones raise, or with on_error='skip' drop their doc (and, when
    `dropped` is given, are recorded there as {task: {doc_id: error}}: a data-parallel rank reports them)."""
    bad: dict[str, set[str]] = {}
    seen: dict[str, data.DataError | None] = {}  # a file shared by many docs (a cross-view tile) is decoded once
    for req in pending:
        for ref in req.images:
            key = str(ref.path) if getattr(ref, "path", None) else None
            try:
                if key is None or key not in seen:
                    try:
                        ref.open()
                    except data.DataError as e:
                        if key is not None:
                            seen[key] = e
                        raise
                    if key is not None:
                        seen[key] = None
                elif seen[key] is not None:
                    raise seen[key]
            except data.DataError as e:
                if on_error != "skip":
                    raise
                by_task[req.task].skipped.add(e)
                bad.setdefault(req.task, set()).add(req.doc_id)
                if dropped is not None:
                    dropped.setdefault(req.task, {})[req.doc_id] = e
                break
    for task, ids in bad.items():
        by_task[task].drop(ids)
        if not by_task[task].docs:
            raise GeobenchError(f"task {task!r} has no documents left: all skipped "
                                f"({reasons(by_task[task].skipped.counts)})")
    return [r for r in pending if r.doc_id not in bad.get(r.task, ())]


def call_task(reg: Registry, task: Task, method: str, *args):
    """Call a task's method; a bug in it (not a GeobenchError) is one line naming the task and its plugin."""
    try:
        result = getattr(task, method)(*args)
        return list(result) if method == "docs" else result
    except GeobenchError:
        raise
    except Exception as e:  # noqa: BLE001 - a plugin's bug becomes one line naming it
        owner = reg.owner.get(("task", task.name))
        by = f" (plugin {owner!r})" if owner else ""
        raise GeobenchError(f"task {task.name!r}{by} failed in {method}(): {type(e).__name__}: {e}") from e


def record(reg: Registry, plan: Plan, j: int, completion: Completion) -> dict:
    """The samples-file row of doc `j`: its completion, parsed answer and per-sample metrics."""
    doc = plan.docs[j]
    metrics = call_task(reg, plan.task, "score", doc, completion.text)
    return {"doc_id": doc.id, "prompt_hash": plan.prompt_shas[j], "completion": completion.text,
            "parsed": call_task(reg, plan.task, "extract", doc, completion.text), "metrics": metrics,
            "n_tokens": completion.n_tokens, "finish_reason": completion.finish_reason}
