"""tasks x backend -> requests -> (cache) -> completions -> scores -> aggregates -> results files.

`evaluate` reads as its phases: select the tasks, resolve the model, plan every request (before any model
loads, so data errors surface in seconds), look each one up in the cache, generate the misses (the whole list
in one backend call; each completion is cached, scored and journalled as it arrives, so a killed run resumes
where it stopped), score the rest, assemble the results and write the run folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

from geobench import distributed, modelspec, planning
from geobench import plugin_manager as plugins
from geobench.api import Backend, GenConfig, Request
from geobench.args import batch_size as parse_batch_size
from geobench.args import parse_kv
from geobench.assemble import assemble, group_aggregate, summary_lines  # noqa: F401 - public here too
from geobench.cache import ResponseCache, fingerprint_text, request_key
from geobench.errors import GeobenchError
from geobench.messages import PromptOverride
from geobench.modelspec import ModelSpec, checkpoint_step_of  # noqa: F401 - public here too
from geobench.planning import ON_ERROR, Plan
from geobench.results import (
    RunInfo,
    SamplesJournal,
    check_output_dir,
    drop_run_dir,
    finished_run,
    make_run_dir,
    rebuild_tables,
    write_run,
)
from geobench.selection import make_task, parse_task_args, select_tasks  # noqa: F401 - public here too


def evaluate(
    model: str | Backend,
    tasks: str | list = "all",
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
    system_prompt: str | None = None,
    prompt_template: str | dict[str, str] | None = None,
    registry: plugins.Registry | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on `tasks` and return the results dict (lm-eval's schema plus geobench fields).

    `model` is a hub id, a local folder, a registered name such as 'tiny', or an already-built Backend
    (e.g. `HFBackend.from_loaded(model, processor)` inside a trainer). With `output=None` nothing is written.
    `on_error="skip"` leaves out samples with bad data (a corrupt image, a bad row), counted per reason in
    `results["skipped"]`; the default stops at the first with one line naming the file. `task_args` configures
    tasks ({task: {key: value}}, or 'k=v,...' when one task is named). `preset` applies a registered model
    preset to any model ('none': no preset; default: the preset registered under `model`'s name, if any).
    `system_prompt` adds (or replaces) a system message; `prompt_template` rewrites each task's prompt text
    (`{prompt}`: the task's text, `{question}`: the same without the think/answer instruction; a dict gives one
    per task). Both are recorded in results.json config and, being part of the chat, of the cache key; unset,
    prompts and cache keys are the defaults.
    """
    reg = registry or plugins.registry()
    _check(limit, on_error)
    task_list = select_tasks(reg, tasks, parse_task_args(task_args, tasks))
    spec = modelspec.resolve(reg, model, backend, preset=preset, model_name=model_name,
                             checkpoint_step=checkpoint_step)
    run = _settings(reg, spec, backend, model_args, batch_size, gen_kwargs, seed, limit, on_error)
    out = check_output_dir(output) if output is not None else None
    if out is not None and (done := finished_run(out, run_name)) is not None:
        return done  # a run killed between its results.json and the tables: the tables repaired (results.py)
    started, date = time.time(), dt.datetime.now(dt.UTC)
    prompts = _prompts(system_prompt, prompt_template, task_list)
    plans = [planning.plan_task(reg, t, limit, run.gen_overrides, on_error, spec.prompt_suffix, prompts.get(t.name))
             for t in task_list]
    w = distributed.world()
    margs = run.model_args if spec.backend is not None else \
        distributed.rank_model_args(reg.backend(backend), run.model_args, w)
    be = modelspec.build_backend(reg, spec, backend, run.batch_size, margs)  # cheap: weights load on first use
    fingerprint = be.fingerprint()
    cache = ResponseCache(cache_path) if use_cache and fingerprint is not None else None
    group = distributed.Group(w) if w.size > 1 else None
    progress = progress and w.is_main
    run_dir = None
    try:
        completions, pending = _lookup(cache, fingerprint, plans)
        run_dir = make_run_dir(out, run_name, spec.display) if out is not None and w.is_main else None
        if group is None:
            pending = planning.check_images(pending, {p.task.name: p for p in plans}, on_error)
            per_sample, gen = _generate(reg, be, plans, pending, completions, cache, run_dir, progress)
        else:
            per_sample, gen = _generate_shard(group, reg, be, plans, pending, completions, cache, run_dir,
                                              progress, on_error)
            if not w.is_main:
                return group.broadcast()  # rank 0's results, once it has merged and written them
    except BaseException:
        if run_dir is not None:
            drop_run_dir(run_dir)
        raise
    finally:
        if cache is not None:
            cache.close()
        if group is not None and not w.is_main:
            group.close()
    _score_cached(reg, plans, completions, per_sample, progress)
    results = assemble(reg, plans, per_sample, be, spec.display, fingerprint, run.record(spec, cache is not None))
    if w.size > 1:
        results["config"]["data_parallel"] = w.size  # processes that shared the generation
    results["config"].update(_prompt_record(system_prompt, prompt_template))  # only what is set
    if spec.pipeline_check:
        results["config"]["pipeline_check"] = True  # summary_lines: say what the numbers mean, no cut-off warnings
    _add_timing(results, plans, started, date, gen)
    if run_dir is not None:
        _write(reg, plans, per_sample, results, run_dir, out)
    if progress:
        for line in summary_lines(results):
            print(line, file=sys.stderr)
    if group is not None:
        group.broadcast(results)
        group.close()
    return results


