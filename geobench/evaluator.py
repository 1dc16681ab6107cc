"""tasks x backend -> requests -> (cache) -> completions -> scores -> aggregates -> results files.

The whole list of uncached requests, across all tasks, goes to the backend in one call; the backend batches
it and yields completions as they finish. Each one is cached (the resume journal), scored and appended to the
task's samples journal straight away, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import random
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from geobench import data
from geobench import plugin_manager as plugins
from geobench.api import Backend, GenConfig, Request, Task, mean_with_stderr
from geobench.args import batch_size as parse_batch_size
from geobench.args import parse_kv
from geobench.cache import ResponseCache, fingerprint_text, prompt_hash, request_key
from geobench.errors import GeobenchError
from geobench.presets import find as find_preset
from geobench.presets import with_suffix
from geobench.results import RunInfo, SamplesJournal, check_output_dir, rebuild_tables, write_run
from geobench.selection import make_task, parse_task_args, select_tasks  # noqa: F401 - public here too

ENV_PACKAGES = ("geobench", "torch", "transformers", "trl", "vllm", "pillow", "numpy", "pluggy", "lm-eval")
ON_ERROR = ("raise", "skip")


# -------------------------------------------------------------------------------------------- backends


def resolve_model(reg: plugins.Registry, model: str) -> str:
    """A registered model name (e.g. 'tiny') becomes its local folder; anything else passes through."""
    if model in reg.models:
        resolve, _ = reg.model(model)
        return str(resolve())
    return model


def load_backend(reg: plugins.Registry, model: str, backend: str, batch_size, model_args: dict) -> Backend:
    cls = reg.backend(backend)
    if "batch_size" in model_args:  # lm-eval habit: --model-args ...,batch_size=8 wins over --batch-size
        model_args = dict(model_args)
        batch_size = parse_batch_size(model_args.pop("batch_size"))
    if getattr(cls, "loads_weights", False):
        model = resolve_model(reg, model)
    return cls(model, batch_size=batch_size, **model_args)


def checkpoint_step_of(model: str) -> int | None:
    m = re.search(r"checkpoint-(\d+)/?$", str(model))
    return int(m.group(1)) if m else None


# ------------------------------------------------------------------------------------------ evaluation


def evaluate(
    model: str | Backend,
    tasks: str | list[str | Task] = "all",
    *,
    backend: str = "hf",
    model_args: str | dict | None = None,
    batch_size: int | str = 1,
    gen_kwargs: str | dict | None = None,
    limit: int | None = None,
    seed: int | None = None,
    output: str | Path | None = "results",
    run_name: str | None = None,
    use_cache: bool = True,
    cache_path: str | Path | None = None,
    checkpoint_step: int | None = None,
    model_name: str | None = None,
    progress: bool = True,
    on_error: str = "raise",
    task_args: str | dict | None = None,
    preset: str | None = None,
    registry: plugins.Registry | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on `tasks` and return the results dict (lm-eval's schema plus geobench fields).

    `model` is a hub id, a local folder, a registered name such as 'tiny', or an already-built Backend
    (e.g. `HFBackend.from_loaded(model, processor)` inside a trainer). With `output=None` nothing is written.
    `on_error="skip"` leaves out samples with bad data (a corrupt image, a bad row), counted per reason in
    `results["skipped"]`; the default stops at the first with one line naming the file. `task_args` configures
    tasks ({task: {key: value}}, or 'k=v,...' when one task is named). `preset` applies a registered model
    preset to any model ('none': no preset; default: the preset registered under `model`'s name, if any).
    """
    reg = registry or plugins.registry()
    if limit is not None and limit < 1:
        raise GeobenchError(f"--limit must be >= 1, got {limit}")
    if on_error not in ON_ERROR:
        raise GeobenchError(f"bad --on-error {on_error!r}: expected {' or '.join(ON_ERROR)}")
    task_list = select_tasks(reg, tasks, parse_task_args(task_args, tasks))
    if not isinstance(model, Backend):
        reg.backend(backend)  # an unknown backend fails now, before any data is read or built
    gen_overrides = parse_kv(gen_kwargs, "--gen-kwargs")
    margs = parse_kv(model_args, "--model-args")
    batch_size = parse_batch_size(batch_size)
    preset_name, chosen = _choose_preset(reg, model, preset)
    if chosen is not None:
        gen_overrides = {**chosen.gen_kwargs, **gen_overrides}  # the user's settings win
        if not isinstance(model, Backend) and getattr(reg.backend(backend), "loads_weights", False):
            margs = {**chosen.model_args, **margs}
    out = check_output_dir(output) if output is not None else None
    if seed is not None:
        random.seed(seed)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(seed)
        if "seed" not in gen_overrides:
            gen_overrides["seed"] = seed
    started = time.time()
    date = dt.datetime.now(dt.UTC)

    # Build every request before the model is loaded: data errors surface in seconds, not minutes.
    suffix = chosen.prompt_suffix if chosen is not None else ""
    plans = [_plan(reg, task, limit, gen_overrides, on_error, suffix) for task in task_list]

    be = model if isinstance(model, Backend) else load_backend(reg, model, backend, batch_size, margs)
    display = model_name or (model if isinstance(model, str) else getattr(be, "model_id", type(be).__name__))
    fingerprint = be.fingerprint()
    cache = ResponseCache(cache_path) if use_cache and fingerprint is not None else None

    completions: dict[tuple[str, str], Any] = {}
    per_sample: dict[tuple[str, str], dict] = {}
    pending: list[Request] = []
    fp_text = fingerprint_text(fingerprint) if cache is not None else ""
    try:
        for plan in plans:
            for req, sha in zip(plan.requests, plan.prompt_shas, strict=True):
                if cache is not None and req.gen.deterministic:
                    req.key = request_key(fp_text, plan.task.version, req, sha)
            hits = cache.get_many([r.key for r in plan.requests if r.key]) if cache is not None else {}
            for req in plan.requests:
                if req.key and req.key in hits:
                    completions[(req.task, req.doc_id)] = hits[req.key]
                else:
                    pending.append(req)
        by_task = {p.task.name: p for p in plans}
        # Every image about to be generated on is decoded once now: a bad one stops (or is skipped) before
        # the model loads, never halfway through a run. Cached samples were decoded when they were generated.
        pending = _check_images(pending, by_task, on_error)
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    run_dir = _make_run_dir(out, run_name, display) if out is not None else None
    journals = {p.task.name: SamplesJournal(run_dir, p.task.name) for p in plans} if run_dir else {}

    gen_started = time.time()
    new_tokens = 0
    try:
        if pending:
            for i, completion in _progress(be.generate(pending), len(pending), "generating", progress):
                req = pending[i]
                if cache is not None and req.key:
                    cache.put(req.key, completion)
                completions[(req.task, req.doc_id)] = completion
                new_tokens += completion.n_tokens
                plan = by_task[req.task]
                record = _record(reg, plan, plan.index[req.doc_id], completion)
                per_sample[(req.task, req.doc_id)] = record
                if req.task in journals:
                    journals[req.task].append(record)
        gen_seconds = time.time() - gen_started
        total_docs = sum(len(p.docs) for p in plans)
        with _progress_bar(total_docs, "scoring", progress) as bar:
            for plan in plans:
                for j, doc in enumerate(plan.docs):
                    key = (plan.task.name, doc.id)
                    if key not in per_sample:
                        per_sample[key] = _record(reg, plan, j, completions[key])
                    bar.update(1)
    finally:
        for j in journals.values():
            j.close()
        if cache is not None:
            cache.close()

    results = _assemble(reg, plans, per_sample, be, display, fingerprint, dict(
        model_args=margs, batch_size=batch_size, gen_overrides=gen_overrides, limit=limit, seed=seed,
        use_cache=cache is not None, checkpoint_step=checkpoint_step if checkpoint_step is not None
        else checkpoint_step_of(display), on_error=on_error, preset=preset_name,
        preset_settings=chosen.describe() if chosen is not None else None))
    wall = time.time() - started
    n_docs = sum(len(p.docs) for p in plans)
    results["timing"] = {
        "wall_seconds": wall, "generation_seconds": gen_seconds, "samples_per_second": n_docs / wall if wall else 0.0,
        "generated_tokens": new_tokens, "generated_tokens_per_second": new_tokens / gen_seconds if gen_seconds else 0.0,
        "generated_samples": len(pending), "cache_hits": n_docs - len(pending),
    }
    results["date"] = date.timestamp()
    results["start_time"], results["end_time"] = started, time.time()
    results["total_evaluation_time_seconds"] = str(wall)

    if run_dir is not None:
        for plan in plans:
            journals[plan.task.name].finish([per_sample[(plan.task.name, d.id)] for d in plan.docs])
        write_run(run_dir, results)
        rebuild_tables(out)
        results["run_dir"] = str(run_dir)
        run = RunInfo(folder=run_dir, results=results)
        reg.call_hook("geobench_results_written", run=run)
    if progress:
        for line in summary_lines(results):
            print(line, file=sys.stderr)
    return results


