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


def run_cli(*args: str, env: dict | None = None, cwd: str | Path | None = None, timeout: float = 300):
    """Run `geobench ARGS` in a fresh process (the way a user does) and return the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "geobench", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)