# ---------------------------------------------------------------------------------------------- phases


def _check(limit: int | None, on_error: str) -> None:
    if limit is not None and limit < 1:
        raise GeobenchError(f"--limit must be >= 1, got {limit}")
    if on_error not in ON_ERROR:
        raise GeobenchError(f"bad --on-error {on_error!r}: expected {' or '.join(ON_ERROR)}")


@dataclasses.dataclass
class _Settings:
    """The run's parsed settings: what the backend gets and what results.json records."""

    model_args: dict
    batch_size: int | str
    gen_overrides: dict
    limit: int | None
    seed: int | None
    on_error: str

    def record(self, spec: ModelSpec, use_cache: bool) -> dict:
        return dict(model_args=self.model_args, batch_size=self.batch_size, gen_overrides=self.gen_overrides,
                    limit=self.limit, seed=self.seed, use_cache=use_cache, checkpoint_step=spec.checkpoint_step,
                    on_error=self.on_error, preset=spec.preset_name,
                    preset_settings=spec.preset.describe() if spec.preset is not None else None)


def _settings(reg, spec: ModelSpec, backend: str, model_args, batch_size, gen_kwargs, seed, limit,
              on_error) -> _Settings:
    """Parse the string options; the preset's defaults go under the user's; a seed seeds python/numpy and
    sampling. An unknown backend fails here, before any data is read or built."""
    gen_overrides = {**spec.gen_defaults, **parse_kv(gen_kwargs, "--gen-kwargs")}  # the user's settings win
    margs = modelspec.model_args_with_preset(spec, reg, backend, parse_kv(model_args, "--model-args"))
    if seed is not None:
        random.seed(seed)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(seed)
        gen_overrides.setdefault("seed", seed)
    return _Settings(margs, parse_batch_size(batch_size), gen_overrides, limit, seed, on_error)


def _prompts(system: str | None, template: str | dict | None, tasks: list) -> dict[str, PromptOverride]:
    """Each task's prompt overrides (none: the task's own prompt); a template dict names tasks being run."""
    if isinstance(template, dict):
        names = {t.name for t in tasks}
        unused = sorted(set(template) - names)
        if unused:
            raise GeobenchError(f"prompt template given for {', '.join(map(repr, unused))}, which is not being run")
        per_task = {t.name: template.get(t.name) for t in tasks}
    else:
        per_task = {t.name: template for t in tasks}
    out = {name: PromptOverride(system, tmpl) for name, tmpl in per_task.items()}
    return {name: p for name, p in out.items() if p}


def _prompt_record(system: str | None, template: str | dict | None) -> dict:
    return {k: v for k, v in (("system_prompt", system), ("prompt_template", template)) if v is not None}


def _lookup(cache: ResponseCache | None, fingerprint, plans: list[Plan]) -> tuple[dict, list[Request]]:
    """Cache keys for every deterministic request; (cached completions, requests still to generate)."""
    completions: dict[tuple[str, str], Any] = {}
    pending: list[Request] = []
    fp_text = fingerprint_text(fingerprint) if cache is not None else ""
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
    return completions, pending