def _choose_preset(reg: plugins.Registry, model, preset: str | None):
    """(name, ModelPreset) to apply, or (None, None): the one named by `preset`, else the one registered
    under the model's name; preset='none' turns presets off."""
    if preset is not None and str(preset).strip().lower() in ("", "none", "off"):
        return None, None
    if preset is not None:
        return reg.preset(str(preset))
    name = find_preset(reg.presets, model) if isinstance(model, str) else None
    return (name, reg.presets[name]) if name else (None, None)


@dataclasses.dataclass
class _Plan:
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


def _collecting(on_error: str):
    """Count bad samples (on_error='skip'), or let the first one raise."""
    return data.collecting_skips() if on_error == "skip" else contextlib.nullcontext(None)


def _plan(reg: plugins.Registry, task: Task, limit: int | None, gen_overrides: dict, on_error: str = "raise",
          suffix: str = "") -> _Plan:
    gen = task.default_gen.updated(**gen_overrides) if gen_overrides else task.default_gen
    with _collecting(on_error) as skipped:
        all_docs = _call(reg, task, "docs", None, limit)
        docs, requests, shas, index = [], [], [], {}
        for doc in all_docs:
            try:
                if doc.id in index:
                    raise data.DataError(f"task {task.name!r}: duplicated doc id {doc.id!r}", "duplicated id")
                req = Request(task.name, doc.id, with_suffix(_call(reg, task, "to_messages", doc), suffix), gen)
                sha = prompt_hash(req)  # reads every image's bytes: a missing image is found here
            except data.DataError as e:
                data.skip(e)
                continue
            index[doc.id] = len(docs)
            docs.append(doc)
            requests.append(req)
            shas.append(sha)
    if not docs:
        why = f" (all {sum(skipped.counts.values())} skipped: {_reasons(skipped.counts)})" if skipped and \
            skipped.counts else ""
        raise GeobenchError(f"task {task.name!r} has no documents{why}", hint="check its data path")
    return _Plan(task, docs, requests, shas, index, skipped)


