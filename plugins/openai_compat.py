"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM serve, SGLang, hosted APIs).

    geobench eval --backend openai --model <served model name> --tasks all \\
        --model-args base_url=http://127.0.0.1:8000/v1,concurrency=8,timeout=60,max_retries=5

What is sent, per request, to `POST {base_url}/chat/completions` (one request per doc, never batched):
- `messages`: the task's chat; text parts as `{"type": "text", "text": ...}`, images as
  `{"type": "image_url", "image_url": {"url": "data:<mime>;base64,..."}}` carrying the original file bytes
  (format detected from the bytes; nothing is re-encoded or resized: the server's processor does that).
- `max_tokens` = max_new_tokens (`max_tokens_field=max_completion_tokens` for OpenAI reasoning models, which
  refuse `max_tokens`; vLLM and SGLang accept both), `temperature` (0 when greedy), `top_p` (1 when greedy),
  `seed` when set, `stop` when set.
- With `extra_sampling=true` (default) also vLLM/SGLang's `top_k` (-1 = off) and `repetition_penalty`, always
  with explicit neutral values: vLLM serve otherwise applies the checkpoint's generation_config.json defaults
  (Qwen2.5-VL ships repetition_penalty 1.05), and greedy results would differ from the `hf` backend. Set
  `extra_sampling=false` for servers that reject unknown fields (api.openai.com); a request that then needs
  top_k or repetition_penalty is a one-line error rather than a silently different sampler.

The API key is read from the environment (`OPENAI_API_KEY`, or the variable named by `api_key_env=NAME`) and
sent only as `Authorization: Bearer ...`; it is never a model arg (model args are written to results.json),
and it never appears in errors, the fingerprint or describe(). No key set: no Authorization header (a local
`vllm serve` without `--api-key` needs none).

Requests run in `concurrency` worker threads and each completion is yielded as it arrives (in any order), so
the evaluator caches it at once. 408/409/429/5xx, timeouts and dropped connections are retried up to
`max_retries` times with exponential backoff and jitter (`backoff` seconds doubling, capped at 30 s), or
after `Retry-After` when the server sends one. Anything else, or the last failed try, is a one-line error
naming the server and the HTTP status. The workers are daemon threads (not a ThreadPoolExecutor) so that an
error or Ctrl-C ends the process at once instead of joining requests still in flight.

Caching: a remote model can change behind its name. The fingerprint holds the server (host:port/path), the
model name and what `GET /models` says about it (`id`, `root` -- vLLM's weights path or hub id --, `parent`,
`owned_by`; not `created`, which vLLM sets to the time of the request). Redeploying other weights under the
same name and path on the same server is not detectable: use `--no-cache` (or a new served name) then.

Standard library only (urllib): no torch, no openai client.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import ipaddress
import json
import os
import queue
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from geobench.api import Backend, Completion, ImageRef, Request
from geobench.errors import GeobenchError
from geobench.hookspecs import hookimpl

KNOWN_ARGS = ("base_url", "concurrency", "timeout", "max_retries", "backoff", "api_key_env",
              "max_tokens_field", "extra_sampling")
DEFAULT_BASE_URL = "http://localhost:8000/v1"  # vllm serve's default; $OPENAI_BASE_URL overrides it
RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0
SERVED_FIELDS = ("id", "root", "parent", "owned_by")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Magic numbers of the formats vision servers decode; PIL is the fallback for anything else.
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
         (b"GIF89a", "image/gif"), (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


class _Stopped(Exception):
    """A worker's retry wait was cut short because the run is ending."""


# ------------------------------------------------------------------------------------------------ helpers


def image_mime(raw: bytes) -> str | None:
    """The MIME type of encoded image bytes, from magic numbers (PIL for rarer formats); None if unknown."""
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in MAGIC:
        if raw.startswith(magic):
            return mime
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            return Image.MIME.get(img.format or "")
    except Exception:  # noqa: BLE001 - unknown format: the caller raises one line
        return None


def data_url(ref: ImageRef) -> str:
    """`data:<mime>;base64,<the original bytes>`; an empty or unrecognisable image is a one-line error."""
    raw = ref.read_bytes()
    where = ref.path or "<bytes>"
    if not raw:
        raise GeobenchError(f"image is empty (0 bytes): {where}")
    mime = image_mime(raw)
    if mime is None:
        raise GeobenchError(f"cannot tell the image format of {where} (not PNG, JPEG, WEBP, GIF, BMP or TIFF)")
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _server_message(payload: bytes) -> str:
    """The error message in an OpenAI-, vLLM- or FastAPI-shaped error body, else its text."""
    text = payload.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        return _one_line(text)
    if isinstance(obj, dict):
        err = obj.get("error")
        for candidate in (err.get("message") if isinstance(err, dict) else err, obj.get("message"), obj.get("detail")):
            if candidate:
                return _one_line(candidate if isinstance(candidate, str) else json.dumps(candidate))
    return _one_line(text)


def _error_code(payload: bytes) -> str | None:
    try:
        err = json.loads(payload).get("error")
    except (ValueError, AttributeError):
        return None
    return err.get("code") if isinstance(err, dict) and isinstance(err.get("code"), str) else None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; None if absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _reason(e: BaseException) -> str:
    """A short phrase for a connection-level failure."""
    inner = e.reason if isinstance(e, urllib.error.URLError) and isinstance(e.reason, BaseException) else e
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, socket.gaierror):
        return "unknown host"
    if isinstance(inner, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return "connection closed by the server"
    text = getattr(inner, "strerror", None) or str(getattr(e, "reason", None) or inner) or type(inner).__name__
    return _one_line(text, 120)


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, TimeoutError) or (isinstance(e, urllib.error.URLError) and isinstance(e.reason, TimeoutError))


def _is_unreachable(e: BaseException) -> bool:
    """Connection refused or an unknown host name."""
    inner = e.reason if isinstance(e, urllib.error.URLError) else e
    return isinstance(inner, ConnectionRefusedError | socket.gaierror)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(name: str, value, cast, minimum) -> Any:
    try:
        v = cast(value)
    except (TypeError, ValueError):
        raise GeobenchError(f"openai backend: {name} must be a number, got {value!r}") from None
    if v < minimum:
        raise GeobenchError(f"openai backend: {name} must be >= {minimum}, got {value!r}")
    return v


def _flag(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    raise GeobenchError(f"openai backend: {name} must be true or false, got {value!r}")


# ---------------------------------------------------------------------------------------------- backend


class OpenAIBackend(Backend):
    """Chat completions over HTTP from an OpenAI-compatible server, `concurrency` requests at a time."""

    name = "openai"

    def __init__(self, model: str, batch_size: int | str = 1, base_url: str | None = None, concurrency: int = 8,
                 timeout: float = 60.0, max_retries: int = 5, backoff: float = 1.0,
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
        self.extra_sampling = _flag("extra_sampling", extra_sampling)
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise GeobenchError(f"openai backend: max_tokens_field must be max_tokens or max_completion_tokens, "
                                f"got {max_tokens_field!r}")
        self.max_tokens_field = max_tokens_field
        self._parse_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self._read_key(api_key_env)
        self._served: dict[str, Any] | None = None
        self._probed = False
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self._host) else []
        self._opener = urllib.request.build_opener(*handlers)

    def _parse_base_url(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(str(base_url).strip())
        # Never echo a URL that carries credentials or a query (it may hold a key).
        if parts.username or parts.password or parts.query or parts.fragment:
            raise GeobenchError("openai backend: base_url must be scheme://host[:port]/path, without credentials "
                                "or a query string (the API key goes in $OPENAI_API_KEY)")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GeobenchError(f"openai backend: bad base_url: expected scheme://host[:port]/path, e.g. "
                                f"{DEFAULT_BASE_URL}")
        path = parts.path.rstrip("/")
        for suffix in ("/chat/completions", "/models"):  # a pasted endpoint URL
            path = path.removesuffix(suffix)
        self._host = parts.hostname
        self.server = f"{parts.netloc}{path}"  # host:port/path: what the fingerprint and errors name
        self.base_url = f"{parts.scheme}://{self.server}"

    def _read_key(self, api_key_env: str) -> None:
        name = str(api_key_env)
        if not ENV_NAME.fullmatch(name):
            raise GeobenchError("openai backend: api_key_env must be the name of an environment variable "
                                "(letters, digits, _), not the key itself")
        self.api_key_env = name
        key = os.environ.get(name) or None
        if key is None and name != "OPENAI_API_KEY":
            shown = f" ${name}" if len(name) <= 40 and name.isupper() else ""
            raise GeobenchError(f"openai backend: api_key_env names an environment variable that is not set{shown}")
        self.__key = key

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
                "api_key_env": self.api_key_env, "api_key_set": self.__key is not None,
                "max_tokens_field": self.max_tokens_field, "extra_sampling": self.extra_sampling,
                "device": "remote", "served": self._served}

    def _probe(self) -> dict[str, Any] | None:
        """GET /models once: checks the server is up, the key works and the model is served.

        A server that does not list models (404 or another error status) is fine: no `served` info then.
        """
        if self._probed:
            return self._served
        try:
            payload = self._request("GET", "/models", None, threading.Event(), what="listing models",
                                    retry_refused=False)
        except _HTTPStatus:
            payload = None
        self._probed = True
        entries = _model_entries(payload) if payload is not None else None
        if entries is None:
            return None
        ids = [e.get("id") for e in entries]
        if self.model_id not in ids:
            raise self._not_served(ids)
        entry = entries[ids.index(self.model_id)]
        self._served = {k: entry[k] for k in SERVED_FIELDS if entry.get(k) is not None}
        return self._served

    def _not_served(self, ids: list) -> GeobenchError:
        listed = ", ".join(map(str, ids[:20])) + (f", ... ({len(ids)} in all)" if len(ids) > 20 else "")
        return GeobenchError(f"openai backend: model {self.model_id!r} is not served at {self.server}; "
                             f"served models: {listed or 'none'}", hint="pass one of them as --model")

    # ------------------------------------------------------------------------------------------- HTTP

    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def _scrub_bytes(self, payload: bytes) -> bytes:
        """The key out of a server's answer before any of it is shortened or shown (a gateway may echo it)."""
        return payload.replace(self.__key.encode(), b"***") if self.__key else payload

    def _send(self, method: str, path: str, data: bytes | None) -> tuple[int, Any, bytes]:
        headers = {"Accept": "application/json", "User-Agent": "geobench"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()

    def _request(self, method: str, path: str, data: bytes | None, stop: threading.Event, what: str,
                 retry_refused: bool = True) -> bytes:
        """One call with retries; returns the 2xx body. Final failures are one-line GeobenchErrors."""
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                status, headers, payload = self._send(method, path, data)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                if _is_timeout(e):
                    last = f"no response within {self.timeout:g} s (timeout)"
                else:
                    last = self._scrub(_reason(e))
                    if not retry_refused and _is_unreachable(e):  # the first contact: a typo, not a hiccup
                        raise GeobenchError(f"openai backend: cannot reach the server at {self.base_url} ({last})",
                                            hint="is it running? check base_url") from None
                delay = self._delay(attempt, None)
            else:
                if 200 <= status < 300:
                    return self._scrub_bytes(payload)  # what the server says ends up in results and samples
                message = _server_message(self._scrub_bytes(payload))
                if status in (401, 403):
                    raise GeobenchError(
                        f"openai backend: authentication failed at {self.server} (HTTP {status}): set "
                        f"{self.api_key_env} to a valid API key for this server") from None
                if (status in RETRY_STATUS or status >= 500) and _error_code(payload) != "insufficient_quota":
                    last = f"HTTP {status}" + (f": {message}" if message else "")
                    delay = self._delay(attempt, headers.get("Retry-After") if headers else None)
                else:
                    raise _HTTPStatus(status, message)
            if attempt == self.max_retries:
                break
            if stop.wait(delay):
                raise _Stopped
        tries = self.max_retries + 1
        raise GeobenchError(f"openai backend: {what} at {self.server} failed after {tries} "
                            f"attempt{'s' if tries > 1 else ''}: {last}") from None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        honoured = _retry_after(retry_after)
        if honoured is not None:
            return honoured
        return min(MAX_BACKOFF, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)

    # ------------------------------------------------------------------------------------- generation

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON body for one request (images inlined as data URLs)."""
        gen = request.gen
        sampling = gen.do_sample and gen.temperature > 0
        body: dict[str, Any] = {"model": self.model_id, "messages": to_openai_messages(request.messages),
                                self.max_tokens_field: gen.max_new_tokens,
                                "temperature": gen.temperature if sampling else 0.0,
                                "top_p": gen.top_p if sampling else 1.0}
        top_k = gen.top_k if sampling and gen.top_k > 0 else -1
        if self.extra_sampling:
            body["top_k"] = top_k
            body["repetition_penalty"] = gen.repetition_penalty
        elif top_k != -1 or gen.repetition_penalty != 1.0:
            raise GeobenchError("openai backend: top_k and repetition_penalty need extra_sampling=true "
                                "(a vLLM/SGLang server); this request sets them")
        if gen.seed is not None:
            body["seed"] = gen.seed
        if gen.stop:
            body["stop"] = list(gen.stop)
        return body

    def complete(self, request: Request, stop: threading.Event | None = None) -> Completion:
        """One request, with retries; the building block of `generate`."""
        data = json.dumps(self.body(request), ensure_ascii=False).encode()
        try:
            payload = self._request("POST", "/chat/completions", data, stop or threading.Event(),
                                    what=f"chat completion for {request.task}/{request.doc_id}")
        except _HTTPStatus as e:
            raise self._status_error(e, request) from None
        return self._parse(payload)

    def _status_error(self, e: _HTTPStatus, request: Request) -> GeobenchError:
        if e.status == 404:
            try:
                entries = _model_entries(self._request("GET", "/models", None, threading.Event(),
                                                       what="listing models"))
            except (GeobenchError, _HTTPStatus):
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

    def _parse(self, payload: bytes) -> Completion:
        try:
            obj = json.loads(payload)
            choice = obj["choices"][0]
            content = choice["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise GeobenchError(f"openai backend: unexpected response from {self.server} (not a chat completion): "
                                f"{_one_line(payload.decode('utf-8', 'replace'), 120)}") from None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        usage = obj.get("usage") or {}
        n_tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return Completion(text=content or "", n_tokens=int(n_tokens or 0),
                          finish_reason="length" if choice.get("finish_reason") == "length" else "stop")

    def generate(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        """`concurrency` workers; yields (index, Completion) as each finishes. The first failure stops the run
        (completions already yielded are cached by then, so a rerun resumes)."""
        if not requests:
            return
        jobs: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(requests)):
            jobs.put(i)
        done: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        def work():
            while not stop.is_set():
                try:
                    i = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((i, self.complete(requests[i], stop), None))
                except _Stopped:
                    return
                except BaseException as e:  # noqa: BLE001 - handed to the consuming thread
                    done.put((i, None, e))
                    return

        for k in range(min(self.concurrency, len(requests))):
            threading.Thread(target=work, name=f"geobench-openai-{k}", daemon=True).start()
        try:
            for _ in range(len(requests)):
                i, completion, error = done.get()
                if error is not None:
                    raise error
                yield i, completion
        finally:
            stop.set()


class _HTTPStatus(Exception):
    """A non-retryable HTTP status (other than 401/403), classified by the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}")
        self.status, self.message = status, message


def _model_entries(payload: bytes) -> list[dict] | None:
    """The `data` list of a GET /models answer, or None if it is not one."""
    try:
        data = json.loads(payload).get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return [e for e in data if isinstance(e, dict)]


def to_openai_messages(messages: list[dict]) -> list[dict]:
    """geobench chat (ImageRef parts) -> OpenAI chat (text and image_url parts, images as data URLs)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for c in content:
                kind = c.get("type")
                if kind == "image":
                    parts.append({"type": "image_url", "image_url": {"url": data_url(c["image"])}})
                elif kind == "text":
                    parts.append({"type": "text", "text": c["text"]})
                else:
                    raise GeobenchError(f"openai backend: cannot send a {kind!r} content part")
            content = parts
        out.append({"role": m["role"], "content": content})
    return out


@hookimpl
def geobench_register_backends(register):
    register(OpenAIBackend, name="openai")
