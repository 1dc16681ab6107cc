"""`geobench lm-eval export TASKS DIR`: geobench tasks as lm-eval YAML tasks, scored by geobench itself.

Per task `geobench_<task>.yaml` + `.jsonl` (one row per doc: the prompt with `<image>` placeholders and the
image paths), plus one `geobench_utils.py` whose `process_results` / `aggregate` call back into the installed
geobench (`Task.score`, `Task.aggregate`), so lm-eval reports exactly geobench's numbers. Only tasks whose
chats are one user message can be exported. Checked in tests/test_lmeval_interop.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from geobench import messages, plugin_manager
from geobench.api import ImageRef, Task
from geobench.args import parse_kv
from geobench.atomic import atomic_write
from geobench.errors import GeobenchError
from geobench.plugins.lmeval.convert import chat_to_lm_eval, lm_eval_gen_kwargs
from geobench.selection import select_tasks

UTILS_MODULE = "geobench_utils"
PREFIX = "geobench_"

UTILS_SOURCE = '''"""Written by `geobench lm-eval export`: lm-eval hooks that call back into geobench.

lm-eval scores these tasks with geobench's own `Task.score` (per sample) and `Task.aggregate` (per metric),
so the numbers are exactly geobench's. Needs geobench installed and the task's data where lm-eval runs.
"""

import functools
import math
import os


def doc_to_text(doc):
    return doc["prompt"]


def doc_to_image(doc):
    from PIL import Image

    return [Image.open(path).convert("RGB") for path in doc["images"]]


def doc_to_target(doc):
    return ""


@functools.cache
def _task(name, version, home, data):
    if home:
        os.environ.setdefault("GEOBENCH_HOME", home)
    if data:
        os.environ.setdefault("GEOBENCH_DATA", data)
    from geobench import plugin_manager

    task = plugin_manager.registry().task(name)
    if task.version != version:
        raise RuntimeError(f"geobench task {name!r} is version {task.version} here but was exported at version "
                           f"{version}: export it again with `geobench lm-eval export`")
    return task


@functools.cache
def _docs(name, version, home, data):
    return {d.id: d for d in _task(name, version, home, data).docs()}


def _key(doc):
    return doc["geobench_task"], doc["geobench_version"], doc["geobench_home"], doc["geobench_data"]


def process_results(doc, results):
    task = _task(*_key(doc))
    try:
        gdoc = _docs(*_key(doc))[doc["doc_id"]]
    except KeyError:
        raise RuntimeError(f"doc {doc['doc_id']!r} of geobench task {doc['geobench_task']!r} is not in its data "
                           "here; export again where lm-eval runs") from None
    sample = task.score(gdoc, results[0])
    return {m: {"key": list(_key(doc)), "metric": m, "sample": sample} for m in doc["metrics"]}


def aggregate(items):
    """One metric of geobench's `Task.aggregate` over every sample (each item names its metric)."""
    if not items:
        return math.nan
    task = _task(*items[0]["key"])
    return float(task.aggregate([it["sample"] for it in items]).get(items[0]["metric"], math.nan))