def _check_images(pending: list[Request], by_task: dict[str, _Plan], on_error: str) -> list[Request]:
    """Decode every image of `pending` once; bad ones raise, or with on_error='skip' drop their doc."""
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
                break
    for task, ids in bad.items():
        by_task[task].drop(ids)
        if not by_task[task].docs:
            raise GeobenchError(f"task {task!r} has no documents left: all skipped "
                                f"({_reasons(by_task[task].skipped.counts)})")
    return [r for r in pending if r.doc_id not in bad.get(r.task, ())]


def _reasons(counts) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _call(reg: plugins.Registry, task: Task, method: str, *args):
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


def _record(reg: plugins.Registry, plan: _Plan, j: int, completion) -> dict:
    doc = plan.docs[j]
    metrics = _call(reg, plan.task, "score", doc, completion.text)
    return {"doc_id": doc.id, "prompt_hash": plan.prompt_shas[j], "completion": completion.text,
            "parsed": _call(reg, plan.task, "extract", doc, completion.text), "metrics": metrics,
            "n_tokens": completion.n_tokens, "finish_reason": completion.finish_reason}


def _assemble(reg, plans, per_sample, be: Backend, display: str, fingerprint, cfg: dict) -> dict[str, Any]:
    results: dict[str, Any] = {"results": {}, "groups": {}, "group_subtasks": {}, "configs": {}, "versions": {},
                               "n-shot": {}, "higher_is_better": {}, "n-samples": {}, "task_hashes": {}}
    if cfg["on_error"] == "skip":  # bad samples left out, per task and reason
        results["skipped"] = {p.task.name: dict(p.skipped.counts) for p in plans}
        results["skipped_examples"] = {p.task.name: dict(p.skipped.examples) for p in plans if p.skipped.counts}
    groups: dict[str, list[str]] = {}
    for plan in plans:
        name = plan.task.name
        records = [per_sample[(name, d.id)] for d in plan.docs]
        agg = _call(reg, plan.task, "aggregate", [r["metrics"] for r in records])
        truncated = sum(r["finish_reason"] == "length" for r in records)
        entry: dict[str, Any] = {"alias": name}
        for k, v in agg.items():
            entry[f"{k},none"] = v
        entry["truncated,none"] = truncated
        results["results"][name] = entry
        results["configs"][name] = plan.task.config()
        results["versions"][name] = plan.task.version
        results["n-shot"][name] = 0
        results["higher_is_better"][name] = dict(plan.task.higher_is_better)
        n_skipped = sum(plan.skipped.counts.values()) if plan.skipped else 0
        results["n-samples"][name] = {"original": len(plan.docs) + n_skipped, "effective": len(plan.docs)}
        h = hashlib.sha256()
        for d, sha in zip(plan.docs, plan.prompt_shas, strict=True):
            h.update(f"{d.id}\0{sha}\n".encode())
        results["task_hashes"][name] = h.hexdigest()
        if plan.task.group:
            groups.setdefault(plan.task.group, []).append(name)
    results["group_subtasks"] = groups
    by_name = {plan.task.name: plan for plan in plans}
    results["groups"] = {g: group_aggregate({t: [per_sample[(t, d.id)]["metrics"] for d in by_name[t].docs]
                                             for t in members}) for g, members in groups.items()}
    described = be.describe()
    results["config"] = {
        "model": display, "backend": getattr(be, "name", ""), "model_args": cfg["model_args"],
        "model_fingerprint": fingerprint, "batch_size": described.get("batch_size", cfg["batch_size"]),
        "batch_sizes": described.get("batch_sizes", []), "device": described.get("device"),
        "gen_kwargs": cfg["gen_overrides"], "limit": cfg["limit"], "random_seed": cfg["seed"],
        "use_cache": cfg["use_cache"], "checkpoint_step": cfg["checkpoint_step"], "backend_config": described,
        "on_error": cfg["on_error"], "preset": cfg["preset"], "preset_settings": cfg["preset_settings"],
    }
    results["model_name"] = display
    results["model_source"] = getattr(be, "name", "")
    results["git_hash"] = _git_hash()
    results["versions_env"] = dict(_env_versions())
    results["geobench_version"] = results["versions_env"].get("geobench")
    return results


