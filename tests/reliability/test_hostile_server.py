"""Hostile OpenAI-compatible servers (loopback only) against the `openai` backend: an echoed key in escaped
forms, redirects to another origin, trickled answers, huge answers and malformed fields. Each attack ends in
bounded time with one `geobench: error:` line or a clean result, and nothing it sends is cached or leaks."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import geobench
from geobench.errors import GeobenchError

SECRET = "sk-secret123-HOSTILE"
ESCAPED = "".join(f"\\u{ord(c):04x}" for c in SECRET)  # the key as a JSON string escape, byte for byte
ANSWER = {"choices": [{"message": {"content": "<answer>yes</answer>"}, "finish_reason": "stop"}],
          "usage": {"completion_tokens": 3}}


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _raw(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.seen.append(("GET", self.path, dict(self.headers)))
        mode = self.server.mode
        if mode == "redirect":
            self._raw(302, b"{}", {"Location": self.server.elsewhere + "/v1/models"})
            return
        models = '{"data": [{"id": "m", "root": "' + (ESCAPED if mode == "escaped" else "/models/m") + '"}]}'
        self._raw(200, models.encode())

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(("POST", self.path, dict(self.headers)))
        mode = self.server.mode
        if mode == "escaped":
            content = f"<answer>yes</answer> {ESCAPED} {SECRET.replace('s', '%73', 1)}"  # escapes kept as sent
            body = ('{"choices": [{"message": {"content": "' + content + '"}, "finish_reason": "stop"}],'
                    ' "usage": {"completion_tokens": 3}}')
            self._raw(200, body.encode())
        elif mode == "escaped400":
            self._raw(400, ('{"error": {"message": "bad key ' + ESCAPED + '"}}').encode())
        elif mode == "post-redirect":
            self._raw(307, b"{}", {"Location": self.server.elsewhere + "/v1/chat/completions"})
        elif mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            self._trickle(b"x" * 1000)
        elif mode == "trickle-status":
            self._trickle(b"HTTP/1.1 200 OK\r\n" * 50)
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()  # no Content-Length: read to the close, counted as it comes
            self.close_connection = True
            chunk = b" " * 65536
            try:
                for _ in range(64):  # 4 MB
                    self.wfile.write(chunk)
            except OSError:
                pass
        else:
            self._raw(200, json.dumps(self.server.answer).encode())

    def _trickle(self, data: bytes) -> None:
        try:
            for b in data:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass


def start(host: str, mode: str = "ok"):
    server = ThreadingHTTPServer((host, 0), Hostile)
    server.daemon_threads = True
    server.mode, server.seen, server.answer, server.elsewhere = mode, [], ANSWER, ""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def hostile():
    server = start("127.0.0.1")
    other = start("127.0.0.2")  # another host: nothing may ever reach it
    server.elsewhere = f"http://127.0.0.2:{other.server_address[1]}"
    yield server, other
    for s in (server, other):
        s.shutdown()
        s.server_close()


def run(server, tmp_path, args: str = "", limit: int = 2, cache: bool = True):
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return geobench.evaluate("m", "scene_toy", backend="openai", limit=limit, progress=False,
                             model_args=f"base_url={url},backoff=0,max_retries=1" + args,
                             output=tmp_path / "results", cache_path=tmp_path / "c.sqlite", use_cache=cache)


def cached_rows(tmp_path) -> int:
    path = tmp_path / "c.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


def test_a_json_escaped_or_percent_escaped_key_is_scrubbed_everywhere(hostile, tmp_path, monkeypatch, capsys):
    server, _ = hostile
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.mode = "escaped"
    res = run(server, tmp_path)
    assert res["timing"]["generated_samples"] == 2
    server.mode = "escaped400"
    with pytest.raises(GeobenchError) as err:
        run(server, tmp_path, cache=False)
    assert "HTTP 400" in one_line(err) and "***" in str(err.value)
    captured = capsys.readouterr()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("samples_") for p in files) and any(p.suffix == ".sqlite" for p in files)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in files]
    texts += [str(err.value), captured.out, captured.err, json.dumps(res)]
    for text in texts:
        for form in (SECRET, ESCAPED, "secret123"):
            assert form not in text and form.lower() not in text.lower()
        assert "\\u0073\\u006b" not in text.lower()


@pytest.mark.parametrize("mode", ["redirect", "post-redirect"])
def test_no_request_follows_a_redirect_to_another_host(hostile, tmp_path, monkeypatch, mode):
    server, other = hostile
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.mode = mode
    with pytest.raises(GeobenchError) as err:
        run(server, tmp_path)
    msg = one_line(err)
    assert "127.0.0.2" in msg and "another origin" in msg and SECRET not in msg
    assert other.seen == [], "nothing, let alone the key, reached the other host"
    assert cached_rows(tmp_path) == 0


@pytest.mark.parametrize("mode", ["trickle", "trickle-status"])
def test_a_trickling_server_is_cut_off_in_bounded_time(hostile, tmp_path, mode):
    server, _ = hostile
    server.mode = mode
    t0 = time.monotonic()
    with pytest.raises(GeobenchError) as err:
        run(server, tmp_path, ",timeout=1", limit=1)
    elapsed = time.monotonic() - t0
    assert elapsed < 10, elapsed  # 2 tries of 1 s each (+ the model listing), not forever
    assert "timeout" in one_line(err) and "2 attempts" in str(err.value)


def test_a_deadline_bounds_the_whole_request(hostile, tmp_path):
    server, _ = hostile
    server.mode = "trickle"
    t0 = time.monotonic()
    with pytest.raises(GeobenchError) as err:
        run(server, tmp_path, ",timeout=5,max_retries=3,deadline=1.5", limit=1)
    assert time.monotonic() - t0 < 6
    assert "1.5 s deadline" in one_line(err)


def test_a_huge_answer_is_refused_not_stored(hostile, tmp_path):
    server, _ = hostile
    server.mode = "huge"
    with pytest.raises(GeobenchError) as err:
        run(server, tmp_path, ",max_response_mb=1", limit=1)
    msg = one_line(err)
    assert "max_response_mb=1" in msg and f"127.0.0.1:{server.server_address[1]}" in msg
    assert cached_rows(tmp_path) == 0


@pytest.mark.parametrize("answer, field", [
    ({"choices": [{"message": {"content": 42}}]}, "choices[0].message.content"),
    ({"choices": [{"message": {"content": {"text": "x"}}}]}, "choices[0].message.content"),
    ({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": "many"}}, "usage.completion_tokens"),
    ({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": 1e999}}, "usage.completion_tokens"),
    ({"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": -3}}, "usage.completion_tokens"),
    ({"choices": []}, "choices"),
    ({"choices": [{"message": {"content": "x"}, "finish_reason": 7}]}, "choices[0].finish_reason"),
    ([1, 2], "the answer"),
])
def test_malformed_fields_are_one_line_naming_server_and_field_and_never_cached(hostile, tmp_path, answer, field):
    server, _ = hostile
    server.answer = answer
    with pytest.raises(GeobenchError) as err:
        run(server, tmp_path)
    msg = one_line(err)
    assert f"malformed completion from 127.0.0.1:{server.server_address[1]}" in msg and f"{field} is" in msg, msg
    assert cached_rows(tmp_path) == 0


def test_malformed_fields_from_the_cli_are_exit_2(hostile, tmp_path):
    from conftest import run_cli

    server, _ = hostile
    server.answer = {"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": "many"}}
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    r = run_cli("eval", "--backend", "openai", "--model", "m", "--tasks", "scene_toy", "--limit", "2",
                "--model-args", f"base_url={url},backoff=0", "--output", str(tmp_path / "r"),
                "--cache-path", str(tmp_path / "c.sqlite"))
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert r.returncode == 2 and len(errors) == 1 and errors[0].startswith("geobench: error:"), r.stderr
    assert "usage.completion_tokens" in errors[0] and cached_rows(tmp_path) == 0


def test_loopback_second_host_is_usable():
    """127.0.0.2 is a separate origin on every Linux loopback (the redirect tests rely on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