'''


def export(tasks: str | list, out_dir: str | os.PathLike, *, limit: int | None = None,
           gen_kwargs: str | dict | None = None, registry=None) -> list[Path]:
    """Write lm-eval task files for `tasks` (names, groups, 'all', or Task instances) into `out_dir`.

    Returns the YAML files written. The utils module is (re)written once per folder.
    """
    reg = registry or plugin_manager.registry()
    if limit is not None and limit < 1:
        raise GeobenchError(f"--limit must be >= 1, got {limit}")
    overrides = parse_kv(gen_kwargs, "--gen-kwargs")
    out = Path(out_dir).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".geobench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise GeobenchError(f"cannot write to {out}: {e.strerror or e}") from None
    written = []
    for task in select_tasks(reg, tasks):
        written.append(_export_task(task, out, limit, overrides, group=reg.group_of(task.name, task)))
    atomic_write(out / f"{UTILS_MODULE}.py", UTILS_SOURCE)
    return written


def _export_task(task: Task, out: Path, limit: int | None, overrides: dict, group: str) -> Path:
    gen = task.default_gen.updated(**overrides) if overrides else task.default_gen
    docs = list(task.docs(None, limit))
    if not docs:
        raise GeobenchError(f"task {task.name!r} has no documents")
    home = os.path.abspath(os.path.expanduser(os.environ.get("GEOBENCH_HOME") or "~/.cache/geobench"))
    data = os.environ.get("GEOBENCH_DATA") or ""
    rows, samples = [], []
    for doc in docs:
        chat = task.to_messages(doc)
        if len(chat) != 1 or chat[0]["role"] != "user":
            raise GeobenchError(f"task {task.name!r} cannot be exported: its prompts are not one user message "
                                "(lm-eval tasks take one prompt text)")
        refs = messages.images(chat)
        rows.append({"doc_id": doc.id, "prompt": chat_to_lm_eval(chat)[0]["content"],
                     "images": [_image_path(ref, out) for ref in refs]})
        samples.append(task.score(doc, ""))
    # The metrics a geobench run of these docs reports (per-question keys depend on the docs present).
    metrics = [k for k in task.aggregate(samples) if not k.endswith("_stderr")]
    key = {"geobench_task": task.name, "geobench_version": task.version, "geobench_home": home,
           "geobench_data": data, "metrics": metrics}
    name = f"{PREFIX}{task.name}"
    jsonl = out / f"{name}.jsonl"
    atomic_write(jsonl, "".join(json.dumps({**row, **key}, ensure_ascii=False) + "\n" for row in rows))
    yaml_path = out / f"{name}.yaml"
    atomic_write(yaml_path, _yaml(task, name, jsonl, gen, metrics, group))
    return yaml_path


def _image_path(ref: ImageRef, out: Path) -> str:
    if ref.path is not None:
        return os.path.abspath(ref.path)
    raw = ref.read_bytes()
    folder = out / "images"
    folder.mkdir(exist_ok=True)
    path = folder / hashlib.sha256(raw).hexdigest()
    if not path.exists():
        path.write_bytes(raw)
    return str(path)


def _yaml(task: Task, name: str, jsonl: Path, gen, metrics: list[str], group: str) -> str:
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    tags = [PREFIX.rstrip("_")] + ([f"{PREFIX}{group}"] if group else [])
    gk = lm_eval_gen_kwargs(gen)
    lines = [
        f"# Written by `geobench lm-eval export` from geobench task {task.name!r} version {task.version}.",
        "# Scored by geobench itself (geobench_utils.py). Run with --apply_chat_template.",
        f"task: {name}",
        f"tag: [{', '.join(tags)}]",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        f"    test: {q(str(jsonl))}",
        "test_split: test",
        "output_type: generate_until",
        f"doc_to_text: !function {UTILS_MODULE}.doc_to_text",
        f"doc_to_image: !function {UTILS_MODULE}.doc_to_image",
        f"doc_to_target: !function {UTILS_MODULE}.doc_to_target",
        f"process_results: !function {UTILS_MODULE}.process_results",
        "generation_kwargs:",
        *(f"  {k}: {q(v)}" for k, v in gk.items()),
        "metric_list:",
    ]
    for m in metrics:
        lines += [f"  - metric: {q(m)}", f"    aggregation: !function {UTILS_MODULE}.aggregate",
                  f"    higher_is_better: {q(bool(task.higher_is_better.get(m, _default_hib(m))))}"]
    lines += ["metadata:", f"  version: {q(task.version)}", f"  geobench_task: {q(task.name)}", ""]
    return "\n".join(lines)


def _default_hib(metric: str) -> bool:
    return not metric.endswith("_km")
