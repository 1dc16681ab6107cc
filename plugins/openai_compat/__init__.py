"""The `openai` plugin: registers the OpenAI-compatible HTTP backend, imported on first use.

Parts: `backend.py` (the Backend: args, identity, concurrent generation), `client.py` (HTTP with retries and
the API key), `convert.py` (request body and completion JSON). This module stays light (stdlib + core);
`OpenAIBackend`, `image_mime` and `data_url` are still reachable from here, on access.
"""

from __future__ import annotations

from geobench.hookspecs import hookimpl
from geobench.lazy import reexport

BACKEND = "geobench.plugins.openai_compat.backend:OpenAIBackend"
_PUBLIC = {"OpenAIBackend": "backend", "KNOWN_ARGS": "backend", "image_mime": "convert", "data_url": "convert",
           "to_openai_messages": "convert", "DEFAULT_BASE_URL": "client"}


@hookimpl
def geobench_register_backends(register):
    register(BACKEND, name="openai")


__getattr__, __dir__ = reexport(__name__, _PUBLIC)
