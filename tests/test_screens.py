"""The screens a newcomer meets: task-name suggestions, `geobench tasks`, `geobench results`, `geobench samples`,
prompt overrides and the tiny model's pipeline check."""

from __future__ import annotations

import pytest

from geobench import plugin_manager
from geobench.errors import GeobenchError
from geobench.selection import select_tasks


@pytest.mark.parametrize("name, first", [("geolocaton", "'geolocation' (a group)"), ("geoloc_tyo", "'geoloc_toy'"),
                                         ("scen", "'scene' (a group)")])
def test_unknown_task_suggests_groups_too(name, first):
    with pytest.raises(GeobenchError) as e:
        select_tasks(plugin_manager.registry(), name)
    assert str(e.value).startswith(f"unknown task {name!r} (did you mean {first}")


# ------------------------------------------------------------------------------- the tiny model's pipeline check


def _results(check: bool) -> dict:
    cfg = {"model": "tiny", **({"pipeline_check": True} if check else {})}
    return {"config": cfg, "results": {"geoloc_toy": {"acc,none": 0.0, "truncated,none": 200}},
            "n-samples": {"geoloc_toy": {"effective": 200}}}


def test_the_tiny_model_is_a_pipeline_check_and_real_models_are_not():
    from geobench import modelspec

    reg = plugin_manager.registry()
    assert modelspec.resolve(reg, "tiny", "hf").pipeline_check
    assert modelspec.resolve(reg, "tiny", "hf", preset="miniHui/Geo-R1").pipeline_check  # still random weights
    assert not modelspec.resolve(reg, "miniHui/Geo-R1", "hf").pipeline_check
    assert not modelspec.resolve(reg, "/some/folder", "hf").pipeline_check


def test_a_pipeline_check_says_what_its_numbers_mean_instead_of_cut_off_warnings():
    from geobench.assemble import summary_lines

    quiet = summary_lines(_results(True))
    assert not any(line.startswith("warning:") for line in quiet)
    assert sum("pipeline check" in line for line in quiet) == 1
    loud = summary_lines(_results(False))
    assert any("200 of 200 completions hit max_new_tokens" in line for line in loud)
    assert not any("pipeline check" in line for line in loud)


# ------------------------------------------------------------------------------------------- geobench tasks


def test_plain_tables_wrap_to_the_width_and_keep_every_character():
    from geobench.screen import table_lines

    path = "/root/.cache/geobench/benchmarks/cvcities/" + "x" * 150
    rows = [{"name": "cvcities", "data": f"missing: {path}"}, {"name": "a", "data": "available"}]
    lines = table_lines(rows, ["name", "data"], room=80)
    assert all(len(line) <= 80 for line in lines)
    assert "".join(line[10:] for line in lines[1:-1]).replace(" ", "") == f"missing:{path}"
    assert len(table_lines(rows[1:], ["name", "data"], room=80)[1]) == len("a     available")  # no padding to the longest row elsewhere


def test_tasks_list_is_narrow_and_one_task_says_everything(tmp_path):
    from conftest import run_cli

    r = run_cli("tasks", "--data-dir", str(tmp_path), env={"COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 120
    assert "geobench tasks NAME" in r.stderr
    r = run_cli("tasks", "cvcities", "--data-dir", str(tmp_path), env={"COLUMNS": "100"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"{tmp_path / 'cvcities'}/" in out and "https://huggingface.co/datasets/gaoshuang98/CV-Cities" in out
    assert "missing 6 of 6" in out and "missing 10 of 10" in out and "tokyo/img_info.csv" in out
    assert "acc" in out and "higher is better" in out and "k, radius_km" in out
    r = run_cli("tasks", "geolocaton")
    assert r.returncode == 2 and "did you mean 'geolocation' (a group)" in r.stderr
    r = run_cli("tasks", "scene")
    assert r.returncode == 0 and "scene_toy" in r.stdout and "geoloc_toy" not in r.stdout


# ------------------------------------------------------------------------------------------ prompt overrides


def test_prompt_overrides_change_the_chat_and_are_recorded(tmp_path):
    import json
    import sqlite3

    import geobench
    from geobench import planning
    from geobench.messages import PromptOverride

    reg = plugin_manager.registry()
    override = PromptOverride("You are a geographer.", "Look closely. {question} One letter in <answer></answer>.")
    chat = planning.plan_task(reg, reg.task("crossview_toy"), 1, {}, prompt=override).requests[0].messages
    assert chat[0] == {"role": "system", "content": "You are a geographer."}
    last = chat[1]["content"][-1]["text"]
    assert last.startswith("Look closely. Which satellite image") and "<think>" not in last
    assert sum(p["type"] == "image" for p in chat[1]["content"]) == 5  # the images stay as the task wrote them

    cache = tmp_path / "c.sqlite"
    kw = dict(backend="dummy", limit=3, output=tmp_path / "res", cache_path=cache, progress=False)
    plain = geobench.evaluate("<answer>B</answer>", "crossview_toy", **kw)
    assert "system_prompt" not in plain["config"] and "prompt_template" not in plain["config"]
    mine = geobench.evaluate("<answer>B</answer>", "crossview_toy", system_prompt="Be brief.",
                             prompt_template="{prompt} Really.", **kw)
    assert mine["config"]["system_prompt"] == "Be brief." and mine["config"]["prompt_template"] == "{prompt} Really."
    assert mine["timing"]["generated_samples"] == 3  # new prompts: new cache keys
    assert mine["task_hashes"] != plain["task_hashes"]
    with sqlite3.connect(cache) as con:
        assert con.execute("select count(*) from responses").fetchone()[0] == 6
    saved = json.loads((tmp_path / "res" / mine["run_dir"].split("/")[-1] / "results.json").read_text())
    assert saved["config"]["system_prompt"] == "Be brief."
    again = geobench.evaluate("<answer>B</answer>", "crossview_toy", **kw)
    assert again["timing"]["generated_samples"] == 0  # the default prompts' keys are untouched


def test_prompt_template_errors_are_one_line(tmp_path):
    from conftest import run_cli

    base = ["eval", "--model", "B", "--backend", "dummy", "--tasks", "scene_toy", "--limit", "1", "-o", str(tmp_path)]
    r = run_cli(*base, "--prompt-template", "no placeholder here")
    assert r.returncode == 2 and "neither {prompt} nor {question}" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(*base, "--system-prompt", f"@{tmp_path / 'absent.txt'}")
    assert r.returncode == 2 and "--system-prompt: cannot read" in r.stderr
    template = tmp_path / "t.txt"
    template.write_text("Answer briefly. {question}")
    r = run_cli(*base, "--prompt-template", str(template), "-q")
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    assert res["config"]["prompt_template"] == "Answer briefly. {question}"
    with pytest.raises(GeobenchError, match="not being run"):
        import geobench

        geobench.evaluate("B", "scene_toy", backend="dummy", limit=1, output=None, progress=False,
                          prompt_template={"geoloc_toy": "{prompt}"})
