"""The `hf` plugin: registers the transformers backend (`geobench.plugins.hf.backend`), imported on first use.

This module stays light (stdlib + geobench core): every `geobench` command imports it to read the registry.
`from geobench.plugins.hf import HFBackend` still works; it imports the backend (and torch) on access.
"""

from __future__ import annotations

import importlib

from geobench.hookspecs import hookimpl

BACKEND = "geobench.plugins.hf.backend:HFBackend"


@hookimpl
def geobench_register_backends(register):
    register(BACKEND, name="hf")


def __getattr__(name: str):
    """`HFBackend` on first access (PEP 562): the public import path stays, the entry point stays light."""
    if name == "HFBackend":
        return importlib.import_module(f"{__name__}.backend").HFBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
