"""A real OpenAI-compatible HTTP server for the `openai` backend's tests, serving a geobench backend.

`OpenAITestServer(backend, name)` listens on 127.0.0.1 (a free port) in a thread and implements
`POST /v1/chat/completions` (data-URL images decoded back into `ImageRef(data=...)`, the body's sampling fields
turned into a GenConfig, one `backend.generate` call per request, an OpenAI-shaped answer with usage) and
`GET /v1/models`. It is not a mock of the client: the client's real HTTP code talks to it.

For tests it records every request (`received`: method, path, headers, raw body, parsed JSON, decoded images),
tracks the most requests in flight at once (`max_in_flight`), and injects faults: `faults` is a list consumed
one item per chat request, each a dict `{"status": 503, "headers": {...}, "body": {...}}` (answer with that
status), `{"sleep": s}` (wait, then answer normally: timeouts; `release()` ends the wait), `{"after": n}` (answer
only once n other requests have been answered: a deterministic late reply), or `{"close": True}` (drop the
connection).
`gate = n` holds every chat request until n have been in flight at once (at most 20 s from the first held one,
after which the gate stays open: a client that never keeps n in flight makes the test slow, not hung),
`delay` sleeps before every chat request, `api_key` makes it require `Authorization: Bearer <key>` (a wrong key
gets a 401 whose message echoes the key sent, worse than real servers do), `strict=True` rejects fields
api.openai.com does not know (top_k, repetition_penalty), `list_models=False` answers 404 on /v1/models.

Run by hand (e.g. for throughput numbers): `python tests/openai_server.py --model DIR --name tiny-vl --port 8000`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from geobench.api import Backend, GenConfig, ImageRef, Request

OPENAI_FIELDS = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed",
                 "stop", "n", "stream"}
EXTRA_FIELDS = {"top_k", "repetition_penalty"}
DATA_URL = re.compile(r"data:(image/[a-z0-9.+-]+);base64,(.*)", re.S)


class BadRequest(Exception):
    pass


class OpenAITestServer:
    def __init__(self, backend: Backend, name: str = "tiny-vl", root: str | None = None, port: int = 0):
        self.backend, self.name, self.root = backend, name, root
        self.api_key: str | None = None
        self.strict = False
        self.list_models = True
        self.delay = 0.0
        self.gate = 0
        self._gate_since = 0.0
        self.faults: list[dict] = []
        self.received: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.finished = 0  # chat requests answered (or failed) since the last reset
        self._release = threading.Event()  # set by release(): every "sleep" / "after" fault returns now
        self._epoch = 0  # bumped by reset(): a slow request of an earlier test does not count in this one
        self._lock = threading.Lock()  # state
        self._gen_lock = threading.Lock()  # one generation at a time: the backend is not thread-safe
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        with self._lock:
            self.api_key, self.strict, self.list_models, self.delay, self.gate = None, False, True, 0.0, 0
            self.faults, self.received, self._gate_since = [], [], 0.0
            self.in_flight = self.max_in_flight = self.finished = 0
            self._epoch += 1

    def release(self) -> None:
        """End every fault still sleeping or waiting (their requests then go on as usual)."""
        with self._lock:
            released, self._release = self._release, threading.Event()
        released.set()

    def chat_requests(self) -> list[dict]:
        return [r for r in self.received if r["path"].endswith("/chat/completions")]

    def start(self) -> OpenAITestServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------------------------------ handlers

    def models(self) -> dict:
        # `created` changes on every call, as vLLM's does: it must not reach the fingerprint.
        return {"object": "list", "data": [{"id": self.name, "object": "model", "created": time.time_ns(),
                                            "owned_by": "geobench-test", "root": self.root, "parent": None,
                                            "permission": [{"id": f"modelperm-{uuid.uuid4().hex}"}]}]}

    def chat(self, body: dict) -> dict:
        if self.strict:
            unknown = sorted(set(body) - OPENAI_FIELDS)
            if unknown:
                raise BadRequest(f"Unrecognized request argument supplied: {unknown[0]}")
        if body.get("model") != self.name:
            raise LookupError(f"The model `{body.get('model')}` does not exist.")
        request = Request("openai-test", uuid.uuid4().hex, to_geobench_messages(body.get("messages")),
                          gen_config(body))
        with self._gen_lock:
            (_, completion), = list(self.backend.generate([request]))
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": self.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                             "finish_reason": completion.finish_reason}],
                "usage": {"prompt_tokens": 0, "completion_tokens": completion.n_tokens,
                          "total_tokens": completion.n_tokens}}


def to_geobench_messages(messages) -> list[dict]:
    """OpenAI chat -> geobench chat; a malformed part or data URL is a 400, as on a real server."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list")
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "text":
                    parts.append({"type": "text", "text": p["text"]})
                elif p.get("type") == "image_url":
                    match = DATA_URL.fullmatch(p["image_url"]["url"])
                    if not match:
                        raise BadRequest("image_url must be a base64 data URL")
                    try:
                        raw = base64.b64decode(match.group(2), validate=True)
                    except binascii.Error:
                        raise BadRequest("bad base64 in image data URL") from None
                    parts.append({"type": "image", "image": ImageRef(data=raw), "mime": match.group(1)})
                else:
                    raise BadRequest(f"unknown content part type {p.get('type')!r}")
            content = parts
        elif not isinstance(content, str):
            raise BadRequest("content must be a string or a list of parts")
        out.append({"role": m["role"], "content": content})
    return out


