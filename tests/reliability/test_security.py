"""Security: dataset paths stay inside the dataset root; nothing untrusted is unpickled (the cache and the
results are JSON in sqlite and files); the openai backend's API key reaches no log, results, sample or cache
file even when a server echoes it; a model's own Python code runs only with an explicit flag."""

from __future__ import annotations

import ast
import json
import pickle
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from reliability_helpers import make_benchmark

import geobench
from geobench.cache import ResponseCache
from geobench.data import safe_join
from geobench.errors import GeobenchError
from geobench.results import dumps
from geobench.tasks.geolocation import GeolocationFolder, Im2gps3k

REPO = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("geobench", "plugins", "tasks", "trainers") for p in sorted((REPO / d).rglob("*.py"))]


# ------------------------------------------------------------------------------------------ dataset paths


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "images/../../x.png", "..\\..\\x.png",
                                  "C:\\Windows\\win.ini", "a\x00b.png", ""])
def test_names_that_leave_the_dataset_root_are_refused(tmp_path, name):
    with pytest.raises(GeobenchError, match="escapes the dataset root|bad file name"):
        safe_join(tmp_path, name)


def test_a_csv_cannot_point_outside_its_dataset(tmp_path):
    root = make_benchmark(tmp_path / "bench", 2)
    secret = tmp_path / "secret.png"
    secret.write_bytes((root / "images" / "img_0.png").read_bytes())  # a readable image outside the root
    for name in ("../../secret.png", str(secret)):
        (root / "im2gps3k_places365.csv").write_text(f"IMG_ID,AUTHOR,LAT,LON\n{name},me,1,2\n")
        with pytest.raises(GeobenchError, match="escapes the dataset root"):
            geobench.evaluate("random", [Im2gps3k(root)], backend="dummy", output=None, progress=False)
    (tmp_path / "secret.csv").write_text("IMG_ID,LAT,LON\nsecret.png,1,2\n")  # it exists, and is still refused
    with pytest.raises(GeobenchError, match="escapes the dataset root"):  # the table's own name, and the folder
        GeolocationFolder(root, csv="../secret.csv").docs()
    with pytest.raises(GeobenchError, match="escapes the dataset root"):
        GeolocationFolder(root, csv="im2gps3k_places365.csv", image_dir="../").docs()


# -------------------------------------------------------------------------------------------- no pickles

UNSAFE = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("marshal", "load"),
          ("marshal", "loads"), ("shelve", "open"), ("dill", "load"), ("dill", "loads"), ("joblib", "load"),
          ("cloudpickle", "load"), ("cloudpickle", "loads"), ("yaml", "load"), ("yaml", "unsafe_load"),
          ("yaml", "full_load"), ("pd", "read_pickle"), ("pandas", "read_pickle")}


UNSAFE_MODULES = {m for m, _ in UNSAFE}


