"""The `vllm` plugin: registers the vLLM backend (`geobench.plugins.vllm.backend`), imported on first use.

This module stays light (stdlib + geobench core): every `geobench` command imports it to read the registry.
The backend's public names (`VLLMBackend`, `engine_args`, ...) are still reachable from here, on access.
"""

from __future__ import annotations

import importlib

from geobench.hookspecs import hookimpl

BACKEND = "geobench.plugins.vllm.backend:VLLMBackend"
_PUBLIC = {"VLLMBackend": "backend", "INSTALL_HINT": "backend", "vllm_installed": "backend",
           "DEFAULT_CHUNK_SIZE": "mapping", "KNOWN_ARGS": "mapping", "ENGINE_ARGS": "mapping",
           "engine_args": "mapping", "chunk_size_arg": "mapping", "default_mm_limit": "mapping",
           "sampling_params_kwargs": "mapping", "to_vllm_messages": "mapping", "completion_from_output": "mapping"}


@hookimpl
def geobench_register_backends(register):
    register(BACKEND, name="vllm")


def __getattr__(name: str):
    """The backend's public names on first access (PEP 562): old import paths keep working, this stays light."""
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
