"""User mistakes give one line on stderr, exit code 2, and no traceback; --help stays torch-free."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import run_cli


def assert_one_line_error(r, *needles: str):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip() and "warning" not in line]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("geobench: error: "), lines[0]
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("args, needles", [
    (["eval", "--model", "random", "--backend", "dummy", "--tasks", "geoloc_tyo"], ["unknown task", "did you mean 'geoloc_toy'"]),
    (["eval", "--model", "random", "--backend", "dummy", "--tasks", "geolocaton"], ["unknown task", "'geolocation' (a group)"]),
    (["eval", "--model", "random", "--backend", "dummy", "--prompt-template", "x"], ["neither {prompt} nor {question}"]),
    (["eval", "--model", "random", "--backend", "huggingface"], ["unknown backend 'huggingface'"]),
    (["eval", "--model", "random", "--backend", "dummy", "--model-args", "delay"], ["bad --model-args 'delay'"]),
    (["eval", "--model", "random", "--backend", "dummy", "--model-args", "speed=3"], ["unknown model arg", "speed"]),
    (["eval", "--model", "random", "--backend", "dummy", "--gen-kwargs", "max_tokens=3"], ["unknown generation setting 'max_tokens'"]),
    (["eval", "--model", "random", "--backend", "dummy", "--gen-kwargs", "max_new_tokens=lots"], ["bad value for max_new_tokens"]),
    (["eval", "--model", "random", "--backend", "dummy", "--batch-size", "0"], ["bad batch size"]),
    (["eval", "--model", "random", "--backend", "dummy", "--limit", "0"], ["--limit must be >= 1"]),
    (["eval", "--model", "random", "--backend", "dummy", "--limit", "x"], ["'x' is not a valid integer"]),
    (["eval", "--tasks", "all"], ["Missing option '--model'"]),
    (["eval", "--model", "/nonexistent/model-folder", "--limit", "1"], ["model folder not found", "/nonexistent/model-folder"]),
    (["nosuchcommand"], ["No such command 'nosuchcommand'"]),
])
def test_user_errors_are_one_line(args, needles, tmp_path):
    assert_one_line_error(run_cli(*args, "--output", str(tmp_path)) if args[0] == "eval" else run_cli(*args),
                          *needles)


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--output", str(blocker / "res"))
    assert_one_line_error(r, "not writable", str(blocker / "res"))


def test_model_folder_with_broken_config(tmp_path):
    bad = tmp_path / "broken-model"
    bad.mkdir()
    (bad / "config.json").write_text("{ this is not json")
    r = run_cli("eval", "--model", str(bad), "--limit", "1", "--output", str(tmp_path / "res"))
    assert_one_line_error(r, str(bad))


def test_hub_id_not_available_offline(tmp_path):
    r = run_cli("eval", "--model", "no-such-org/no-such-model", "--limit", "1", "--output", str(tmp_path),
                env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert_one_line_error(r, "no-such-org/no-such-model", "hf download")


def test_debug_shows_the_traceback(tmp_path):
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--tasks", "nope", "--output", str(tmp_path),
                env={"GEOBENCH_DEBUG": "1"})
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_data_error_happens_before_the_model_loads(tmp_path):
    """A bad task spec must fail fast, before any (slow) model load: the model path is never touched."""
    r = run_cli("eval", "--model", "/nonexistent/model", "--tasks", "nope", "--output", str(tmp_path))
    assert_one_line_error(r, "unknown task 'nope'")


@pytest.mark.parametrize("args", [["--help"], ["tasks"], ["plugins"], ["eval", "--help"]])
def test_listing_and_help_do_not_import_torch(args):
    code = (f"import sys; from geobench.cli import main; rc = main({args!r}); "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "print('IMPORTED', bad); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "GEOBENCH_DISABLE_PLUGINS": ""})
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stdout


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and "0.1.0" in r.stdout


def test_batch_size_in_model_args_is_accepted(tmp_path):
    r = run_cli("eval", "--model", "random", "--backend", "dummy", "--tasks", "geoloc_toy", "--limit", "2",
                "--model-args", "batch_size=4", "--output", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    assert res["config"]["batch_size"] == 4