def unsafe_calls(path: Path) -> list[str]:
    """Unsafe calls in a file, through any import form: `pickle.loads`, `import pickle as pk; pk.loads`,
    `from pickle import loads [as x]; x(...)`, and `from pickle import *` (flagged itself: anything may follow)."""
    tree = ast.parse(path.read_text(), str(path))
    modules: dict[str, str] = {}  # local name -> module (import pickle as pk)
    names: dict[str, tuple[str, str]] = {}  # local name -> (module, attr) (from pickle import loads as x)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                modules[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            for a in node.names:
                if a.name == "*" and root in UNSAFE_MODULES:
                    found.append(f"{path.name}:{node.lineno} from {node.module} import *")
                names[a.asname or a.name] = (root, a.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        kw = {k.arg: k.value for k in node.keywords}
        if isinstance(f, ast.Name) and f.id in ("eval", "exec") and f.id not in names:
            found.append(f"{path.name}:{node.lineno} {f.id}()")
        if isinstance(f, ast.Name) and f.id in names:
            call = names[f.id]
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            call = (modules.get(f.value.id, f.value.id), f.attr)
        else:
            continue
        if call in UNSAFE or (call[0] == "pandas" and call[1] == "read_pickle"):
            found.append(f"{path.name}:{node.lineno} {'.'.join(call)}()")
        if call == ("torch", "load") and not (isinstance(kw.get("weights_only"), ast.Constant)
                                              and kw["weights_only"].value is True):
            found.append(f"{path.name}:{node.lineno} torch.load() without weights_only=True")
        if call in (("np", "load"), ("numpy", "load")) and isinstance(kw.get("allow_pickle"), ast.Constant) \
                and kw["allow_pickle"].value:
            found.append(f"{path.name}:{node.lineno} np.load(allow_pickle=True)")
    return found


def test_no_source_file_unpickles_or_evaluates_untrusted_data():
    assert len(SOURCES) > 30
    assert [hit for p in SOURCES for hit in unsafe_calls(p)] == []


def test_the_scan_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle, torch, yaml\npickle.loads(b'')\ntorch.load('x')\nyaml.load('a')\neval('1')\n")
    assert len(unsafe_calls(bad)) == 4
    cases = {  # every import form reaches the same unsafe call
        "from pickle import loads\nloads(b'')\n": "pickle.loads()",
        "from pickle import loads as read\nread(b'')\n": "pickle.loads()",
        "import pickle as pk\npk.load(open('f', 'rb'))\n": "pickle.load()",
        "from pickle import *\n": "from pickle import *",
        "from pickle import Unpickler\nUnpickler(open('f', 'rb')).load()\n": "pickle.Unpickler()",
        "import pandas\npandas.read_pickle('f')\n": "pandas.read_pickle()",
        "import torch as t\nt.load('x')\n": "torch.load() without weights_only=True",
        "from torch import load\nload('x', weights_only=True)\n": None,
        "from yaml import safe_load\nsafe_load('a')\n": None,
        "import numpy as np\nnp.load('x', allow_pickle=True)\n": "np.load(allow_pickle=True)",
    }
    for i, (code, expected) in enumerate(cases.items()):
        f = tmp_path / f"case{i}.py"
        f.write_text(code)
        hits = unsafe_calls(f)
        assert (hits == []) if expected is None else any(expected in h for h in hits), (code, hits)


def test_cache_holds_json_and_ignores_a_planted_pickle(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    cache_path = tmp_path / "c.sqlite"
    first = geobench.evaluate("random", "scene_toy", backend="dummy", limit=3, output=tmp_path / "r",
                              cache_path=cache_path, progress=False)
    with sqlite3.connect(cache_path) as db:
        rows = db.execute("SELECT key, completion FROM responses").fetchall()
        assert len(rows) == 3 and all(isinstance(json.loads(v), dict) for _, v in rows)
        db.execute("UPDATE responses SET completion = ? WHERE key = ?", (pickle.dumps(Boom()), rows[0][0]))
    again = geobench.evaluate("random", "scene_toy", backend="dummy", limit=3, output=None,
                              cache_path=cache_path, progress=False)
    assert again["timing"]["generated_samples"] == 1 and dumps(again["results"]) == dumps(first["results"])
    assert len(ResponseCache(cache_path).get_many([k for k, _ in rows])) == 3  # the bad row was overwritten
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".csv", ".md"):
            assert b"\x80\x04" not in path.read_bytes()[:2]


# ------------------------------------------------------------------------------------------ the API key

SECRET = "sk-geobench-ECHO-5c1d9e7a3b"


class EchoingServer(BaseHTTPRequestHandler):
    """A careless OpenAI-compatible gateway: it echoes the caller's Authorization header everywhere."""

    def log_message(self, *args):
        pass

    def _reply(self, status: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(200, {"data": [{"id": "echo", "root": self.headers.get("Authorization", "")}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        auth = self.headers.get("Authorization", "")
        if self.server.fail:
            self._reply(400, {"error": {"message": "x" * 250 + f" bad request from {auth}"}})
            return
        self._reply(200, {"choices": [{"message": {"content": f"<answer>yes</answer> you are {auth}"},
                                       "finish_reason": "stop"}], "usage": {"completion_tokens": 5}})


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingServer)
    server.fail = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_an_echoed_api_key_reaches_no_file_log_or_error(echo_server, tmp_path, monkeypatch, capsys, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    url = f"http://127.0.0.1:{echo_server.server_address[1]}/v1"
    res = geobench.evaluate("echo", "scene_toy", backend="openai", limit=3, model_args=f"base_url={url},backoff=0",
                            output=tmp_path / "results", cache_path=tmp_path / "c.sqlite")
    assert res["timing"]["generated_samples"] == 3
    echo_server.fail = True
    with pytest.raises(GeobenchError) as err:
        geobench.evaluate("echo", "scene_toy", backend="openai", limit=3, gen_kwargs="max_new_tokens=9",
                          model_args=f"base_url={url},backoff=0", output=tmp_path / "results",
                          cache_path=tmp_path / "c.sqlite", progress=False)
    captured = capsys.readouterr()
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    blobs += [s.encode() for s in (str(err.value), captured.out, captured.err, caplog.text, json.dumps(res))]
    assert len(blobs) > 6
    for blob in blobs:
        assert b"ECHO-5c1d" not in blob  # not even part of it (an error message is shortened to one line)


# ---------------------------------------------------------------------------------- trust_remote_code


def test_model_code_runs_only_with_an_explicit_flag(tiny_model_path, tmp_path, monkeypatch):
    """A folder that ships its own code fails in one line naming the flag; the tiny model never needs it."""
    import shutil

    import transformers

    custom = shutil.copytree(tiny_model_path, tmp_path / "custom")
    cfg = json.loads((custom / "config.json").read_text())
    cfg.update(model_type="geobench_custom", auto_map={"AutoConfig": "configuration_x.XConfig",
                                                       "AutoModelForImageTextToText": "modeling_x.XModel"})
    (custom / "config.json").write_text(json.dumps(cfg))
    (custom / "configuration_x.py").write_text("raise SystemExit('remote code ran')\n")
    from geobench.plugins.hf import HFBackend

    with pytest.raises(GeobenchError) as err:
        HFBackend(str(custom), device="cpu").load_model()
    msg = str(err.value)
    assert "\n" not in msg and str(custom) in msg and "trust_remote_code=true" in msg, msg

    seen = []
    for cls in (transformers.AutoConfig, transformers.AutoProcessor, transformers.AutoModelForImageTextToText):
        original = cls.from_pretrained.__func__

        def spy(klass, *a, _original=original, **kw):
            seen.append(kw.get("trust_remote_code"))
            return _original(klass, *a, **kw)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    geobench.evaluate("tiny", "geoloc_toy", limit=1, gen_kwargs="max_new_tokens=2", output=None, progress=False,
                      use_cache=False)
    assert True not in seen and seen.count(False) >= 3, seen  # geobench's own loads say False, explicitly
