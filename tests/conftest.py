"""Shared fixtures. Every test runs with its own GEOBENCH_HOME so nothing touches ~/.cache or the network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    """One GEOBENCH_HOME per test session: toy data and the tiny model are built once."""
    home = tmp_path_factory.mktemp("geobench_home")
    os.environ["GEOBENCH_HOME"] = str(home)
    return home


@pytest.fixture(autouse=True)
def _isolated(session_home, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOBENCH_HOME", str(session_home))
    monkeypatch.setenv("GEOBENCH_CACHE", str(tmp_path / "responses.sqlite"))
    monkeypatch.delenv("GEOBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GEOBENCH_STRICT_PLUGINS", raising=False)
    from geobench import plugin_manager

    plugin_manager.set_registry(None)
    yield
    plugin_manager.set_registry(None)


@pytest.fixture(scope="session")
def tiny_model_path(session_home) -> str:
    """The built-in tiny Qwen2.5-VL, built once per session into the session's GEOBENCH_HOME."""
    from geobench.tinymodel import build_tiny_model

    return build_tiny_model(str(session_home / "tiny-model"))


@pytest.fixture(scope="session")
def crossview_scaffold(tmp_path_factory, session_home):
    """`crossview_scaffold(limit)`: crossview_toy SFT data (short style) for the training tests, built once per
    limit."""
    built: dict[int, Path] = {}

    def make(limit: int) -> Path:
        if limit not in built:
            from geobench.trainers.scaffold import scaffold

            built[limit] = tmp_path_factory.mktemp("scaffold") / "cv"
            scaffold("crossview_toy", built[limit], limit=limit, style="short")
        return built[limit]

    return make


@pytest.fixture(scope="session")
def scaffold_dir(crossview_scaffold) -> Path:
    """8 crossview_toy scaffolding docs (a test module that needs more overrides this fixture)."""
    return crossview_scaffold(8)


def run_cli(*args: str, env: dict | None = None, cwd: str | Path | None = None, timeout: float = 300):
    """Run `geobench ARGS` in a fresh process (the way a user does) and return the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "geobench", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


# ------------------------------------------------------------------------------------------ skips in CI

# In CI (CI=true) a skip is a failure unless it is one of these: CI has no GPU, and never installs vLLM (it has no
# CPU wheel). Everything else a test needs (Chromium, lm-eval, accelerate, mkdocs) `.ci/run` installs, so a skip
# there means a missing install step, and CI must not stay green while checking nothing.
CI_ALLOWED_SKIPS = ("needs CUDA", "vLLM is installed here", "a GPU and vLLM are here", "needs vLLM installed")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (_in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    _fail_skip_in_ci(report)


def _fail_skip_in_ci(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not any(allowed in reason for allowed in CI_ALLOWED_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI ({reason}): .ci/run must install what this test needs"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole file skipped at import (`pytest.importorskip` at its top) is a failure in CI too."""
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped:
        _fail_skip_in_ci(report)
