"""The HTTP side of the `openai` backend: one JSON call to an OpenAI-compatible server, with retries.

408/409/429/5xx, timeouts and dropped connections are retried up to `max_retries` times with exponential
backoff and jitter (`backoff` seconds doubling, capped at 30 s), or after `Retry-After` when the server sends
one; anything else, or the last failed try, is a one-line GeobenchError naming the server and the HTTP status.
The API key lives only here: sent as `Authorization: Bearer ...`, scrubbed from anything the server says.

Standard library only (urllib); a later issue replaces this with the official `openai` client.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from geobench.errors import GeobenchError

DEFAULT_BASE_URL = "http://localhost:8000/v1"  # vllm serve's default; $OPENAI_BASE_URL overrides it
RETRY_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Stopped(Exception):
    """A worker's retry wait was cut short because the run is ending."""


class HTTPStatus(Exception):
    """A non-retryable HTTP status (other than 401/403), classified by the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}")
        self.status, self.message = status, message


class Client:
    """`base_url`, the API key read from `$api_key_env`, and `request()`: one call with retries."""

    def __init__(self, base_url: str | None, api_key_env: str, timeout: float, max_retries: int, backoff: float):
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self._parse_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self._read_key(api_key_env)
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

    @property
    def has_key(self) -> bool:
        return self.__key is not None

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

    def request(self, method: str, path: str, data: bytes | None, stop: threading.Event, what: str,
                retry_refused: bool = True) -> bytes:
        """One call with retries; returns the 2xx body. Final failures are one-line GeobenchErrors; a status
        that is not retried (other than 401/403) is an `HTTPStatus` for the caller to word."""
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
                    raise HTTPStatus(status, message)
            if attempt == self.max_retries:
                break
            if stop.wait(delay):
                raise Stopped
        tries = self.max_retries + 1
        raise GeobenchError(f"openai backend: {what} at {self.server} failed after {tries} "
                            f"attempt{'s' if tries > 1 else ''}: {last}") from None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        honoured = _retry_after(retry_after)
        if honoured is not None:
            return honoured
        return min(MAX_BACKOFF, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _server_message(payload: bytes) -> str:
    """The error message in an OpenAI-, vLLM- or FastAPI-shaped error body, else its text."""
    text = payload.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        return one_line(text)
    if isinstance(obj, dict):
        err = obj.get("error")
        for candidate in (err.get("message") if isinstance(err, dict) else err, obj.get("message"), obj.get("detail")):
            if candidate:
                return one_line(candidate if isinstance(candidate, str) else json.dumps(candidate))
    return one_line(text)


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
    return one_line(text, 120)


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
