"""Shared helpers of the reliability suite: a small benchmark in IM2GPS3K's layout, broken files, snapshots."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
import threading
import zlib
from pathlib import Path

from PIL import Image

from geobench.tables import TABLE_COLUMNS

HEADER = ["IMG_ID", "AUTHOR", "LAT", "LON"]


def write_image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.effect_noise((32, 24), 40 + seed).convert("RGB").save(path)


def make_benchmark(root: Path, n: int = 6) -> Path:
    """`root/im2gps3k_places365.csv` + `root/images/img_<i>.png`: what the im2gps3k loader reads."""
    rows = []
    for i in range(n):
        write_image(root / "images" / f"img_{i}.png", i)
        rows.append([f"img_{i}.png", "me", f"{10 + i}.5", f"{20 + i}.25"])
    write_rows(root, rows)
    return root


def csv_path(root: Path) -> Path:
    return root / "im2gps3k_places365.csv"


def write_rows(root: Path, rows: list[list], header: list[str] = HEADER) -> None:
    with open(csv_path(root), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def read_rows(root: Path) -> list[list[str]]:
    with open(csv_path(root), newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[1:]


def bomb_png(path: Path, side: int = 100_000) -> None:
    """A few hundred bytes that claim side x side pixels: a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 256))
                     + chunk(b"IEND", b""))


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (relative path -> digest)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def comparable(results: dict) -> dict:
    """A results dict without what differs between two equal runs (times, dates, folder names, cache use)."""
    drop = {"timing", "date", "start_time", "end_time", "total_evaluation_time_seconds", "run_dir", "git_hash"}
    return json.loads(json.dumps({k: v for k, v in results.items() if k not in drop}, default=str))


class Watcher(threading.Thread):
    """Parses every visible results file under `root` again and again (each new version of a file once) while
    runs are being killed; records any that is incomplete."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.root, self.stop, self.problems, self.checked = root, threading.Event(), [], 0
        self.seen: set[tuple] = set()

    def run(self):
        while not self.stop.wait(0.01):
            self.sweep()

    def sweep(self):
        for path in list(self.root.rglob("*")):
            if path.name.startswith(".") or path.name.endswith((".partial", ".log")) or ".sqlite" in path.name:
                continue
            try:
                st = path.stat()
                version = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
                if version in self.seen or not path.is_file():
                    continue
                raw = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            self.seen.add(version)
            problem = check(path, raw)
            self.checked += 1
            if problem:
                self.problems.append(f"{path.relative_to(self.root)}: {problem}")


def check(path: Path, raw: bytes) -> str | None:
    """Why `raw` is not a complete file of its kind, or None."""
    try:
        if path.name == "results.json":
            return None if "results" in json.loads(raw) else "no results key"
        if path.suffix == ".jsonl":
            if raw and not raw.endswith(b"\n"):
                return "torn last line"
            [json.loads(line) for line in raw.splitlines()]
            return None
        if path.name == "table.csv":
            rows = list(csv.reader(io.StringIO(raw.decode())))
            if not rows or rows[0] != TABLE_COLUMNS or any(len(r) != len(TABLE_COLUMNS) for r in rows):
                return "bad table"
            return None
        if path.name == "table.md":
            return None if raw.endswith(b"\n") else "torn"
        if path.suffix == ".parquet":
            return None if raw[:4] == raw[-4:] == b"PAR1" else "torn"
    except ValueError as e:
        return f"unparseable: {e}"
    return None
