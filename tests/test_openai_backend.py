"""The `openai` backend against a real local HTTP server (tests/openai_server.py) serving the tiny model.

The server runs the `hf` backend, so greedy completions over HTTP must equal the `hf` backend's own; faults
(429/503/dropped connections/slow answers/bad keys) are injected by the server, not by mocking the client.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time

import pytest
from openai_server import OpenAITestServer

from conftest import run_cli
from geobench import plugin_manager
from geobench.api import GenConfig, Request, user
from geobench.errors import GeobenchError
from geobench.plugins.hf import HFBackend
from geobench.plugins.openai_compat import OpenAIBackend, image_mime

NAME = "tiny-vl"
SECRET = "sk-geobench-SECRET-7f3a9c2e51d4"
WRONG = "sk-geobench-WRONG-0b8e6d4c2a19"
GREEDY = GenConfig(max_new_tokens=12)


@pytest.fixture(scope="module")
def hf_backend(tiny_model_path) -> HFBackend:
    return HFBackend(tiny_model_path)


@pytest.fixture(scope="module")
def _server(hf_backend, tiny_model_path):
    with OpenAITestServer(hf_backend, NAME, root=tiny_model_path) as s:
        yield s


@pytest.fixture
def server(_server, monkeypatch) -> OpenAITestServer:
    # Drain late requests of the previous test (its client threads may still be sending) before resetting.
    _server.release()
    deadline = time.time() + 10
    while time.time() < deadline:
        seen = len(_server.received)
        time.sleep(0.3)
        if len(_server.received) == seen and _server.in_flight <= 0:
            break
    _server.reset()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return _server


@pytest.fixture(scope="module")
def toy_requests(session_home) -> list[Request]:
    """3 geoloc_toy requests (1 image), then 3 with 5 images each laid out as crossview_toy's prompts are.

    The cross-view ones reuse geoloc_toy's images: building the crossview_toy data would cost this file
    ~17 s when run on its own.
    """
    plugin_manager.set_registry(None)
    task = plugin_manager.registry().task("geoloc_toy")
    docs = task.docs(None, 7)
    out = [Request(task.name, d.id, task.to_messages(d), GREEDY) for d in docs[:3]]
    for k in range(3):
        ground, *tiles = [d.images[0] for d in docs[k:k + 5]]
        parts: list = ["Ground-level photo:", ground, "Satellite images (4 candidates):"]
        for letter, tile in zip("ABCD", tiles, strict=True):
            parts += [f"{letter}:", tile]
        parts.append("Which satellite image shows the place of the photo? Answer with the letter.")
        out.append(Request("crossview", f"cv{k}", user(*parts), GREEDY))
    return out


@pytest.fixture(scope="module")
def reference(hf_backend, toy_requests) -> dict:
    hf_backend.batch_size = 1
    return dict(hf_backend.generate(toy_requests))


def text_requests(n: int, gen: GenConfig | None = None) -> list[Request]:
    gen = gen or GenConfig(max_new_tokens=3)
    return [Request("t", str(i), user(f"Where is place number {i}? " * (1 + i % 3)), gen) for i in range(n)]


def backend(server: OpenAITestServer, **kw) -> OpenAIBackend:
    return OpenAIBackend(NAME, base_url=server.base_url, **{"backoff": 0.01, **kw})


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


# ----------------------------------------------------------------------------------------- correctness


def test_openai_over_http_equals_hf_backend(server, toy_requests, reference):
    assert len({c.text for c in reference.values()}) > 1
    out = list(backend(server, concurrency=3).generate(toy_requests))
    assert sorted(i for i, _ in out) == list(range(len(toy_requests))), "every index exactly once"
    assert dict(out) == reference
    bodies = [r["json"] for r in server.chat_requests()]
    assert len(bodies) == len(toy_requests)
    for b in bodies:  # greedy: explicit neutral values, so a server's generation_config defaults cannot apply
        assert b["model"] == NAME and b["max_tokens"] == 12 and "max_completion_tokens" not in b
        assert b["temperature"] == 0 and b["top_p"] == 1 and b["top_k"] == -1 and b["repetition_penalty"] == 1
        assert "seed" not in b and "stop" not in b


def test_images_arrive_as_data_urls_with_the_original_bytes(server, toy_requests, reference):
    be = backend(server, concurrency=1)
    for k in (0, 3):  # a geolocation prompt (1 image) and a cross-view prompt (5 images)
        req = toy_requests[k]
        assert be.complete(req) == reference[k]
        got = server.chat_requests()[-1]
        sent = [ref.read_bytes() for ref in req.images]
        assert [raw for _, raw in got["images"]] == sent and len(sent) == (1 if k == 0 else 5)
        assert all(mime == "image/png" for mime, _ in got["images"])
        parts = got["json"]["messages"][0]["content"]
        want = [{"type": "text", "text": c["text"]} if c["type"] == "text" else "image"
                for c in req.messages[0]["content"]]
        assert [p if p["type"] == "text" else "image" for p in parts] == want, "parts keep their order"
        assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in parts
                   if p["type"] == "image_url")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "PPM"])
def test_image_mime_from_bytes(fmt):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buf, format=fmt)
    assert image_mime(buf.getvalue()) == Image.MIME[fmt]
    assert image_mime(b"not an image at all") is None


def test_sampling_settings_are_sent(server):
    gen = GenConfig(max_new_tokens=5, do_sample=True, temperature=0.7, top_p=0.9, top_k=20,
                    repetition_penalty=1.1, seed=3, stop=("</answer>", "\n\n"))
    c = backend(server, max_tokens_field="max_completion_tokens").complete(text_requests(1, gen)[0])
    assert c.n_tokens <= 5 and c.finish_reason in ("stop", "length")
    b = server.chat_requests()[-1]["json"]
    assert b["max_completion_tokens"] == 5 and "max_tokens" not in b
    assert (b["temperature"], b["top_p"], b["top_k"], b["repetition_penalty"], b["seed"], b["stop"]) == \
        (0.7, 0.9, 20, 1.1, 3, ["</answer>", "\n\n"])


def test_strict_servers_and_extra_sampling(server):
    server.strict = True  # like api.openai.com: unknown fields are a 400
    with pytest.raises(GeobenchError) as e:
        backend(server).complete(text_requests(1)[0])
    msg = one_line_error(e)
    assert "HTTP 400" in msg and "Unrecognized request argument" in msg and f"127.0.0.1:{server.port}" in msg
    assert len(server.chat_requests()) == 1, "a 400 is not retried"
    plain = backend(server, extra_sampling="false")
    assert plain.complete(text_requests(1)[0]).text is not None
    assert "top_k" not in server.chat_requests()[-1]["json"]
    with pytest.raises(GeobenchError, match="extra_sampling"):
        plain.complete(text_requests(1, GenConfig(do_sample=True, top_k=5))[0])


# ------------------------------------------------------------------------------------------ robustness


def test_retries_on_429_503_and_dropped_connections_then_succeeds(server, toy_requests, reference):
    server.faults = [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 503}, {"close": True},
                     {"status": 500, "body": {"detail": "boom"}}]
    assert backend(server, max_retries=4).complete(toy_requests[0]) == reference[0]
    assert len(server.chat_requests()) == 5


def test_retry_after_is_honoured(server):
    server.faults = [{"status": 429, "headers": {"Retry-After": "1"}}]
    t0 = time.monotonic()
    backend(server, max_retries=1).complete(text_requests(1)[0])
    assert time.monotonic() - t0 >= 0.9, "Retry-After: 1 must be waited for (backoff alone is 0.01 s)"


def test_gives_up_after_max_retries_with_one_line(server):
    server.faults = [{"status": 503, "body": {"error": {"message": "overloaded\nplease wait"}}}] * 10
    with pytest.raises(GeobenchError) as e:
        list(backend(server, max_retries=2).generate(text_requests(1)))
    msg = one_line_error(e)
    assert "HTTP 503" in msg and "overloaded please wait" in msg and "3 attempts" in msg
    assert f"127.0.0.1:{server.port}/v1" in msg
    assert len(server.chat_requests()) == 3


def test_timeout(server):
    # The server hangs for 600 s (released at the end); the client gives up after its 0.5 s timeout. The 60 s
    # bound is a hang guard, not a speed check: without the timeout the call would take the full 600 s.
    server.faults = [{"sleep": 600}]
    t0 = time.monotonic()
    with pytest.raises(GeobenchError) as e:
        backend(server, timeout=0.5, max_retries=0).complete(text_requests(1)[0])
    assert time.monotonic() - t0 < 60
    assert "timeout" in one_line_error(e) and "1 attempt" in str(e.value)
    server.faults = [{"sleep": 600}]  # a timed-out try is retried
    assert backend(server, timeout=0.5, max_retries=1).complete(text_requests(1)[0]).text is not None
    assert len(server.chat_requests()) == 3
    server.release()


def test_first_failure_stops_the_run(server):
    server.faults = [{"status": 400, "body": {"error": {"message": "prompt too long"}}}]
    server.delay = 0.05
    with pytest.raises(GeobenchError, match="prompt too long"):
        list(backend(server, concurrency=2).generate(text_requests(40)))
    assert len(server.chat_requests()) < 10, "the run stops at the first failure, it does not send all 40"


def test_concurrency_bound_and_completion_order(server, hf_backend):
    reqs = text_requests(9)
    ref = dict(hf_backend.generate(reqs))
    server.faults = [{"after": 4}]  # one of the first three requests is answered only after 4 others
    out = list(backend(server, concurrency=3).generate(reqs))
    assert 2 <= server.max_in_flight <= 3, "at most `concurrency` requests at once, and more than one"
    order = [i for i, _ in out]
    assert order != sorted(order), "yielded as they finish, not in input order"
    assert dict(out) == ref, "each completion is yielded with its own request's index"
    server.reset()
    server.delay = 0.05
    list(backend(server, concurrency=1).generate(reqs[:4]))
    assert server.max_in_flight == 1


def test_a_fleet_is_kept_busy_with_concurrency_requests_in_flight(server):
    """The path to `vllm serve --data-parallel-size N` (docs/scale-out.md): with concurrency=64 the backend keeps
    64 requests in flight, and every one of 256 comes back once, with its own index."""
    server.gate = 64  # nothing is answered until 64 are in flight at once
    out = list(backend(server, concurrency=64).generate(text_requests(256, GenConfig(max_new_tokens=2))))
    assert server.max_in_flight == 64
    assert sorted(i for i, _ in out) == list(range(256)) and len(server.chat_requests()) == 256


# ------------------------------------------------------------------------------ auth, models, identity


def test_auth_failure_is_one_line_without_the_key(server, monkeypatch, toy_requests):
    server.api_key = SECRET
    monkeypatch.setenv("OPENAI_API_KEY", WRONG)
    for call in (lambda b: b.fingerprint(), lambda b: b.complete(toy_requests[0])):
        with pytest.raises(GeobenchError) as e:
            call(backend(server))
        msg = one_line_error(e)
        assert "authentication failed" in msg and "HTTP 401" in msg and "OPENAI_API_KEY" in msg
        assert WRONG not in msg and SECRET not in msg and "WRONG" not in msg
    assert server.received[-1]["headers"]["Authorization"] == f"Bearer {WRONG}"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(GeobenchError, match="authentication failed"):
        backend(server).fingerprint()
    assert "Authorization" not in server.received[-1]["headers"], "no key, no header"
    monkeypatch.setenv("MY_GATEWAY_KEY", SECRET)
    be = backend(server, api_key_env="MY_GATEWAY_KEY")
    assert be.complete(toy_requests[0]).text is not None
    assert server.received[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    for blob in (json.dumps(be.fingerprint()), json.dumps(be.describe()), repr(be), repr(vars(be).keys())):
        assert SECRET not in blob
    assert all(SECRET not in r["body"] for r in server.received)


def test_unknown_model_lists_the_served_ones(server):
    for call in (lambda b: b.fingerprint(), lambda b: list(b.generate(text_requests(1)))):
        with pytest.raises(GeobenchError) as e:
            call(OpenAIBackend("qwen-7b", base_url=server.base_url))
        msg = one_line_error(e)
        assert "'qwen-7b' is not served" in msg and f"served models: {NAME}" in msg
    server.list_models = False  # a server without /v1/models: the 404 is reported as it is
    with pytest.raises(GeobenchError) as e:
        list(OpenAIBackend("qwen-7b", base_url=server.base_url).generate(text_requests(1)))
    assert "HTTP 404" in one_line_error(e) and "qwen-7b" in str(e.value)
    assert OpenAIBackend(NAME, base_url=server.base_url).fingerprint() == \
        {"backend": "openai", "server": f"127.0.0.1:{server.port}/v1", "model": NAME}


def test_fingerprint_names_server_and_model_and_is_stable(server, tiny_model_path):
    a = backend(server).fingerprint()
    time.sleep(0.01)
    b = OpenAIBackend(NAME, base_url=server.base_url + "/chat/completions/").fingerprint()
    assert a == b, "the server's per-call `created` must not reach the fingerprint"
    assert a == {"backend": "openai", "server": f"127.0.0.1:{server.port}/v1", "model": NAME,
                 "served": {"id": NAME, "root": tiny_model_path, "owned_by": "geobench-test"}}
    d = backend(server, concurrency=5, timeout=7, max_retries=2).describe()
    assert (d["base_url"], d["concurrency"], d["timeout"], d["max_retries"]) == (server.base_url, 5, 7.0, 2)


def test_connection_refused_fails_fast(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from geobench.plugins.openai_compat import client

    waits = []  # a refused first contact is a typo, not a hiccup: no retry, so no backoff wait is ever computed

    class Counting(client._async_openai()):
        def _calculate_retry_timeout(self, remaining_retries, options, response_headers=None) -> float:
            waits.append(remaining_retries)
            return 0.0

    monkeypatch.setattr(client, "_CLIENT_CLASS", Counting)
    with pytest.raises(GeobenchError) as e:
        OpenAIBackend(NAME, base_url=f"http://127.0.0.1:{port}/v1").fingerprint()
    assert "connection refused" in one_line_error(e) and str(port) in str(e.value)
    assert waits == []


def test_bad_model_args_are_one_line_errors(monkeypatch):
    cases = [({"temperature": 1}, "unknown model arg 'temperature'"),
             ({"api_key": SECRET}, "OPENAI_API_KEY"),
             ({"api_key_env": SECRET}, "not the key itself"),
             ({"api_key_env": "NOT_SET_ANYWHERE"}, "not set"),
             ({"concurrency": 0}, "concurrency must be >= 1"),
             ({"timeout": "soon"}, "timeout must be a number"),
             ({"extra_sampling": "maybe"}, "extra_sampling must be true or false"),
             ({"max_tokens_field": "n"}, "max_tokens_field"),
             ({"base_url": f"http://user:{SECRET}@host/v1"}, "without credentials"),
             ({"base_url": f"http://host/v1?key={SECRET}"}, "without credentials"),
             ({"base_url": "ftp://host/v1"}, "bad base_url")]
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    for kwargs, expected in cases:
        with pytest.raises(GeobenchError) as e:
            OpenAIBackend(NAME, **kwargs)
        assert expected in one_line_error(e) and SECRET not in str(e.value), (kwargs, str(e.value))


def test_registered_and_imports_no_torch():
    assert plugin_manager.registry().backend("openai") is OpenAIBackend
    code = ("import sys, geobench.plugins.openai_compat as m; m.OpenAIBackend('x', base_url='http://h:1/v1'); "
            "bad = [x for x in ('torch', 'transformers', 'PIL') if x in sys.modules]; assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------------------- end to end CLI


def test_cli_eval_never_leaks_the_key_and_caches_by_server_and_name(hf_backend, tmp_path, tiny_model_path):
    # its own server: late requests of earlier tests (daemon client threads) must not count here
    with OpenAITestServer(hf_backend, NAME, root=tiny_model_path) as server:
        server.api_key = SECRET
        out, cache = tmp_path / "results", tmp_path / "cache.sqlite"
        args = ("eval", "--backend", "openai", "--model", NAME, "--tasks", "geoloc_toy", "--limit", "4",
                "--model-args", f"base_url={server.base_url},concurrency=2,max_retries=1",
                "--gen-kwargs", "max_new_tokens=8", "--output", str(out), "--cache-path", str(cache))
        r = run_cli(*args, env={"OPENAI_API_KEY": SECRET})
        assert r.returncode == 0, r.stderr
        res = json.loads(next(out.glob("*/results.json")).read_text())
        assert res["config"]["backend"] == "openai" and res["timing"]["generated_samples"] == 4
        assert res["config"]["model_fingerprint"]["served"]["root"] == tiny_model_path
        assert res["config"]["backend_config"]["concurrency"] == 2
        assert server.max_in_flight <= 2 and len(server.chat_requests()) == 4
        assert all(r_["headers"]["Authorization"] == f"Bearer {SECRET}" for r_ in server.received)

        r2 = run_cli(*args, env={"OPENAI_API_KEY": SECRET})  # same server and name: all from the cache
        assert r2.returncode == 0, r2.stderr
        assert len(server.chat_requests()) == 4 and "0 generated, 4 from cache" in r2.stderr

        r3 = run_cli(*args, env={"OPENAI_API_KEY": WRONG})
        assert r3.returncode == 2 and "Traceback" not in r3.stderr
        lines = r3.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("geobench: error:") and "authentication failed" in lines[0]

        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert len(files) > 5
        for blob in [p.read_bytes() for p in files] + [x.encode() for x in (r.stdout, r.stderr, r2.stderr,
                                                                             r3.stdout, r3.stderr)]:
            assert SECRET.encode() not in blob and WRONG.encode() not in blob
        assert all(SECRET not in r_["body"] for r_ in server.received)
