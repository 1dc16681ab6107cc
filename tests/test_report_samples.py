"""The report's sample explorer and compare view on real run folders (dummy backend; it answers with the model
name, so a hostile "model" is a hostile completion): a page per run and task with thumbnails, truths, prompts
and rewards; nothing outside the report folder referenced; model output escaped everywhere; flips and the
paired bootstrap right; `--compare` from the command line."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import geobench
from conftest import run_cli
from geobench import report as rep
from geobench import report_samples, stats

TASKS = "geoloc_toy,crossview_toy,scene_toy"
HOSTILE = ('<think></script><script>alert(1)</script><!-- hidden</think><answer><img src=x onerror=alert(2)> '
           '<a href="javascript:alert(3)">B</a> (48.8, 2.3) yes \u2028</answer>')

ALLOWED_TAGS = {"html", "head", "meta", "link", "title", "style", "body", "h1", "h2", "h3", "p", "a", "b", "div",
                "table", "tr", "th", "td", "ul", "li", "figure", "img", "figcaption", "footer", "select", "option",
                "button", "script", "noscript"}


@pytest.fixture(scope="module")
def res(tmp_path_factory, session_home) -> Path:
    out = tmp_path_factory.mktemp("samples") / "results"
    for model, name, step in (("random", "base", None), (HOSTILE, "hostile", 3)):
        geobench.evaluate(model, TASKS, backend="dummy", limit=8, output=out, progress=False, run_name=name,
                          checkpoint_step=step)
    return out


@pytest.fixture(scope="module")
def built(res, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("samples_report") / "rep"
    return out, rep.build(out, *rep.collect([], str(res)))


def page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="gb-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def samples_of(res: Path, run: str, task: str) -> list[dict]:
    text = (res / run / f"samples_{task}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line]  # not splitlines(): U+2028 is in one


def test_a_page_per_run_and_task_with_images_truths_prompts_and_rewards(built, res):
    out, summary = built
    assert summary["samples"] == sorted(f"samples-{r}-{t}.html" for r in ("base", "hostile") for t in TASKS.split(","))
    for page in summary["samples"]:
        data = page_data(out / page)
        run, task = data["run"], data["task"]
        assert [r["i"] for r in data["rows"]] == [s["doc_id"] for s in samples_of(res, run, task)]
        for row in data["rows"]:
            assert row["img"] and all((out / name).is_file() for name in row["img"])
            assert row["t"] and "r" in row and data["prompts"][row["pr"]]
        if task == "geoloc_toy":
            assert all("tl" in r and "km" in r for r in data["rows"]) and data["land"] is None  # toy planet
        if task == "crossview_toy":
            assert {len(r["img"]) for r in data["rows"]} == {5}  # ground image and four candidate tiles
        if task == "scene_toy":
            assert all(r["g"] and r["tv"] in ("yes", "no") or len(r["tv"]) == 1 for r in data["rows"])
    assert (out / "assets" / "explorer.js").is_file() and (out / "assets" / "explorer.css").is_file()


def test_pages_refer_to_nothing_outside_the_report(built, session_home):
    out, _ = built
    for page in out.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert str(session_home) not in text and "/tmp/" not in text
        for ref in re.findall(r"""(?:src|href)=['"]([^'"]*)['"]""", text):
            if ref == "data:,":  # the empty favicon (no request for /favicon.ico)
                continue
            assert not re.match(r"^[a-z]+:", ref) and ".." not in ref and not ref.startswith("/"), (page.name, ref)
            target = ref.split("#")[0]
            assert not target or (out / target).is_file(), (page.name, ref)
        if page.name.startswith("samples-"):
            for row in page_data(page)["rows"]:
                assert all(re.fullmatch(r"thumbs/[0-9a-f]{20}\.jpg", n) for n in row["img"])


class Markup(HTMLParser):
    """Every element and attribute a browser would see in a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_comment(self, data):
        self.comments.append(data)


