"""Model presets: Geo-R1 and the Qwen2.5-VL-Instruct models are ready to run where their weights exist, fail in
one line saying how to get them where they do not, and plugins can add presets of their own."""

from __future__ import annotations

import json
import shutil
import time

import pytest

import geobench
from conftest import run_cli
from geobench import hookimpl, plugin_manager
from geobench.errors import GeobenchError
from geobench.plugins.model_presets import THINK_ANSWER
from geobench.presets import ModelPreset, with_suffix

GEO_R1 = "miniHui/Geo-R1"
SUFFIX = "First output the thinking process in <think> </think> tags"


class Plain(geobench.Task):
    """A third-party task whose prompt lacks Geo-R1's instruction."""

    name, version = "plain", "1"

    def docs(self, split=None, limit=None):
        return [geobench.Doc(id=str(i), fields={}) for i in range(2)]

    def to_messages(self, doc):
        return geobench.user(f"Question {doc.id}?")

    def score(self, doc, completion):
        return {"acc": 0.0}


class Recorder(geobench.Backend):
    name = "recorder"

    def __init__(self):
        self.requests = []

    def fingerprint(self):
        return None

    def generate(self, requests):
        self.requests += requests
        for i, _ in enumerate(requests):
            yield i, geobench.Completion(text="<answer>A</answer>")


def test_builtin_presets_are_registered_with_their_settings():
    reg = plugin_manager.load()
    assert {GEO_R1, "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct"} <= set(reg.presets)
    geo = reg.presets[GEO_R1]
    assert geo.gen_kwargs["max_new_tokens"] == 2048 and SUFFIX in geo.prompt_suffix
    assert geo.model_args == {"dtype": "bfloat16", "min_pixels": 3136, "max_pixels": 12845056}
    assert reg.presets["Qwen/Qwen2.5-VL-7B-Instruct"].prompt_suffix == ""
    assert reg.preset("minihui/geo-r1")[0] == GEO_R1  # hub ids are case-insensitive
    with pytest.raises(GeobenchError, match="unknown preset 'miniHui/Geo-R2'.*did you mean"):
        reg.preset("miniHui/Geo-R2")


def test_a_preset_never_enables_remote_code_and_checks_its_settings():
    with pytest.raises(GeobenchError, match="may not set trust_remote_code"):
        ModelPreset(model_args={"trust_remote_code": True})
    with pytest.raises(GeobenchError, match="unknown generation setting 'max_tokens'"):
        ModelPreset(gen_kwargs={"max_tokens": 10})


def test_suffix_is_added_once_and_user_settings_win():
    be = Recorder()
    geobench.evaluate(be, [Plain()], preset=GEO_R1, output=None, progress=False)
    geobench.evaluate(be, "geoloc_toy", preset=GEO_R1, limit=1, gen_kwargs="max_new_tokens=7", output=None,
                      progress=False)
    plain, geoloc = be.requests[0], be.requests[-1]
    assert plain.messages[0]["content"][-1]["text"] == f"Question 0? {THINK_ANSWER}"
    assert plain.gen.max_new_tokens == 2048 and geoloc.gen.max_new_tokens == 7
    assert json.dumps(geoloc.messages, default=str).count(SUFFIX) == 1  # the task's prompt has it already
    msgs = geobench.user("Where?")
    assert with_suffix(with_suffix(msgs, "Think."), "Think.") == geobench.user("Where? Think.")


def test_presets_apply_by_model_name_and_a_plugin_can_add_one(tmp_path):
    class MyPresets:
        @hookimpl
        def geobench_register_models(self, register):
            register("acme/Geo-7B", preset=ModelPreset(prompt_suffix="Be brief.", gen_kwargs={"max_new_tokens": 33},
                                                       model_args={"max_pixels": 1000}))

    reg = plugin_manager.load(extra=[("acme", MyPresets())])
    res = geobench.evaluate("acme/Geo-7B", [Plain()], backend="dummy", output=None, progress=False, registry=reg)
    assert res["config"]["preset"] == "acme/Geo-7B" and res["config"]["gen_kwargs"] == {"max_new_tokens": 33}
    assert res["config"]["model_args"] == {}, "model args go only to backends that load weights"
    off = geobench.evaluate("acme/Geo-7B", [Plain()], backend="dummy", output=None, progress=False, registry=reg,
                            preset="none")
    assert off["config"]["preset"] is None and off["config"]["gen_kwargs"] == {}


@pytest.mark.slow
def test_geo_r1_without_weights_or_network_fails_in_one_line(tmp_path):
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HOME": str(tmp_path / "hf")}
    for extra in ({"HF_HUB_OFFLINE": "1"},  # offline mode
                  {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}):  # no route to the hub
        t0 = time.time()
        r = run_cli("eval", "--model", GEO_R1, "--tasks", "all", "-o", str(tmp_path / "out"), env={**env, **extra})
        # 60 s: a hang guard (a download retried against an unreachable hub), not a speed check
        assert r.returncode == 2 and "Traceback" not in r.stderr and time.time() - t0 < 60
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1, r.stderr
        assert f"hf download {GEO_R1}" in lines[0] and "local folder" in lines[0]
    assert not list((tmp_path / "out").glob("*/results.json"))


@pytest.mark.slow
def test_geo_r1_from_a_local_hf_cache_just_runs(tiny_model_path, tmp_path):
    """The tiny model saved under Geo-R1's hub name in an HF cache folder stands in for the real weights."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--miniHui--Geo-R1"
    shutil.copytree(tiny_model_path, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    out = tmp_path / "out"
    r = run_cli("eval", "--model", GEO_R1, "--tasks", "geoloc_toy", "--limit", "2", "--gen-kwargs",
                "max_new_tokens=3", "-o", str(out), "-q", env={"HF_HUB_CACHE": str(tmp_path / "hub"),
                                                              "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    cfg = json.loads(next(out.glob("*/results.json")).read_text())["config"]
    assert cfg["preset"] == GEO_R1 and cfg["model"] == GEO_R1
    assert cfg["model_args"] == {"dtype": "bfloat16", "min_pixels": 3136, "max_pixels": 12845056}
    assert cfg["gen_kwargs"] == {"max_new_tokens": 3}  # the user's setting over the preset's 2048
    assert cfg["backend_config"]["dtype"] == "bfloat16" and cfg["backend_config"]["max_pixels"] == 12845056
    assert cfg["model_fingerprint"]["model"] == GEO_R1 and cfg["model_fingerprint"]["commit"] == commit
