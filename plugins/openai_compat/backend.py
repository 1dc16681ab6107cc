"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM serve, SGLang, hosted APIs).

One `POST {base_url}/chat/completions` per doc (body: `convert.request_body`; images as data URLs of the
original bytes; greedy sends neutral sampling values, and with `extra_sampling=true` vLLM/SGLang's `top_k` and
`repetition_penalty` explicitly, or the server would apply the checkpoint's defaults), sent with the official
`openai` client (`AsyncOpenAI`, `client.py`: retries, Retry-After, per-try timeout, whole-request deadline,
answer size cap, same-origin only). `concurrency` requests run at once on one event loop in a helper thread;
each completion is checked field by field and yielded as it arrives, so the evaluator caches it at once; the
first failure (or Ctrl-C) ends the run. The key is never a model arg and never appears in errors, the
fingerprint, describe(), samples or the cache (every decoded string is scrubbed of it).

Caching: the fingerprint holds the server (host:port/path), the model name and the server's `GET /models`
entry for it (`id`, `root`, `parent`, `owned_by`; not `created`). Redeploying other weights under the same
name on the same server is not detectable: use `--no-cache` then. User guide: docs (backends page).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from typing import Any

from geobench.api import Backend, Completion, Request
from geobench.args import flag, number
from geobench.errors import GeobenchError
from geobench.plugins.openai_compat.client import (
    DEFAULT_MAX_RESPONSE_MB,
    Client,
    HTTPStatus,
    one_line,
    run_async,
)
from geobench.plugins.openai_compat.convert import model_entries, parse_completion, request_body

KNOWN_ARGS = ("base_url", "concurrency", "timeout", "max_retries", "backoff", "deadline", "max_response_mb",
              "api_key_env", "max_tokens_field", "extra_sampling")
SERVED_FIELDS = ("id", "root", "parent", "owned_by")


def _positive(name: str, value, cast, minimum) -> Any:
    return number(f"openai backend: {name}", value, cast, minimum)


class OpenAIBackend(Backend):
    """Chat completions over HTTP from an OpenAI-compatible server, `concurrency` requests at a time."""

    name = "openai"

    def __init__(self, model: str, batch_size: int | str = 1, base_url: str | None = None, concurrency: int = 8,
                 timeout: float = 60.0, max_retries: int = 5, backoff: float = 1.0,
                 deadline: float | None = None, max_response_mb: float = DEFAULT_MAX_RESPONSE_MB,
                 api_key_env: str = "OPENAI_API_KEY", max_tokens_field: str = "max_tokens",
                 extra_sampling: bool = True, **unknown):
        if unknown:
            # Names only: a value could be a secret (api_key=sk-...).
            extra = ("; the API key is never a model arg (model args are written to results.json): put it in "
                     "$OPENAI_API_KEY or name another variable with api_key_env=NAME") if any(
                "key" in k.lower() or "token" in k.lower() for k in unknown) else ""
            raise GeobenchError(f"unknown model arg{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(map(repr, sorted(unknown)))} for backend 'openai'; "
                                f"known: {', '.join(KNOWN_ARGS)}{extra}")
        if not model or not str(model).strip():
            raise GeobenchError("openai backend: --model must be the served model name")
        self.model_id = str(model)
        self.batch_size = batch_size  # recorded only: one request per doc; `concurrency` sets the parallelism
        self.concurrency = _positive("concurrency", concurrency, int, 1)
        self.timeout = _positive("timeout", timeout, float, 0.001)
        self.max_retries = _positive("max_retries", max_retries, int, 0)
        self.backoff = _positive("backoff", backoff, float, 0.0)
        self.deadline = None if deadline in (None, "") else _positive("deadline", deadline, float, 0.001)
        self.max_response_mb = _positive("max_response_mb", max_response_mb, float, 0.001)
        self.extra_sampling = flag("openai backend: extra_sampling", extra_sampling)
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise GeobenchError(f"openai backend: max_tokens_field must be max_tokens or max_completion_tokens, "
                                f"got {max_tokens_field!r}")
        self.max_tokens_field = max_tokens_field
        self._client = Client(base_url, api_key_env, self.timeout, self.max_retries, self.backoff, self.deadline,
                              self.max_response_mb, self.concurrency)
        self.base_url, self.server = self._client.base_url, self._client.server
        self.api_key_env = self._client.api_key_env
        self._served: dict[str, Any] | None = None
        self._probed = False

    # --------------------------------------------------------------------------------------- identity

    def fingerprint(self) -> dict[str, Any]:
        """backend, server (host:port/path), model name, and the server's own `/models` entry for it."""
        served = self._probe()
        fp: dict[str, Any] = {"backend": self.name, "server": self.server, "model": self.model_id}
        if served:
            fp["served"] = served
        return fp

    def describe(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model_id, "concurrency": self.concurrency,
                "timeout": self.timeout, "max_retries": self.max_retries, "backoff": self.backoff,
                "deadline": self._client.deadline, "max_response_mb": self.max_response_mb,
                "api_key_env": self.api_key_env, "api_key_set": self._client.has_key,
                "max_tokens_field": self.max_tokens_field, "extra_sampling": self.extra_sampling,
                "device": "remote", "served": self._served}

    def _probe(self) -> dict[str, Any] | None:
        """GET /models once: checks the server is up, the key works and the model is served.

        A server that does not list models (404 or another error status) is fine: no `served` info then.
        """
        if self._probed:
            return self._served
        entries = run_async(lambda: self._with_session(self._list_models, fail_fast=True))
        self._probed = True
        if entries is None:
            return None
        ids = [e.get("id") for e in entries]
        if self.model_id not in ids:
            raise self._not_served(ids)
        entry = entries[ids.index(self.model_id)]
        self._served = {k: entry[k] for k in SERVED_FIELDS if entry.get(k) is not None}
        return self._served

    async def _with_session(self, fn, *args, **kwargs):
        api = self._client.session()
        try:
            return await fn(api, *args, **kwargs)
        finally:
            await api.close()

    async def _list_models(self, api, fail_fast: bool = False) -> list[dict] | None:
        """The server's model entries (decoded and scrubbed), or None where it does not list them."""
        try:
            if fail_fast:  # the first contact: a refused connection is a typo, not a hiccup to retry
                quick = api.with_options(max_retries=0)
                try:
                    payload = await self._client.call(lambda: quick.models.with_raw_response.list(extra_headers=self._client.extra_headers()),
                                                      "listing models",
                                                      fail_fast=True)
                except GeobenchError as e:
                    if "cannot reach" in str(e) or "authentication failed" in str(e):
                        raise
                    payload = await self._client.call(lambda: api.models.with_raw_response.list(extra_headers=self._client.extra_headers()),
                                                      "listing models")
            else:
                payload = await self._client.call(lambda: api.models.with_raw_response.list(extra_headers=self._client.extra_headers()),
                                                      "listing models")
        except HTTPStatus:
            return None
        try:
            return model_entries(self._client.decode(payload))
        except ValueError:
            return None

    def _not_served(self, ids: list) -> GeobenchError:
        listed = ", ".join(map(str, ids[:20])) + (f", ... ({len(ids)} in all)" if len(ids) > 20 else "")
        return GeobenchError(f"openai backend: model {self.model_id!r} is not served at {self.server}; "
                             f"served models: {listed or 'none'}", hint="pass one of them as --model")

    # ------------------------------------------------------------------------------------- generation

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON body for one request (images inlined as data URLs)."""
        return request_body(self.model_id, request, self.max_tokens_field, self.extra_sampling)

    def complete(self, request: Request) -> Completion:
        """One request, with retries; the building block of `generate`."""
        return run_async(lambda: self._with_session(self._complete, request))

    async def _complete(self, api, request: Request) -> Completion:
        body = self.body(request)
        model, chat = body.pop("model"), body.pop("messages")
        what = f"chat completion for {request.task}/{request.doc_id}"
        try:  # the exact body goes on the wire: every field but model and messages as extra_body
            payload = await self._client.call(
                lambda: api.chat.completions.with_raw_response.create(model=model, messages=chat, extra_body=body,
                                                                   extra_headers=self._client.extra_headers()),
                what)
        except HTTPStatus as e:
            raise await self._status_error(api, e, request) from None
        try:
            obj = self._client.decode(payload)
        except ValueError:
            text = self._client.scrub(payload[:200].decode("utf-8", "replace"))
            raise GeobenchError(f"openai backend: malformed completion from {self.server}: the answer is not "
                                f"JSON: {one_line(text, 120)}") from None
        return parse_completion(obj, self.server)

    async def _status_error(self, api, e: HTTPStatus, request: Request) -> GeobenchError:
        if e.status == 404:
            try:
                entries = await self._list_models(api)
            except GeobenchError:
                entries = None
            ids = [x.get("id") for x in entries] if entries is not None else None
            if ids is not None and self.model_id not in ids:
                return self._not_served(ids)
            if ids is None:
                return GeobenchError(f"openai backend: HTTP 404 from {self.base_url}/chat/completions"
                                     + (f": {e.message}" if e.message else ""),
                                     hint="check base_url: it usually ends in /v1")
        return GeobenchError(f"openai backend: the server at {self.server} refused the request for "
                             f"{request.task}/{request.doc_id} (HTTP {e.status})"
                             + (f": {e.message}" if e.message else ""))

    def generate(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        """`concurrency` requests at a time; yields (index, Completion) as each finishes. The first failure
        stops the run (completions already yielded are cached by then, so a rerun resumes)."""
        if not requests:
            return
        done: queue.SimpleQueue = queue.SimpleQueue()
        started = threading.Event()
        box: dict[str, Any] = {}

        async def run_all():
            box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
            started.set()
            gate = asyncio.Semaphore(self.concurrency)
            api = self._client.session()

            async def one(i: int):
                async with gate:
                    try:
                        done.put((i, await self._complete(api, requests[i]), None))
                    except asyncio.CancelledError:
                        raise
                    except BaseException as e:  # noqa: BLE001 - handed to the consuming thread
                        done.put((i, None, e))
                        raise

            try:
                async with asyncio.TaskGroup() as group:
                    for i in range(len(requests)):
                        group.create_task(one(i))
            except BaseException:  # noqa: BLE001 - already reported through `done`
                pass
            finally:
                await api.close()

        def main():
            try:
                asyncio.run(run_all())
            except BaseException as e:  # noqa: BLE001
                done.put((-1, None, e))
            finally:
                started.set()

        threading.Thread(target=main, name="geobench-openai", daemon=True).start()
        started.wait()
        try:
            for _ in range(len(requests)):
                i, completion, error = done.get()
                if error is not None:
                    raise error
                yield i, completion
        finally:
            loop, task = box.get("loop"), box.get("task")
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:  # the loop closed meanwhile
                    pass