def gen_config(body: dict) -> GenConfig:
    temperature = float(body.get("temperature", 1.0))
    top_k = int(body.get("top_k", -1))
    stop = body.get("stop") or ()
    return GenConfig(max_new_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 256),
                     do_sample=temperature > 0, temperature=temperature if temperature > 0 else 1.0,
                     top_p=float(body.get("top_p", 1.0)), top_k=max(top_k, 0),
                     repetition_penalty=float(body.get("repetition_penalty", 1.0)), seed=body.get("seed"),
                     stop=(stop,) if isinstance(stop, str) else tuple(stop))


def _handler(server: OpenAITestServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, obj: dict, headers: dict | None = None) -> None:
            self._leave_flight()
            data = json.dumps(obj).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def _error(self, status: int, message: str, kind: str) -> None:
            self._reply(status, {"error": {"message": message, "type": kind, "code": status}})

        def _record(self, body: bytes | None) -> dict:
            # Header names as HTTP/1.1 clients usually spell them (some send them in lower case).
            headers = {"-".join(w.capitalize() for w in k.split("-")): v for k, v in self.headers.items()}
            entry = {"method": self.command, "path": self.path, "headers": headers,
                     "body": body.decode("utf-8", "replace") if body else "", "json": None, "images": []}
            try:
                entry["json"] = json.loads(body) if body else None
            except ValueError:
                pass
            with server._lock:
                server.received.append(entry)
            return entry

        def _authorised(self) -> bool:
            if server.api_key is None:
                return True
            sent = self.headers.get("Authorization", "")  # case-insensitive lookup
            if sent == f"Bearer {server.api_key}":
                return True
            given = sent.removeprefix("Bearer ")
            self._error(401, f"Incorrect API key provided: {given or '(none)'}.\nYou can find your API key at "
                             "https://example.invalid/keys.", "invalid_request_error")
            return False

        def do_GET(self):
            self._record(None)
            if not self._authorised():
                return
            if self.path.rstrip("/") == "/v1/models" and server.list_models:
                self._reply(200, server.models())
            else:
                self._error(404, f"Not Found: {self.path}", "NotFoundError")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            entry = self._record(raw)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"Not Found: {self.path}", "NotFoundError")
                return
            with server._lock:
                self._flight_epoch = server._epoch
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
                fault = server.faults.pop(0) if server.faults else None
            try:
                self._chat(entry, fault)
            finally:
                self._leave_flight()

        def _leave_flight(self) -> None:
            """Stop counting this request as in flight: before its reply is written, since the client may send
            its next request as soon as it has the reply (counting after would over-report by one)."""
            epoch, self._flight_epoch = getattr(self, "_flight_epoch", None), None
            if epoch is not None:
                with server._lock:
                    if server._epoch == epoch:
                        server.in_flight -= 1
                        server.finished += 1

        def _chat(self, entry: dict, fault: dict | None) -> None:
            if server.delay:
                time.sleep(server.delay)
            if server.gate:  # a server that is busy only with `gate` requests in flight: held until then
                with server._lock:
                    server._gate_since = server._gate_since or time.monotonic()
                release, deadline = server._release, server._gate_since + 20
                while server.max_in_flight < server.gate and not release.is_set() and time.monotonic() < deadline:
                    release.wait(0.01)
            if fault and "sleep" in fault:  # a slow or hung server; release() ends it early
                server._release.wait(fault["sleep"])
            if fault and "after" in fault:  # answer only once `after` other requests have been (at most 60 s)
                release, deadline = server._release, time.monotonic() + 60
                while server.finished < fault["after"] and not release.is_set() and time.monotonic() < deadline:
                    release.wait(0.01)
            if fault and fault.get("close"):
                self.close_connection = True
                self.connection.close()
                return
            if fault and "status" in fault:
                self._reply(fault["status"], fault.get("body") or {"error": {"message": "injected fault"}},
                            fault.get("headers"))
                return
            if not self._authorised():
                return
            body = entry["json"]
            if not isinstance(body, dict):
                self._error(400, "body is not JSON", "BadRequestError")
                return
            try:
                messages = to_geobench_messages(body.get("messages"))
                entry["images"] = [(c["mime"], c["image"].data) for m in messages if isinstance(m["content"], list)
                                   for c in m["content"] if c["type"] == "image"]
                answer = server.chat(body)
            except BadRequest as e:
                self._error(400, str(e), "BadRequestError")
            except LookupError as e:
                self._error(404, str(e), "NotFoundError")
            except Exception as e:  # noqa: BLE001 - a server error is a 500, as on a real server
                self._error(500, f"{type(e).__name__}: {e}", "InternalServerError")
            else:
                self._reply(200, answer)

    return Handler


def main() -> None:
    import argparse

    from geobench.plugins.hf import HFBackend

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder for the hf backend")
    p.add_argument("--name", default="tiny-vl", help="served model name")
    p.add_argument("--port", type=int, default=8000)
    a = p.parse_args()
    server = OpenAITestServer(HFBackend(a.model), a.name, root=a.model, port=a.port)
    print(f"serving {a.name} at {server.base_url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
