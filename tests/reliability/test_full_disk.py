"""A full disk (issue 15, item 10): writing results, the response cache, a report or a training checkpoint out of
space is one `geobench: error:` line (exit 2) naming the path (and, where known, the bytes needed); no file is
left half-written; earlier results are intact; after space is freed the same command (training: with --resume)
completes.

The writes themselves are attacked in-process (os.fsync / os.write / os.replace raising ENOSPC at the right
moment); the commands run on a real small disk, a tmpfs mounted for the test where that is allowed (root), else
with a file-size limit on the command's process (EFBIG), so the attack never skips.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import snapshot

from conftest import run_cli
from geobench import atomic
from geobench.atomic import DiskFull, append_text, atomic_dir, atomic_write
from geobench.errors import GeobenchError

EVAL = ("eval", "--model", "random", "--backend", "dummy", "--tasks", "scene_toy", "-q")


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _one_line(e: BaseException, path) -> str:
    msg = str(e)
    assert "\n" not in msg and str(path) in msg and "disk full" in msg, msg
    return msg


# ------------------------------------------------------------------------------------ the writes themselves


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_atomic_write_out_of_space_keeps_the_old_file(tmp_path, monkeypatch, where):
    target = tmp_path / "results.json"
    target.write_text("old")
    monkeypatch.setattr(atomic.os, where, _enospc)
    with pytest.raises(DiskFull) as e:
        atomic_write(target, "x" * 5000)
    assert isinstance(e.value, GeobenchError) and isinstance(e.value, OSError)
    assert "4.9 KB needed" in _one_line(e.value, target)
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp file left


def test_append_cut_back_after_a_partial_write(tmp_path, monkeypatch):
    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1}\n')
    real = os.write
    calls = []

    def half_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data[: len(data) // 2]))  # the disk takes half of the line ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then is full

    monkeypatch.setattr(atomic.os, "write", half_then_full)
    with pytest.raises(DiskFull) as e:
        append_text(log, '{"step": 2, "loss": 1.0}\n')
    _one_line(e.value, log)
    monkeypatch.undo()
    assert log.read_text() == '{"step": 1}\n'  # no torn line


def test_atomic_dir_out_of_space_leaves_nothing(tmp_path):
    with pytest.raises(DiskFull) as e, atomic_dir(tmp_path / "built") as tmp:
        (tmp / "a").write_text("a")
        raise OSError(errno.ENOSPC, "No space left on device")
    _one_line(e.value, tmp_path / "built")
    assert list(tmp_path.iterdir()) == []


def test_a_wrapped_library_error_is_recognised():
    err = RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert atomic.is_disk_full(err)
    try:
        raise ValueError("outer") from OSError(errno.EDQUOT, "Disk quota exceeded")
    except ValueError as e:
        assert atomic.is_disk_full(e)
    assert not atomic.is_disk_full(OSError(errno.EACCES, "Permission denied"))


# --------------------------------------------------------------------------------------- on a real small disk


class SmallDisk:
    """A small disk for the commands under test: a tmpfs of `size` where this process may mount one (root); else
    a plain folder whose "full" state is a per-process file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored: a write
    past it fails with EFBIG), so the attack runs in an unprivileged container too."""

    def __init__(self, path: Path, size: str):
        path.mkdir()
        self.path = path
        self.filler = path / ".filler"
        self.limit: int | None = None
        self.mounted = False
        if os.geteuid() == 0 and not os.environ.get("GEOBENCH_TEST_NO_TMPFS"):
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                               capture_output=True)
            self.mounted = r.returncode == 0
        self.small = int(size.rstrip("km")) * (1024 if size.endswith("k") else 1 << 20)

    def fill(self) -> None:
        """Take every free byte (without a tmpfs: no file may grow past 1 KB)."""
        if not self.mounted:
            self.limit = 1024
            return
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)

    def shrink(self) -> None:
        """Only `size` bytes (without a tmpfs: per file)."""
        if not self.mounted:
            self.limit = self.small // 4

    def free(self) -> None:
        self.limit = None
        self.filler.unlink(missing_ok=True)

    def grow(self, size: str) -> None:
        self.limit = None
        if self.mounted:
            subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        limit = self.limit

        def limited():
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run([sys.executable, "-m", "geobench", *args], capture_output=True, text=True,
                              timeout=600, preexec_fn=limited)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "disk", "1m")
    yield disk
    disk.close()


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line.lower() or "Traceback" in line]


def _full(r, path_part: str, also: tuple[str, ...] = ()) -> str:
    lines = _errors(r.stderr)
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("geobench: error: "), r.stderr[-2000:]
    assert any(t in lines[0] for t in ("disk full", "No space left on device", "File too large", *also)), lines[0]
    assert path_part in lines[0], lines[0]
    return lines[0]


def test_eval_results_cache_and_report_on_a_full_disk(small_disk, tmp_path):
    out = small_disk.path / "results"
    cache = tmp_path / "c.sqlite"
    first = run_cli(*EVAL, "--limit", "5", "--output", str(out), "--run-name", "a", "--cache-path", str(cache))
    assert first.returncode == 0, first.stderr
    before = snapshot(out)

    small_disk.fill()
    args = (*EVAL, "--limit", "30", "--output", str(out), "--run-name", "b", "--no-cache")
    _full(small_disk.run(*args), str(out))
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k.startswith("a/") or k.startswith("table")} == \
        {k: v for k, v in before.items() if k.startswith("a/") or k.startswith("table")}  # earlier results intact
    assert not [p for p in out.rglob("*.tmp")]  # no half-written results file

    _full(small_disk.run(*EVAL, "--limit", "5", "--output", str(out), "--run-name", "c",
                         "--cache-path", str(small_disk.path / "c.sqlite")), "c.sqlite",
          also=() if small_disk.mounted else ("cannot be used",))  # sqlite reports EFBIG as an I/O error
    _full(small_disk.run("report", str(out), "--out", str(small_disk.path / "report")),
          str(small_disk.path / "report"))

    small_disk.free()
    again = small_disk.run(*args)
    assert again.returncode == 0, again.stderr
    assert (out / "b" / "results.json").is_file()
    assert {f"a/{k}": v for k, v in snapshot(out / "a").items()} == {k: v for k, v in before.items() if k.startswith("a/")}


# ---------------------------------------------------------------------------------------------------- training


def test_a_checkpoint_save_on_a_full_disk(tmp_path, tiny_model_path, scaffold_dir):
    disk = SmallDisk(tmp_path / "disk", "2500k")  # the tiny model's checkpoint is ~3 MB (weights + Adam moments)
    try:
        out = disk.path / "sft"
        cfg = tmp_path / "sft.yaml"
        cfg.write_text(f"model: {tiny_model_path}\noutput_dir: {out}\ndataset: {scaffold_dir}\nmax_steps: 2\n"
                       f"save_steps: 1\nper_device_batch_size: 2\nlr: 1.0e-3\n")
        disk.shrink()
        line = _full(disk.run("train", "sft", "--config", str(cfg)), str(out / "checkpoint-1"))
        assert "needed" in line and "--resume" in line
        assert not list(out.glob("checkpoint-*"))  # the half-written checkpoint is gone
        disk.grow("30m")
        r = disk.run("train", "sft", "--config", str(cfg), "--resume")
        assert r.returncode == 0, r.stderr[-2000:]
        assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
        assert (out / "model.safetensors").is_file()
    finally:
        disk.close()