def _generate(reg, be: Backend, plans: list[Plan], pending: list[Request], completions: dict,
              cache: ResponseCache | None, run_dir: Path | None, progress: bool, score: bool = True
              ) -> tuple[dict, dict]:
    """Generate every pending request in one backend call; each completion is cached, scored and journalled
    as it arrives (`score=False`: cached only, for a data-parallel rank that hands its completions to rank 0).
    Returns (per-sample records, generation timing)."""
    by_task = {p.task.name: p for p in plans}
    journals = {p.task.name: SamplesJournal(run_dir, p.task.name) for p in plans} if run_dir else {}
    per_sample: dict[tuple[str, str], dict] = {}
    started, new_tokens = time.time(), 0
    try:
        if pending:
            for i, completion in _progress(be.generate(pending), len(pending), "generating", progress):
                req = pending[i]
                if cache is not None and req.key:
                    cache.put(req.key, completion)
                completions[(req.task, req.doc_id)] = completion
                new_tokens += completion.n_tokens
                if not score:
                    continue
                plan = by_task[req.task]
                per_sample[(req.task, req.doc_id)] = rec = planning.record(reg, plan, plan.index[req.doc_id], completion)
                if req.task in journals:
                    journals[req.task].append(rec)
    finally:
        for j in journals.values():
            j.close()
    return per_sample, {"seconds": time.time() - started, "tokens": new_tokens, "samples": len(pending)}


def _generate_shard(group: distributed.Group, reg, be: Backend, plans: list[Plan], pending: list[Request],
                    completions: dict, cache: ResponseCache | None, run_dir: Path | None, progress: bool,
                    on_error: str) -> tuple[dict, dict]:
    """Data-parallel generation: this rank's share of the job's misses, then everything gathered on rank 0.

    Each rank caches (journals) its completions as they arrive, so a killed job resumes with nothing generated
    twice; rank 0 also journals its samples. Returns rank 0's per-sample records and the job's timing (on the
    other ranks: their own, unused).
    """
    mine, extra = distributed.share_misses(group, plans, completions, pending)
    dropped: dict = {}
    mine = planning.check_images(mine, {p.task.name: p for p in plans}, on_error, dropped)
    before = set(completions)
    main = group.world.is_main
    per_sample, gen = _generate(reg, be, plans, mine, completions, cache, run_dir, progress, score=main)
    generated = {} if main else {k: completions[k] for k in completions.keys() - before}
    parts = group.gather(distributed.payload(generated, extra, dropped, gen))
    if main:
        gen = distributed.merge(parts[1:], plans, completions, gen, cache.put if cache is not None else None)
    return per_sample, gen


def _score_cached(reg, plans: list[Plan], completions: dict, per_sample: dict, progress: bool) -> None:
    """Score the completions that came from the cache."""
    with _progress_bar(sum(len(p.docs) for p in plans), "scoring", progress) as bar:
        for plan in plans:
            for j, doc in enumerate(plan.docs):
                key = (plan.task.name, doc.id)
                if key not in per_sample:
                    per_sample[key] = planning.record(reg, plan, j, completions[key])
                bar.update(1)


def _add_timing(results: dict, plans: list[Plan], started: float, date, gen: dict) -> None:
    wall = time.time() - started
    n_docs = sum(len(p.docs) for p in plans)
    results["timing"] = {
        "wall_seconds": wall, "generation_seconds": gen["seconds"], "samples_per_second": n_docs / wall if wall else 0.0,
        "generated_tokens": gen["tokens"],
        "generated_tokens_per_second": gen["tokens"] / gen["seconds"] if gen["seconds"] else 0.0,
        "generated_samples": gen["samples"], "cache_hits": n_docs - gen["samples"],
    }
    results["date"] = date.timestamp()
    results["start_time"], results["end_time"] = started, time.time()
    results["total_evaluation_time_seconds"] = str(wall)


def _write(reg, plans: list[Plan], per_sample: dict, results: dict, run_dir: Path, out: Path) -> None:
    """The run folder (samples files, then results.json), the rebuilt tables, then the results-written event."""
    for plan in plans:
        SamplesJournal(run_dir, plan.task.name).finish([per_sample[(plan.task.name, d.id)] for d in plan.docs])
    write_run(run_dir, results)
    rebuild_tables(out)
    results["run_dir"] = str(run_dir)
    reg.call_hook("geobench_results_written", run=RunInfo(folder=run_dir, results=results))


# ---------------------------------------------------------------------------------- used by the trainers


def resolve_model(reg: plugins.Registry, model: str) -> str:
    """A registered model name (e.g. 'tiny') becomes its local folder; anything else passes through."""
    return modelspec.resolve_registered(reg, model)


def load_backend(reg: plugins.Registry, model: str, backend: str, batch_size, model_args: dict) -> Backend:
    """The backend `backend` for `model`, built the way `evaluate` builds it."""
    spec = modelspec.resolve(reg, model, backend, preset="none")
    return modelspec.build_backend(reg, spec, backend, batch_size, model_args)


def _progress(iterator, total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    yield from tqdm(iterator, total=total, desc=desc, unit="sample", file=sys.stderr, disable=not enabled,
                    dynamic_ncols=True)


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, disable=not enabled, dynamic_ncols=True)


__all__ = ["evaluate", "GenConfig", "parse_kv", "select_tasks"]
