"""The HTTP side of the `openai` backend, on the official `openai` client (AsyncOpenAI and its HTTP stack).

The client's own retry loop retries 408/409/429/5xx, timeouts and dropped connections up to `max_retries`
times, waiting `Retry-After` when the server sends one (geobench's `backoff` doubling, capped at 30 s, when it
does not); anything else, or the last failed try, is a one-line GeobenchError naming the server and the HTTP
status. On top of the client, `GuardedTransport` (every attempt, every redirect hop) makes sure that:

- an attempt ends within `timeout` seconds in all, not per read: a server trickling a byte at a time is cut
  off and the try counts as a timeout; the whole request (all tries and waits) ends within `deadline`;
- an answer is at most `max_response_mb` (before it is decoded; compression is not accepted);
- nothing is sent to an origin (scheme, host, port) other than base_url's: a redirect elsewhere is refused
  before the request leaves, so the API key never follows it.

The API key lives only here. Everything the server says is decoded first and then scrubbed of the key, also in
its escaped forms (`\\u0073k-...`, `%73k-...`), so no written or printed string holds it (`scrub`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import os
import random
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from geobench.errors import GeobenchError

DEFAULT_BASE_URL = "http://localhost:8000/v1"  # vllm serve's default; $OPENAI_BASE_URL overrides it
DEFAULT_MAX_RESPONSE_MB = 8.0  # a 2,048-token answer is ~10-50 KB of JSON: generous, but bounded
RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF = 30.0
MAX_RETRY_WAIT = 60.0  # the longest Retry-After honoured (the client's own cap is higher)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class HTTPStatus(Exception):
    """A non-retryable HTTP status (other than 401/403), classified by the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}")
        self.status, self.message = status, message


class Refused(Exception):
    """Raised by GuardedTransport: not retried, turned into one line by `Client.call`."""


def origin(url) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(str(url))
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.scheme, (parts.hostname or "").lower(), port