def test_model_output_is_escaped_everywhere(built):
    out, _ = built
    for page in out.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        markup = Markup()
        markup.feed(text)
        scripts = [attrs for tag, attrs in markup.tags if tag == "script"]
        # the shipped script, and on a samples or compare page its JSON: nothing the model wrote became markup
        assert scripts == [{"src": "assets/explorer.js"}] if page.name == "index.html" else \
            [{"type": "application/json", "id": "gb-data"}, {"src": "assets/explorer.js"}], page.name
        assert not markup.comments and {tag for tag, _ in markup.tags} <= ALLOWED_TAGS, page.name
        for tag, attrs in markup.tags:
            assert not any(name.startswith("on") for name in attrs), (page.name, tag, attrs)
            for name in ("href", "src"):
                assert not attrs.get(name, "").strip().lower().startswith("javascript:"), (page.name, attrs)
    data = page_data(out / "samples-hostile-geoloc_toy.html")
    assert data["rows"][0]["c"] == HOSTILE  # the JSON carries it exactly, escaped only for the script tag
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in (out / "index.html").read_text()


def test_json_in_a_script_tag_cannot_end_it():
    obj = {"c": "</script><script>x</script><!-- \u2028 & </SCRIPT >"}
    tag = report_samples.json_script(obj, "d")
    inner = tag.removeprefix('<script type="application/json" id="d">').removesuffix("</script>")
    assert "<" not in inner and ">" not in inner and "\u2028" not in inner
    assert json.loads(inner) == obj


def test_compare_counts_flips_and_error_change(built, res):
    out, summary = built
    assert "compare-base-vs-hostile-crossview_toy.html" in summary["compares"]
    for task in TASKS.split(","):
        data = page_data(out / f"compare-base-vs-hostile-{task}.html")
        a = {s["doc_id"]: s["metrics"] for s in samples_of(res, "base", task)}
        b = {s["doc_id"]: s["metrics"] for s in samples_of(res, "hostile", task)}
        ok = (lambda m: float(m["distance_km"] <= 25 and m["parse_rate"] == 1)) if task == "geoloc_toy" \
            else (lambda m: m["acc"])
        pairs = [(ok(a[i]), ok(b[i])) for i in a if i in b]
        s = data["summary"]
        assert s["n"] == len(pairs) and s["rw"] == sum(x == 1 and y == 0 for x, y in pairs)
        assert s["wr"] == sum(x == 0 and y == 1 for x, y in pairs)
        assert math.isclose(s["acc"]["diff"], sum(y - x for x, y in pairs) / len(pairs))
        if task == "geoloc_toy":
            d = [b[i]["distance_km"] - a[i]["distance_km"] for i in a]
            assert math.isclose(s["km"]["diff"], sum(d) / len(d), rel_tol=1e-6)
            assert [r["d"] for r in data["rows"]] == pytest.approx(d, abs=1e-2)
        assert data["page_a"] == f"samples-base-{task}.html" and data["page_b"] == f"samples-hostile-{task}.html"
    index = (out / "index.html").read_text()
    assert "<select id='gb-compare'>" in index and "value='compare-base-vs-hostile-geoloc_toy.html'" in index


def test_paired_bootstrap():
    same = stats.paired_bootstrap([1, 0, 1, 1], [1, 0, 1, 1])
    assert same["diff"] == 0 and same["p"] == 1.0
    a = [0.0] * 200
    b = [1.0 if i % 4 else 0.0 for i in range(200)]
    shift = stats.paired_bootstrap(a, b)
    assert shift["diff"] == 0.75 and 0.6 < shift["lo"] < 0.75 < shift["hi"] < 0.9 and shift["p"] < 0.01
    assert shift == stats.paired_bootstrap(a, b)  # seeded
    assert math.isnan(stats.paired_bootstrap([], [])["diff"])


