"""Plugins: a plugin that raises is reported with its name and the others keep working. (Failing imports and
registration hooks: tests/test_plugins.py; here the hooks and task methods that run during an evaluation.)"""

from __future__ import annotations

import json

import pytest

import geobench
from geobench import hookimpl, plugin_manager
from geobench.errors import GeobenchError


class Flaky(geobench.Task):
    name, version = "flaky", "1"

    def docs(self, split=None, limit=None):
        return [geobench.Doc(id=str(i), fields={}) for i in range(3)]

    def to_messages(self, doc):
        return geobench.user("Say A. <answer>A</answer>")

    def score(self, doc, completion):
        if doc.id == "2":
            raise KeyError("answer")
        return {"acc": 1.0}


class TaskPlugin:
    @hookimpl
    def geobench_register_tasks(self, register):
        register(Flaky)


class BadListener:
    @hookimpl
    def geobench_results_written(self, run):
        raise RuntimeError("upload service down")


class GoodListener:
    def __init__(self):
        self.runs = []

    @hookimpl
    def geobench_results_written(self, run):
        self.runs.append(run.folder)


class BadPresets:
    @hookimpl
    def geobench_register_models(self, register):
        register("acme/broken")  # neither resolve nor preset


def test_a_failing_results_hook_is_named_and_the_run_and_other_listeners_finish(tmp_path, capsys):
    good = GoodListener()
    reg = plugin_manager.load(extra=[("uploader", BadListener()), ("logger", good)])
    res = geobench.evaluate("random", "scene_toy", backend="dummy", limit=2, output=tmp_path, registry=reg,
                            progress=False)
    assert "plugin 'uploader' failed: RuntimeError: upload service down" in capsys.readouterr().err
    assert good.runs == [tmp_path / res["run_dir"].split("/")[-1]]
    assert json.loads((good.runs[0] / "results.json").read_text())["results"]["scene_toy"]


def test_a_task_plugin_bug_is_one_line_naming_the_plugin_and_writes_nothing(tmp_path):
    reg = plugin_manager.load(extra=[("acme-tasks", TaskPlugin())])
    geobench.evaluate("random", "scene_toy", backend="dummy", limit=2, output=tmp_path, registry=reg,
                      progress=False)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(GeobenchError) as err:
        geobench.evaluate("<answer>A</answer>", "flaky", backend="dummy", output=tmp_path, registry=reg,
                          progress=False)
    assert str(err.value) == "task 'flaky' (plugin 'acme-tasks') failed in score(): KeyError: 'answer'"
    assert isinstance(err.value.__cause__, KeyError)  # GEOBENCH_DEBUG=1 shows the plugin's own traceback
    after = sorted(p.name for p in tmp_path.rglob("*") if not p.name.endswith(".partial"))
    assert [n for n in after if n == "results.json"] == [n for n in before if n == "results.json"]


def test_a_bad_model_registration_is_named_and_the_builtin_presets_still_load(capsys):
    reg = plugin_manager.load(extra=[("acme-models", BadPresets())])
    assert "plugin 'acme-models' failed" in capsys.readouterr().err
    assert "miniHui/Geo-R1" in reg.presets and "tiny" in reg.models
    with pytest.raises(GeobenchError, match="acme-models"):
        plugin_manager.load(strict=True, extra=[("acme-models", BadPresets())])