class Client:
    """base_url, the API key read from `$api_key_env`, and `call()`: one request with retries and guards."""

    def __init__(self, base_url: str | None, api_key_env: str, timeout: float, max_retries: int, backoff: float,
                 deadline: float | None = None, max_response_mb: float = DEFAULT_MAX_RESPONSE_MB,
                 concurrency: int = 8):
        self.timeout, self.max_retries, self.backoff, self.concurrency = timeout, max_retries, backoff, concurrency
        # Default deadline: every try taking its full timeout, the longest honoured waits between them, 5 s slack.
        self.deadline = deadline or (max_retries + 1) * timeout + max_retries * MAX_RETRY_WAIT + 5.0
        self.max_response_bytes = int(max_response_mb * 2 ** 20)
        self._parse_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self._read_key(api_key_env)

    def _parse_base_url(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(str(base_url).strip())
        # Never echo a URL that carries credentials or a query (it may hold a key).
        if parts.username or parts.password or parts.query or parts.fragment:
            raise GeobenchError("openai backend: base_url must be scheme://host[:port]/path, without credentials "
                                "or a query string (the API key goes in $OPENAI_API_KEY)")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GeobenchError(f"openai backend: bad base_url: expected scheme://host[:port]/path, e.g. "
                                f"{DEFAULT_BASE_URL}")
        path = parts.path.rstrip("/")
        for suffix in ("/chat/completions", "/models"):  # a pasted endpoint URL
            path = path.removesuffix(suffix)
        self._host = parts.hostname
        self.server = f"{parts.netloc}{path}"  # host:port/path: what the fingerprint and errors name
        self.base_url = f"{parts.scheme}://{self.server}"
        self.origin = origin(self.base_url)

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
        self.__pattern = _key_pattern(key) if key else None

    @property
    def has_key(self) -> bool:
        return self.__key is not None

    # ------------------------------------------------------------------------------------------ scrubbing

    def scrub(self, value: Any) -> Any:
        """`value` (a decoded JSON value or text) with the key, literal or escaped, replaced by ***."""
        if self.__pattern is None:
            return value
        if isinstance(value, str):
            return self.__pattern.sub("***", value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        return value

    def decode(self, payload: bytes) -> Any:
        """A server's JSON answer, decoded, then scrubbed; `ValueError` if it is not JSON."""
        return self.scrub(json.loads(payload))

    # ---------------------------------------------------------------------------------------- the client

    def session(self, concurrency: int | None = None):
        """A new AsyncOpenAI bound to the running event loop (close it with `await api.close()`)."""
        try:
            import httpx2
            import openai  # noqa: F401
        except ImportError:
            raise GeobenchError("the openai backend needs the official openai client",
                                hint="pip install 'geobench[openai]'") from None

        transport = GuardedTransport(self, concurrency or self.concurrency)
        http = httpx2.AsyncClient(transport=transport, follow_redirects=True, max_redirects=5,
                                  timeout=httpx2.Timeout(self.timeout, connect=min(self.timeout, 10.0)))
        headers: dict[str, Any] = {"Accept-Encoding": "identity", "User-Agent": "geobench"}
        api = _AsyncOpenAI(base_url=self.base_url, api_key=self.__key or "no-key", max_retries=self.max_retries,
                           timeout=httpx2.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                           http_client=http, default_headers=headers)
        api.geobench_backoff = self.backoff
        return api

    def extra_headers(self) -> dict[str, Any]:
        """Per-request headers: with no key, the Authorization header explicitly left out."""
        from openai import Omit

        return {} if self.__key else {"Authorization": Omit()}

    async def call(self, send: Callable[[], Awaitable[Any]], what: str, fail_fast: bool = False) -> Any:
        """Await `send()` (a raw-response call of `api`) under the deadline; returns the decoded, scrubbed
        JSON of a 2xx answer. Failures are one-line GeobenchErrors; a status that is not retried (other than
        401/403) is an `HTTPStatus` for the caller to word."""
        import openai

        tries = self.max_retries + 1
        after = f"after {tries} attempt{'s' if tries > 1 else ''}"
        try:
            async with asyncio.timeout(self.deadline):
                raw = await send()
                payload = await raw.http_response.aread()
        except TimeoutError:
            raise GeobenchError(f"openai backend: {what} at {self.server} did not finish within the "
                                f"{self.deadline:g} s deadline (tries, waits and slow answers together)",
                                hint="raise timeout=, max_retries= or deadline= in --model-args") from None
        except Refused as e:
            raise GeobenchError(f"openai backend: {what} at {self.server}: {self.scrub(str(e))}") from None
        except openai.APIStatusError as e:
            raise self._status_error(e, what, after) from None
        except openai.APITimeoutError:
            raise GeobenchError(f"openai backend: {what} at {self.server} failed {after}: no response within "
                                f"{self.timeout:g} s (timeout)") from None
        except openai.APIConnectionError as e:
            if isinstance(e.__cause__, Refused):
                raise GeobenchError(f"openai backend: {what} at {self.server}: {self.scrub(str(e.__cause__))}") \
                    from None
            reason = _reason(e)
            if fail_fast and reason in ("connection refused", "unknown host"):
                raise GeobenchError(f"openai backend: cannot reach the server at {self.base_url} ({reason})",
                                    hint="is it running? check base_url") from None
            raise GeobenchError(f"openai backend: {what} at {self.server} failed {after}: "
                                f"{self.scrub(reason)}") from None
        if len(payload) > self.max_response_bytes:  # the transport caps the wire bytes; this, the decoded ones
            raise GeobenchError(self.too_large(what, len(payload)))
        return payload

    def too_large(self, what: str, n: int) -> str:
        return (f"openai backend: {what}: the answer from {self.server} is larger than max_response_mb="
                f"{self.max_response_bytes / 2 ** 20:g} ({n} bytes or more); refused")

    def _status_error(self, e, what: str, after: str) -> Exception:
        status = e.status_code
        try:
            body = e.response.content
        except Exception:  # noqa: BLE001 - a body that cannot be read says nothing
            body = b""
        message = self.server_message(body)
        if status in (401, 403):
            return GeobenchError(f"openai backend: authentication failed at {self.server} (HTTP {status}): set "
                                 f"{self.api_key_env} to a valid API key for this server")
        if 300 <= status < 400:
            return GeobenchError(f"openai backend: {what} at {self.server}: HTTP {status} redirect that was not "
                                 f"followed", hint="set base_url to the address the server redirects to")
        if (status in RETRY_STATUS or status >= 500) and _error_code(body) != "insufficient_quota":
            return GeobenchError(f"openai backend: {what} at {self.server} failed {after}: HTTP {status}"
                                 + (f": {message}" if message else ""))
        return HTTPStatus(status, message)

    def server_message(self, payload: bytes) -> str:
        """The error message in an OpenAI-, vLLM- or FastAPI-shaped error body, else its text; scrubbed."""
        text = payload[:65536].decode("utf-8", "replace")
        try:
            obj = self.decode(text)
        except ValueError:
            return one_line(self.scrub(text))
        if isinstance(obj, dict):
            err = obj.get("error")
            for candidate in (err.get("message") if isinstance(err, dict) else err, obj.get("message"),
                              obj.get("detail")):
                if candidate:
                    return one_line(candidate if isinstance(candidate, str) else json.dumps(candidate))
        return one_line(self.scrub(text))


def _async_openai():
    from openai import AsyncOpenAI

    class GeobenchAsyncOpenAI(AsyncOpenAI):
        """AsyncOpenAI with geobench's backoff between tries when the server sends no usable Retry-After,
        and no retry of an `insufficient_quota` 429 (waiting does not add credit)."""

        geobench_backoff = 1.0

        def _calculate_retry_timeout(self, remaining_retries, options, response_headers=None) -> float:
            wait = self._parse_retry_after_header(response_headers)
            if wait is not None and math.isfinite(wait) and 0 <= wait <= MAX_RETRY_WAIT:
                return wait
            attempt = options.get_max_retries(self.max_retries) - remaining_retries
            return min(MAX_BACKOFF, self.geobench_backoff * 2 ** min(attempt, 30)) * random.uniform(0.5, 1.0)

        def _should_retry(self, response) -> bool:
            if response.status_code == 429 and _error_code(response.content) == "insufficient_quota":
                return False
            return super()._should_retry(response)

    return GeobenchAsyncOpenAI


def _AsyncOpenAI(**kwargs):  # noqa: N802 - a class built on first use: `openai` is imported lazily
    global _CLIENT_CLASS
    if _CLIENT_CLASS is None:
        _CLIENT_CLASS = _async_openai()
    return _CLIENT_CLASS(**kwargs)


_CLIENT_CLASS = None


def _guarded_transport_class():
    import httpx2

    class Guarded(httpx2.AsyncBaseTransport):
        """Every attempt and redirect hop: same origin as base_url only, the answer read whole within `timeout`
        seconds and at most `max_response_bytes`; a breach of the time limit is a timeout the client retries."""

        def __init__(self, client: Client, concurrency: int):
            proxy = None
            if not _is_loopback(client._host) and not urllib.request.proxy_bypass(client._host):
                proxy = urllib.request.getproxies().get(client.origin[0])
            self._inner = httpx2.AsyncHTTPTransport(
                limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                proxy=proxy)
            self._client = client

        async def handle_async_request(self, request):
            c = self._client
            if origin(request.url) != c.origin:
                scheme, host, port = origin(request.url)
                raise Refused(f"the server redirected to {scheme}://{host}:{port}, another origin than base_url; "
                              f"not followed (the API key is only ever sent to base_url)")
            try:
                async with asyncio.timeout(c.timeout):
                    response = await self._inner.handle_async_request(request)
                    try:
                        length = int(response.headers.get("Content-Length") or 0)
                    except ValueError:
                        length = 0
                    if length > c.max_response_bytes:
                        await response.aclose()
                        raise Refused(c.too_large("the answer", length).removeprefix("openai backend: "))
                    body = bytearray()
                    async for chunk in response.stream:
                        body += chunk
                        if len(body) > c.max_response_bytes:
                            await response.aclose()
                            raise Refused(c.too_large("the answer", len(body)).removeprefix("openai backend: "))
                    await response.aclose()
            except TimeoutError:
                raise httpx2.ReadTimeout(f"no complete answer within {c.timeout:g} s", request=request) from None
            return httpx2.Response(response.status_code, headers=response.headers, content=bytes(body),
                                   extensions=response.extensions, request=request)

        async def aclose(self) -> None:
            await self._inner.aclose()

    return Guarded


def GuardedTransport(client: Client, concurrency: int):  # noqa: N802 - see _guarded_transport_class
    return _guarded_transport_class()(client, concurrency)


def run_async(factory: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine to completion on a fresh event loop in its own thread (callers may be inside a loop)."""
    box: dict[str, Any] = {}

    def main():
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = e

    t = threading.Thread(target=main, name="geobench-openai", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _key_pattern(key: str) -> re.Pattern:
    """The key with each character also matched as a JSON escape (\\u0073) or a percent escape (%73)."""
    def alternatives(ch: str) -> str:
        code = ord(ch)
        forms = [re.escape(ch), f"\\\\u{code:04x}", f"%{code:02x}"] if code < 0x10000 else [re.escape(ch)]
        if ch == "/":
            forms.append(r"\\/")
        return "(?:" + "|".join(forms) + ")"

    return re.compile("".join(alternatives(ch) for ch in key), re.IGNORECASE if key.isascii() else 0)


def _error_code(payload: bytes) -> str | None:
    try:
        err = json.loads(payload).get("error")
    except (ValueError, AttributeError, TypeError):
        return None
    return err.get("code") if isinstance(err, dict) and isinstance(err.get("code"), str) else None


def _reason(e: BaseException) -> str:
    """A short phrase for a connection-level failure (the chain of causes, innermost first)."""
    import socket

    chain, seen = [], e
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for inner in chain:
        if isinstance(inner, ConnectionRefusedError) or "connection refused" in str(inner).lower() \
                or "connect call failed" in str(inner).lower():
            return "connection refused"
        if isinstance(inner, socket.gaierror) or "name or service not known" in str(inner).lower():
            return "unknown host"
    for inner in chain:
        if "disconnect" in str(inner).lower() or isinstance(inner, ConnectionResetError | BrokenPipeError):
            return "connection closed by the server"
    inner = chain[-1]
    return one_line(getattr(inner, "strerror", None) or str(inner) or type(inner).__name__, 120)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