def test_cli_compare_two_runs(res, tmp_path):
    out = tmp_path / "rep"
    r = run_cli("report", "--results", str(res), "--out", str(out), "--compare", "base", "hostile")
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith("compare:")] == \
        [f"compare: {out / f'compare-base-vs-hostile-{t}.html'}" for t in TASKS.split(",")]
    summary = json.loads((out / "report.json").read_text())
    assert len(summary["runs"]) == 2
    assert summary["compare"] == [f"compare-base-vs-hostile-{t}.html" for t in TASKS.split(",")]
    for args, needle in ((["base", "base"], "--compare names the same run twice ('base')"),
                         (["base", "nope"], "--compare 'nope' is not a run folder")):
        r = run_cli("report", "--results", str(res), "--out", str(tmp_path / "r2"), "--compare", *args)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_results_cells_link_to_their_samples(built):
    out, _ = built
    index = (out / "index.html").read_text()
    for href in ("samples-base-geoloc_toy.html#band=le25", "samples-hostile-crossview_toy.html#outcome=wrong",
                 "samples-base-scene_toy.html#group=boats", "samples-hostile-geoloc_toy.html"):
        assert f"href='{href}'" in index, href
    assert report_samples.metric_filter("geolocation", "median_km") == "#sort=err_desc"
    assert report_samples.metric_filter("scene", "parse_rate") == "#outcome=unparsed"


def test_without_task_data_the_page_still_shows_completions(res, tmp_path, monkeypatch):
    monkeypatch.setattr(report_samples, "_load_task",
                        lambda name, cfg: report_samples.TaskData(None, {}, "task data not found: test"))
    out = tmp_path / "rep"
    summary = rep.build(out, *rep.collect(["base"], str(res)))
    data = page_data(out / "samples-base-crossview_toy.html")
    assert data["rows"] and all("img" not in r and "t" not in r and r["c"] for r in data["rows"])
    assert any("task data not found: test" in n for n in data["notes"])
    assert any("task data not found: test" in n for n in summary["sections"]["Samples"]["notes"])
    assert not list((out / "thumbs").iterdir())


def test_an_earth_task_gets_coastlines_under_its_map(res, tmp_path, monkeypatch):
    monkeypatch.setattr(report_samples, "is_toy", lambda *a, **k: False)  # as if geoloc_toy were on Earth
    out = tmp_path / "rep"
    rep.build(out, *rep.collect(["base"], str(res)))
    assert page_data(out / "samples-base-geoloc_toy.html")["land"] == "assets/land.png"
    assert page_data(out / "samples-base-crossview_toy.html")["land"] is None
    from PIL import Image

    with Image.open(out / "assets" / "land.png") as im:
        assert im.size == (1440, 720)  # 4 cells per degree, row 0 at 90N


def test_changed_task_data_is_not_shown_as_this_runs_truth(res, tmp_path, monkeypatch):
    """Docs whose prompts differ from what the run saw (other settings, data changed since) are not used."""
    real = report_samples._load_task

    def shuffled(name, cfg):
        td = real(name, cfg)
        ids = list(td.docs)
        td.docs = dict(zip(ids, [td.docs[i] for i in ids[1:] + ids[:1]], strict=True))  # each id, another doc
        return td

    monkeypatch.setattr(report_samples, "_load_task", shuffled)
    out = tmp_path / "rep"
    rep.build(out, *rep.collect(["base"], str(res)))
    data = page_data(out / "samples-base-crossview_toy.html")
    assert all("img" not in r and "t" not in r for r in data["rows"])
    assert any("does not give the prompts this run saw" in n for n in data["notes"])


def test_default_pairs_put_the_base_against_each_checkpoint():
    from geobench.report_compare import pairs_for
    from geobench.runs import Run

    def run(model, step, name):
        return Run(Path(name), {"config": {"model": model, "checkpoint_step": step}, "results": {"t": {}}})

    few = [run("base", None, "b"), run("sft", 100, "s1"), run("sft", 200, "s2")]
    assert [(a.folder.name, b.folder.name) for a, b in pairs_for(few, "t")] == [("b", "s1"), ("b", "s2"), ("s1", "s2")]
    demo = [run("demo", 0, "b"), run("sft", 100, "s1"), run("sft", 200, "s2"), run("grpo", 10, "g1"),
            run("grpo", 20, "g2"), run("sft", 300, "s3")]  # more than four: the base against each, then steps
    assert [(a.folder.name, b.folder.name) for a, b in pairs_for(demo, "t")] == [
        ("b", "g1"), ("b", "g2"), ("b", "s1"), ("b", "s2"), ("b", "s3"), ("g1", "g2"), ("s1", "s2"), ("s2", "s3")]
