"""The results of a run, assembled: lm-eval's results schema plus geobench's fields, and the summary lines.

Per-task metrics come from each task's `aggregate` over its per-sample metrics; a group's row pools the
per-sample metrics of its member tasks (what one big task would give). The environment (package versions,
git hash) is recorded so a number can be traced to the code that made it.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from geobench.api import Backend, mean_with_stderr
from geobench.planning import Plan, call_task
from geobench.plugin_manager import Registry

ENV_PACKAGES = ("geobench", "torch", "transformers", "trl", "vllm", "pillow", "numpy", "pluggy", "lm-eval")


def assemble(reg: Registry, plans: list[Plan], per_sample: dict, be: Backend, display: str, fingerprint,
             cfg: dict) -> dict[str, Any]:
    """The results dict in lm-eval's schema (results, groups, configs, versions, n-samples, ...) plus geobench's
    config, skipped counts and environment."""
    results: dict[str, Any] = {"results": {}, "groups": {}, "group_subtasks": {}, "configs": {}, "versions": {},
                               "n-shot": {}, "higher_is_better": {}, "n-samples": {}, "task_hashes": {}}
    if cfg["on_error"] == "skip":  # bad samples left out, per task and reason
        results["skipped"] = {p.task.name: dict(p.skipped.counts) for p in plans}
        results["skipped_examples"] = {p.task.name: dict(p.skipped.examples) for p in plans if p.skipped.counts}
    groups: dict[str, list[str]] = {}
    for plan in plans:
        name = plan.task.name
        records = [per_sample[(name, d.id)] for d in plan.docs]
        agg = call_task(reg, plan.task, "aggregate", [r["metrics"] for r in records])
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
    results["config"]["model_commit"] = model_commit(display, fingerprint)
    results["model_name"] = display
    results["model_source"] = getattr(be, "name", "")
    results["git_hash"] = _git_hash()
    results["versions_env"] = dict(_env_versions())
    results["geobench_version"] = results["versions_env"].get("geobench")
    return results


def model_commit(model: str, fingerprint) -> str | None:
    """The Hub commit the model's files came from: the fingerprint's, else the local HF cache's snapshot of
    the id (a model the backend downloaded during the run), else None (a local folder or an API model)."""
    fp = fingerprint if isinstance(fingerprint, dict) else {}
    if fp.get("commit"):
        return fp["commit"]
    if fp.get("content_sha256"):
        return None  # a local folder outside the HF cache, identified by its content
    from geobench import hfutil

    found = hfutil.cached_config(model, fp.get("revision"))
    return hfutil.snapshot(found or "")[1]


def group_aggregate(per_sample_by_task: dict[str, list[dict]]) -> dict[str, Any]:
    """A group's row: each per-sample metric pooled over every sample of the member tasks that has it (what
    one big task would give: weighted by real counts, so per-question metrics stay per-question). Dataset-level
    metrics (medians, macro averages) are not per-sample and so are not pooled."""
    pooled = mean_with_stderr([m for records in per_sample_by_task.values() for m in records])
    out: dict[str, Any] = {"alias": ", ".join(per_sample_by_task)}
    out.update({f"{k},none": v for k, v in pooled.items()})
    return out


def summary_lines(results: dict) -> list[str]:
    """The lines printed after a run. A pipeline-check model (config.pipeline_check, e.g. the tiny model) gets
    one line on what its numbers mean instead of the cut-off warnings that are expected of it."""
    lines = []
    check = bool(results.get("config", {}).get("pipeline_check"))
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
        if cut and not check:
            lines.append(f"warning: {task}: {cut} of {n} completions hit max_new_tokens and were cut off; "
                         "raise it with --gen-kwargs max_new_tokens=N if the model reasons at length")
    if check:
        from geobench.presets import PIPELINE_CHECK

        lines.append(PIPELINE_CHECK.format(model=results.get("config", {}).get("model", "this model")))
    t = results.get("timing", {})
    if t:
        lines.append(f"{t['wall_seconds']:.1f} s, {t['samples_per_second']:.2f} samples/s, "
                     f"{t['generated_samples']} generated, {t['cache_hits']} from cache"
                     + (f" -> {results['run_dir']}" if "run_dir" in results else ""))
    return lines


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
