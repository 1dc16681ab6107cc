"""Third-party plugins: pip-installed from a temp dir, found through the entry-point group, and isolated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli
from geobench import GeobenchError, hookimpl, plugin_manager

SIGNS_PLUGIN = '''
import geobench

class StreetSigns(geobench.Task):
    name, version, group = "street_signs", "1.0", "scene"
    higher_is_better = {"acc": True}

    def docs(self, split=None, limit=None):
        for i in range(limit or 5):
            yield geobench.Doc(id=f"s{i}", fields={"answer": "C"})

    def to_messages(self, doc):
        return geobench.user("Which letter is on the sign? Answer in <answer></answer>.")

    def score(self, doc, completion):
        return {"acc": float(geobench.parse.choice(completion, 4) == doc.fields["answer"])}

@geobench.hookimpl
def geobench_register_tasks(register):
    register(StreetSigns, aliases=["signs"])
'''

BROKEN_PLUGIN = "raise RuntimeError('boom at import')\n"


def make_dist(root: Path, dist: str, module: str, source: str, ep_name: str) -> Path:
    """Write a minimal installable distribution that declares one `geobench` entry point."""
    pkg = root / dist
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text(source)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{dist}"
        version = "0.3.1"
        [project.entry-points.geobench]
        {ep_name} = "{module}"
        [tool.setuptools]
        packages = ["{module}"]
    """))
    return pkg


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """pip-install a good and a broken plugin distribution into a separate target folder."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    for dist, module, src, ep in [("geobench-signs", "geobench_signs", SIGNS_PLUGIN, "signs"),
                                  ("geobench-broken", "geobench_broken", BROKEN_PLUGIN, "broken")]:
        pkg = make_dist(root, dist, module, src, ep)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(pkg)], check=True, capture_output=True)
    return target


def with_site(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_installed_plugin_is_listed_and_evaluable(site, tmp_path):
    r = run_cli("tasks", env=with_site(site))
    assert r.returncode == 0, r.stderr
    assert "street_signs" in r.stdout and "geoloc_toy" in r.stdout
    # the broken plugin costs exactly one warning line naming it
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "'broken'" in warnings[0] and "boom at import" in warnings[0]
    assert "Traceback" not in r.stderr

    r = run_cli("plugins", env=with_site(site))
    assert "geobench-signs 0.3.1" in r.stdout and "FAILED" in r.stdout and "built-in" in r.stdout

    r = run_cli("eval", "--model", "<answer>C</answer>", "--backend", "dummy", "--tasks", "signs",
                "--output", str(tmp_path / "res"), "-q", env=with_site(site))
    assert r.returncode == 0, r.stderr
    assert "street_signs" in r.stdout and "1.0000" in r.stdout


def test_strict_plugins_turns_the_warning_into_an_error(site):
    r = run_cli("--strict-plugins", "tasks", env=with_site(site))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("geobench: error: plugin 'broken' failed")


def test_disable_plugins_blocks_by_name(site):
    r = run_cli("tasks", env={**with_site(site), "GEOBENCH_DISABLE_PLUGINS": "broken,signs"})
    assert r.returncode == 0
    assert "warning" not in r.stderr and "street_signs" not in r.stdout and "geoloc_toy" in r.stdout


class RaisesInHook:
    @hookimpl
    def geobench_register_tasks(self, register):
        raise ValueError("bad hook")


class GoodBackend:
    @hookimpl
    def geobench_register_backends(self, register):
        from geobench.plugins.dummy import DummyBackend

        register(DummyBackend, name="dummy2")


def test_plugin_raising_inside_a_hook_is_named_and_others_work(capsys):
    reg = plugin_manager.load(extra=[("raiser", RaisesInHook()), ("good", GoodBackend())])
    err = capsys.readouterr().err
    assert "plugin 'raiser' failed: ValueError: bad hook" in err
    assert "dummy2" in reg.backends and "geoloc_toy" in reg.tasks
    with pytest.raises(GeobenchError, match="raiser"):
        plugin_manager.load(strict=True, extra=[("raiser", RaisesInHook())])


def test_name_clash_is_reported():
    class Clash:
        @hookimpl
        def geobench_register_backends(self, register):
            from geobench.plugins.dummy import DummyBackend

            register(DummyBackend, name="dummy")

    with pytest.raises(GeobenchError, match="clashes"):
        plugin_manager.load(strict=True, extra=[("clash", Clash())])


def test_unknown_names_suggest_the_closest():
    reg = plugin_manager.load()
    with pytest.raises(GeobenchError, match="did you mean 'geoloc_toy'"):
        reg.task("geoloc_tyo")
    with pytest.raises(GeobenchError, match="unknown backend 'hff'"):
        reg.backend("hff")


def test_registered_model_names_resolve_only_for_weight_loading_backends(tmp_path):
    """`--model tiny` means the tiny folder for hf/vllm, but a served model name for a remote backend."""
    import geobench

    seen = {}

    class Remote(geobench.Backend):
        name = "remote"

        def __init__(self, model, batch_size=1):
            seen["model"] = model

        def fingerprint(self):
            return None

        def generate(self, requests):
            for i, _ in enumerate(requests):
                yield i, geobench.Completion(text="<answer>A</answer>")

    class Plugin:
        @hookimpl
        def geobench_register_backends(self, register):
            register(Remote)

    reg = plugin_manager.load(extra=[("remote", Plugin())])
    geobench.evaluate("tiny", "geoloc_toy", backend="remote", limit=1, output=None, progress=False, registry=reg)
    assert seen["model"] == "tiny"
