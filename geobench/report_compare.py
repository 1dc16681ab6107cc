"""The report's compare view: two runs (or checkpoints) of one task, sample by sample.

A page per pair and task (compare-<a>-vs-<b>-<task>.html, drawn by the explorer's script) lists the samples
both runs answered, which flipped right->wrong and wrong->right, and each sample's change of error (geolocation,
km); its head gives both accuracies and the paired bootstrap (geobench.stats.paired_bootstrap) of the change.
Pairs: the one `geobench report --compare A B` names, plus for each task every pair of its latest runs per
model/checkpoint when there are few, else each against the first and consecutive checkpoints.
"""

from __future__ import annotations

import html
import math
from itertools import combinations
from pathlib import Path

from geobench import stats
from geobench.atomic import atomic_write
from geobench.geo import MISS_KM
from geobench.report_samples import CORRECT_KM, Explorer, page_html, slug
from geobench.runs import Run, latest_by_label, tasks_of

ALL_PAIRS_UP_TO = 4  # labels per task; more, and only first-vs-each and consecutive pairs are drawn


def pairs_for(runs: list[Run], task: str) -> list[tuple[Run, Run]]:
    labelled = sorted(latest_by_label(runs, task).values(),  # plain models first, then checkpoints by step
                      key=lambda r: (r.step is not None, r.step if r.step is not None else -1, r.model))
    if len(labelled) <= ALL_PAIRS_UP_TO:
        return list(combinations(labelled, 2))
    first = [(labelled[0], r) for r in labelled[1:]]  # the base (no step, or the lowest) against each
    by_model = sorted(labelled[1:], key=lambda r: (r.model, r.step if r.step is not None else -1))
    steps = [(a, b) for a, b in zip(by_model, by_model[1:], strict=False) if a.model == b.model]
    return list({(a.folder, b.folder): (a, b) for a, b in first + steps}.values())


def compare_rows(rows_a: list[dict], rows_b: list[dict]) -> list[dict]:
    """Samples both runs have, matched by doc id: outcome and error on each side."""
    by_id = {r["i"]: r for r in rows_b}
    out = []
    for a in rows_a:
        b = by_id.get(a["i"])
        if b is None:
            continue
        row = {"i": a["i"], "a": a.get("ok"), "b": b.get("ok"), "ua": a["u"], "ub": b["u"], "pa": a["p"], "pb": b["p"],
               "t": a.get("t", b.get("t", "")), "g": a.get("g", "")}
        if "km" in a or "km" in b:
            row["ka"], row["kb"] = a.get("km"), b.get("km")
            ea, eb = _err(a), _err(b)
            row["d"] = round(eb - ea, 3)
        out.append(row)
    return out


def _err(row: dict) -> float:
    """The error distance a metric counts: an unparsed answer is a miss at half the Earth's circumference."""
    return MISS_KM if row.get("km") is None else float(row["km"])


def summary(rows: list[dict]) -> dict:
    scored = [r for r in rows if r["a"] is not None and r["b"] is not None]
    out = {"n": len(rows), "rw": sum(r["a"] == 1 and r["b"] == 0 for r in scored),
           "wr": sum(r["a"] == 0 and r["b"] == 1 for r in scored)}
    if scored:
        out["acc_a"] = sum(r["a"] for r in scored) / len(scored)
        out["acc_b"] = sum(r["b"] for r in scored) / len(scored)
        out["acc"] = _clean(stats.paired_bootstrap([r["a"] for r in scored], [r["b"] for r in scored]))
    with_km = [r for r in rows if "d" in r]
    if with_km:
        out["km"] = _clean(stats.paired_bootstrap([_err({"km": r["ka"]}) for r in with_km],
                                                  [_err({"km": r["kb"]}) for r in with_km]))
    return out


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def build_compares(folder: Path, runs: list[Run], ex: Explorer, slugs: dict[Path, str],
                   explicit: tuple[Run, Run] | None = None) -> list[dict]:
    """Write the compare pages; returns one entry per page (a, b, task, page, summary), the explicit pair first."""
    wanted: list[tuple[Run, Run, str]] = []
    if explicit:
        a, b = explicit
        wanted += [(a, b, t) for t in a.tasks if t in b.tasks]
    for task in tasks_of(runs):
        wanted += [(a, b, task) for a, b in pairs_for(runs, task)]
    out, seen = [], set()
    for a, b, task in wanted:
        key = (a.folder, b.folder, task)
        if key in seen or ex.page(a, task) is None or ex.page(b, task) is None:
            continue
        seen.add(key)
        rows = compare_rows(ex.rows[(a.folder, task)], ex.rows[(b.folder, task)])
        if not rows:
            continue
        name = f"compare-{slugs[a.folder]}-vs-{slugs[b.folder]}-{slug(task)}.html"
        head = summary(rows)
        data = {"view": "compare", "task": task, "kind": a.kind(task), "a": a.label, "b": b.label,
                "run_a": a.folder.name, "run_b": b.folder.name, "page_a": ex.page(a, task),
                "page_b": ex.page(b, task), "summary": head, "rows": rows,
                "note": f"Right: within {CORRECT_KM} km of the truth." if a.kind(task) == "geolocation" else ""}
        atomic_write(folder / name, page_html(f"{a.label} vs {b.label} · {task}", data, "compare"))
        out.append({"a": a.label, "b": b.label, "task": task, "page": name, "summary": head,
                    "explicit": explicit is not None and a is explicit[0] and b is explicit[1]})
    return out


def compare_section_html(compares: list[dict]) -> str:
    """The index's compare block: a selector and a table of every compare page with its headline change."""
    esc = html.escape
    if not compares:
        return ""
    options = "".join(f"<option value='{esc(c['page'])}'>{esc(c['task'])}: {esc(c['a'])} → {esc(c['b'])}</option>"
                      for c in compares)
    rows = []
    for c in compares:
        s = c["summary"]
        acc = s.get("acc") or {}
        change = "" if acc.get("diff") is None else (f"{acc['diff']:+.1%} [{acc['lo']:+.1%}, {acc['hi']:+.1%}], "
                                                     f"p={acc['p']:.3f}")
        rows.append(f"<tr><td><a href='{esc(c['page'])}'>{esc(c['task'])}: {esc(c['a'])} → {esc(c['b'])}</a></td>"
                    f"<td>{s['n']}</td><td>{s['rw']}</td><td>{s['wr']}</td><td>{esc(change)}</td></tr>")
    return ("<p>Pick two runs of a task: <select id='gb-compare'>" + options + "</select> "
            "<button id='gb-compare-go' type='button'>compare</button></p><div class='scroll'><table><tr>"
            "<th>comparison</th><th>paired samples</th><th>right→wrong</th><th>wrong→right</th>"
            "<th>accuracy change (95% paired bootstrap)</th></tr>" + "".join(rows) + "</table></div>")
