"""The `openai` plugin: registers the OpenAI-compatible HTTP backend, imported on first use.

Parts: `backend.py` (the Backend: args, identity, concurrent generation), `client.py` (HTTP with retries and
the API key), `convert.py` (request body and completion JSON). This module stays light (stdlib + core);
`OpenAIBackend`, `image_mime` and `data_url` are still reachable from here, on access.
"""

from __future__ import annotations

import importlib

from geobench.hookspecs import hookimpl

BACKEND = "geobench.plugins.openai_compat.backend:OpenAIBackend"
_PUBLIC = {"OpenAIBackend": "backend", "KNOWN_ARGS": "backend", "image_mime": "convert", "data_url": "convert",
           "to_openai_messages": "convert", "DEFAULT_BASE_URL": "client"}


@hookimpl
def geobench_register_backends(register):
    register(BACKEND, name="openai")


def __getattr__(name: str):
    """The backend's public names on first access (PEP 562): old import paths keep working, this stays light."""
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