def group_aggregate(per_sample_by_task: dict[str, list[dict]]) -> dict[str, Any]:
    """A group's row: each per-sample metric pooled over every sample of the member tasks that has it (what
    one big task would give: weighted by real counts, so per-question metrics stay per-question). Dataset-level
    metrics (medians, macro averages) are not per-sample and so are not pooled."""
    pooled = mean_with_stderr([m for records in per_sample_by_task.values() for m in records])
    out: dict[str, Any] = {"alias": ", ".join(per_sample_by_task)}
    out.update({f"{k},none": v for k, v in pooled.items()})
    return out


def summary_lines(results: dict) -> list[str]:
    lines = []
    for task, metrics in results["results"].items():
        shown = [f"{k.split(',')[0]}={v:.4g}" for k, v in metrics.items()
                 if "," in k and "_stderr" not in k and isinstance(v, int | float)][:6]
        n = results["n-samples"][task]["effective"]
        lines.append(f"{task}: {' '.join(shown)} (n={n})")
        skipped = results.get("skipped", {}).get(task)
        if skipped:
            examples = results.get("skipped_examples", {}).get(task, {})
            lines.append(f"warning: {task}: skipped {sum(skipped.values())} sample(s) with bad data: "
                         + "; ".join(f"{reason}: {n} (first: {examples.get(reason, '?')})"
                                     for reason, n in sorted(skipped.items())))
        cut = metrics.get("truncated,none") or 0
        if cut:
            lines.append(f"warning: {task}: {cut} of {n} completions hit max_new_tokens and were cut off; "
                         "raise it with --gen-kwargs max_new_tokens=N if the model reasons at length")
    t = results.get("timing", {})
    if t:
        lines.append(f"{t['wall_seconds']:.1f} s, {t['samples_per_second']:.2f} samples/s, "
                     f"{t['generated_samples']} generated, {t['cache_hits']} from cache"
                     + (f" -> {results['run_dir']}" if "run_dir" in results else ""))
    return lines


def _make_run_dir(out: Path, run_name: str | None, display: str) -> Path:
    if run_name:
        if "/" in run_name or run_name.startswith("."):
            raise GeobenchError(f"bad --run-name {run_name!r}: use a plain folder name")
        folder = out / run_name
        if (folder / "results.json").exists():
            raise GeobenchError(f"run folder {folder} already holds a finished run",
                                hint="choose another --run-name or delete the folder")
        folder.mkdir(parents=True, exist_ok=True)  # a killed run's folder is reused: its journals are rewritten
        return folder
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(display).strip("/")).strip("_")[-60:] or "model"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = out / (f"{slug}__{stamp}" + (f"-{n}" if n else ""))
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise GeobenchError(f"cannot create a run folder under {out}")


@functools.cache
def _git_hash() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=5, cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def _env_versions() -> dict[str, str]:
    """Package versions for the results (cached: nine metadata lookups cost ~5 ms per evaluate)."""
    out = {}
    for pkg in ENV_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _progress(iterator, total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    yield from tqdm(iterator, total=total, desc=desc, unit="sample", file=sys.stderr, disable=not enabled,
                    dynamic_ncols=True)


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, disable=not enabled, dynamic_ncols=True)


__all__ = ["evaluate", "GenConfig", "parse_kv", "select_tasks"]
