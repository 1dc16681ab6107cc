"""Checks of `geobench study transfer` that train nothing: the toy world's cue links (is the cross-view cue
evidence for the other tasks' answers?) and the dry run of every stage (`--dry-run`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from geobench import plugin_manager
from geobench.errors import GeobenchError
from geobench.trainers.training.study_profiles import Profile, scaffold_args, stage_configs


def cue_links(prof: Profile, cue: str = "climate", limit: int | None = None) -> dict:
    """What the cross-view cue (the toy's `climate`: land cover in the tile, sky and ground colour in the
    street view) tells about the other tasks' answers, from their *train* docs' metadata (no model):
    - geolocation: the GeoScore (0..5000, as the task scores it) of always answering the train mean point of the image's climate, against
      the single best guess without the cue (the overall mean point);
    - scene, per question: accuracy of the majority answer given the cue, against the majority answer overall.
    Only for tasks whose docs carry the cue (the toy tasks)."""
    from geobench.geo import geoscore, haversine_km
    from geobench.selection import task_from_spec

    reg = plugin_manager.registry()
    out: dict[str, Any] = {"cue": cue}
    geo_f, scene_f = prof.families["geolocation"], prof.families["scene"]
    try:
        geo = task_from_spec(reg, geo_f.task, None)
        docs = [d for d in geo.docs("train", limit) if d.fields.get(cue)]
    except Exception:  # noqa: BLE001 - real data may be absent; the link check is for the toy world
        docs = []
    if docs:
        import numpy as np

        def mean_point(ds):
            v = np.array([[math.cos(math.radians(float(d.fields["lat"]))) * math.cos(math.radians(float(d.fields["lon"]))),
                           math.cos(math.radians(float(d.fields["lat"]))) * math.sin(math.radians(float(d.fields["lon"]))),
                           math.sin(math.radians(float(d.fields["lat"])))] for d in ds]).mean(0)
            return math.degrees(math.atan2(v[2], math.hypot(v[0], v[1]))), math.degrees(math.atan2(v[1], v[0]))

        def score(ds, point_of):
            g = [float(geoscore(haversine_km(float(d.fields["lat"]), float(d.fields["lon"]), *point_of(d))))
                 for d in ds]
            lat_err = [abs(float(d.fields["lat"]) - point_of(d)[0]) for d in ds]
            return sum(g) / len(g), sum(lat_err) / len(lat_err)

        overall = mean_point(docs)
        by = {c: mean_point([d for d in docs if d.fields[cue] == c]) for c in sorted({d.fields[cue] for d in docs})}
        g0, l0 = score(docs, lambda d: overall)
        g1, l1 = score(docs, lambda d: by[d.fields[cue]])
        out["geolocation"] = {"task": geo_f.task, "n": len(docs), "geoscore_without_cue": round(g0, 1),
                              "geoscore_with_cue": round(g1, 1), "lat_error_deg_without_cue": round(l0, 1),
                              "lat_error_deg_with_cue": round(l1, 1)}
    try:
        scene = task_from_spec(reg, scene_f.task, None)  # the whole train split: more images per question
        sdocs = list(scene.docs("train", limit))
    except Exception:  # noqa: BLE001
        sdocs = []
    if sdocs:
        from collections import Counter, defaultdict

        climate_of = {d.fields["image_id"]: str(d.fields["answer"]).lower() for d in sdocs
                      if d.fields.get("question_key") == cue}
        per_q: dict[str, list] = defaultdict(list)
        for d in sdocs:
            c = climate_of.get(d.fields.get("image_id"))
            if c is not None and d.fields.get("question_key") != cue:
                per_q[d.fields["question_key"]].append((c, str(d.fields["answer"]).lower()))
        rows = {}
        for q, pairs in sorted(per_q.items()):
            n = len(pairs)
            base = Counter(a for _, a in pairs).most_common(1)[0][1] / n
            by_c: dict[str, Counter] = defaultdict(Counter)
            for c, a in pairs:
                by_c[c][a] += 1
            with_cue = sum(cnt.most_common(1)[0][1] for cnt in by_c.values()) / n
            rows[q] = {"n": n, "majority": round(base, 3), "majority_given_cue": round(with_cue, 3),
                       "gain": round(with_cue - base, 3)}
        out["scene"] = {"task": scene_f.task, "questions": rows, "direct": cue}
    return out


def dry_run(prof: Profile, out: Path, seeds: list[int]) -> list[tuple[str, str, str]]:
    """Check every stage without training or loading a model: (stage, "ok" | "problem" | "note", what).
    Configs are validated by the trainers' own checks (keys, types, values, TRL fields, optional packages),
    tasks and reward presets are resolved, the model is resolved, data presence is reported."""
    import tempfile

    from geobench import modelspec
    from geobench.selection import task_from_spec
    from geobench.trainers.training.config import from_dict, reward_spec
    from geobench.trainers.training.config_checks import check_trl_keys

    reg = plugin_manager.registry()
    rows: list[tuple[str, str, str]] = []

    def check(stage: str, fn) -> None:
        try:
            what = fn() or ""
            rows.append((stage, "note" if "; data: " in what else "ok", what))
        except GeobenchError as e:
            rows.append((stage, "problem", str(e).splitlines()[0]))
        except Exception as e:  # noqa: BLE001 - a dry run reports, it does not stop at the first problem
            rows.append((stage, "problem", f"{type(e).__name__}: {e}"))

    def model_ok():
        if prof.model == "tiny":
            return f"tiny architecture at width {prof.width}, random weights, built per seed"
        spec = modelspec.resolve(reg, prof.model, "hf")
        return f"{prof.model}: {spec.kind}" + (f", preset {spec.preset_name}" if spec.preset_name else "") + \
            (" (downloaded on first use; nothing is fetched here)" if spec.kind == "hub" else "")

    check("model", model_ok)
    for fam, f in prof.families.items():
        def task_ok(f=f):
            t = task_from_spec(reg, f.task, f.task_args or None)
            missing = t.data_status() if hasattr(t, "data_status") else None
            return f"{t.name} {f.metric}" + (f"; data: {missing}" if missing else "; data available")

        def scaffold_ok(f=f, fam=fam):
            t = task_from_spec(reg, f.scaffold_task or f.task,
                               (f.task_args if f.scaffold_args is None else f.scaffold_args) or None)
            if f.scaffold_split not in t.splits:
                raise GeobenchError(f"{t.name} has no split {f.scaffold_split!r} (splits: {', '.join(t.splits)})")
            if f.teacher:
                reg.backend(f.teacher["backend"])
                src = f"teacher {f.teacher['model']} ({f.teacher['backend']})"
            else:
                src = "templates"
            return f"geobench {' '.join(scaffold_args(prof, fam, out / 'data' / fam))}  [{src}]"

        check(f"eval task {fam}", task_ok)
        check(f"scaffold {fam}", scaffold_ok)
    with tempfile.TemporaryDirectory() as tmp:
        mixture = Path(tmp) / "mixture"
        mixture.mkdir()
        (mixture / "train.jsonl").write_text("{}\n")  # the config check wants the file; the data is checked above
        model = prof.model if prof.model != "tiny" else "tiny"
        seed = seeds[0] if seeds else 0
        cfgs = stage_configs(prof, out, seed, model, mixture)
        for name, kind in (("sft", "sft"), ("grpo", "grpo"), ("grpo_shuffled", "grpo"), ("sft_more", "sft")):
            def cfg_ok(name=name, kind=kind):
                raw = dict(cfgs[name])
                if kind == "grpo":
                    raw["model"] = model  # the SFT output does not exist yet
                cfg = from_dict(raw, kind, f"study {name}")
                check_trl_keys(cfg)
                what = f"{kind}: {cfg.max_steps} steps, lr {cfg.lr}, batch {cfg.per_device_batch_size}"
                if kind == "grpo":
                    preset, pairs = reward_spec(cfg.rewards)
                    if preset is not None:
                        pairs = reg.reward_preset(preset)
                    for rname, _w in pairs:
                        reg.reward(rname)
                    what += f", rewards {preset or 'list'} = " + " + ".join(f"{w:g} {n}" for n, w in pairs)
                if name == "sft_more" and not prof.sft_more_steps:
                    what += " (steps set at run time: equal wall time to the grpo arm)"
                return what

            check(f"train {name}", cfg_ok)
    import importlib.util

    if prof.name == "full":
        have = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
        rows.append(("gpu", "note" if not have else "ok",
                     "no CUDA device here: the full profile needs GPUs to run (the dry run needs none)"
                     if not have else "CUDA available"))
    return rows


def cue_truth(prof: Profile, cue: str = "climate") -> dict[str, dict[str, str]]:
    """{eval task: {doc_id: the ground view's true cue value}} for the toy eval tasks, so the summary can
    score whether a think names the cue right (`study_summary.cue_read`): cross-view from the true tile's
    attributes, geolocation from the doc's metadata, scene from the image's climate question (images without
    one in the test split are left out). Empty for tasks that carry no such metadata (real benchmarks)."""
    from geobench.selection import task_from_spec

    reg = plugin_manager.registry()
    out: dict[str, dict[str, str]] = {}
    for fam, f in prof.families.items():
        try:
            task = task_from_spec(reg, f.task, f.task_args or None)
            docs = list(task.docs("test", prof.eval_limit))
        except Exception:  # noqa: BLE001 - no data or no such metadata: no cue reads for this task
            continue
        known: dict[str, str] = {}
        if fam == "crossview":
            for d in docs:
                true = next((c for c in d.fields.get("candidates") or [] if c.get("true")), None)
                if true and (true.get("attributes") or {}).get(cue):
                    known[str(d.id)] = str(true["attributes"][cue])
        elif fam == "geolocation":
            known = {str(d.id): str(d.fields[cue]) for d in docs if d.fields.get(cue)}
        elif fam == "scene":
            try:
                full = list(task_from_spec(reg, f.task, None).docs("test"))
            except Exception:  # noqa: BLE001
                full = []
            by_image = {d.fields.get("image_id"): str(d.fields["answer"]) for d in full
                        if d.fields.get("question_key") == cue}
            known = {str(d.id): by_image[d.fields.get("image_id")] for d in docs if d.fields.get("image_id") in by_image}
        if known:
            out[f.task] = known
    return out
