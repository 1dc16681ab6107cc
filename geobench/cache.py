"""Content-addressed response cache in sqlite3; it is also the resume journal.

A key is the sha256 of everything that determines a completion: backend and model fingerprint, task name and
version, doc id, the chat (with each image replaced by the sha256 of its bytes) and the canonical GenConfig.
Each completion is committed as soon as it arrives, so a killed run loses nothing that finished. Only
deterministic requests (greedy, or sampling with an explicit seed) are cached. WAL mode lets several runs share
one cache file; values are JSON text, never pickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import time
from pathlib import Path

from geobench.api import Completion, Request, canonical_messages
from geobench.errors import GeobenchError


def default_path() -> Path:
    home = Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))
    return Path(os.environ.get("GEOBENCH_CACHE", home / "responses.sqlite"))


def prompt_hash(request: Request) -> str:
    """sha256 of the chat with every image replaced by the sha256 of its bytes."""
    return hashlib.sha256(canonical_messages(request.messages).encode()).hexdigest()


def request_key(fingerprint: dict | str, task_version: str, request: Request, prompt_sha: str) -> str:
    """sha256 over model fingerprint, task, version, doc, prompt and generation settings.

    `fingerprint` may be given pre-serialised (`fingerprint_text`) so a 100k-doc run serialises it once.
    """
    fp = fingerprint if isinstance(fingerprint, str) else fingerprint_text(fingerprint)
    payload = "\0".join([fp, request.task, task_version, request.doc_id, prompt_sha, request.gen.canonical()])
    return hashlib.sha256(payload.encode()).hexdigest()


def fingerprint_text(fingerprint: dict) -> str:
    return json.dumps(fingerprint, sort_keys=True, default=str)


def _completion(value) -> Completion | None:
    """A stored value back as a Completion: only the JSON object `put` writes is accepted, never code or
    pickles; a damaged or foreign row gives None."""
    try:
        obj = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not (isinstance(obj, dict) and isinstance(obj.get("text"), str) and isinstance(obj.get("n_tokens"), int)
            and isinstance(obj.get("finish_reason"), str)):
        return None
    return Completion(text=obj["text"], n_tokens=obj["n_tokens"], finish_reason=obj["finish_reason"])


def damaged(path: Path, e: BaseException) -> GeobenchError:
    """One line for a cache file that sqlite cannot use, at whatever point it is found out."""
    what = "is damaged" if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError) \
        else "cannot be used"
    if isinstance(e, sqlite3.OperationalError) and "full" in str(e).lower():
        return GeobenchError(f"the response cache {path}: disk full while writing ({e})",
                             hint="free space on that disk, then rerun the same command (finished samples are kept)")
    return GeobenchError(f"the response cache {path} {what} ({e})",
                         hint=f"rerun with --no-cache, or move the file aside (`geobench cache check` tells; "
                              f"`geobench cache clear --cache-path {path}` starts a new one)")


def _set_up(db: sqlite3.Connection, tries: int = 40) -> None:
    """WAL mode and the table. Switching a new file to WAL takes an exclusive lock that sqlite may refuse at
    once ("database is locked") while another process opens the same new file: that is retried, not reported."""
    for attempt in range(tries):
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL)")
            return
        except sqlite3.OperationalError as e:
            if attempt == tries - 1 or not any(w in str(e).lower() for w in ("locked", "busy")):
                raise
            time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.uniform(0.5, 1.0))


class ResponseCache:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            _set_up(self.db)
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e):
                raise GeobenchError(f"cannot use the response cache {self.path}: {e}",
                                    hint="pass --cache-path FILE or --no-cache") from None
            raise damaged(self.path, e) from None
        except (sqlite3.Error, OSError) as e:
            raise GeobenchError(f"cannot use the response cache {self.path}: {e}",
                                hint="pass --cache-path FILE or --no-cache") from None

    def _run(self, sql: str, args=()):
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as e:
            raise damaged(self.path, e) from None

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        out: dict[str, Completion] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            try:
                rows = self.db.execute(
                    f"SELECT key, completion FROM responses WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk).fetchall()
            except sqlite3.Error as e:
                raise damaged(self.path, e) from None
            for key, value in rows:
                completion = _completion(value)
                if completion is not None:  # anything else is a miss, regenerated and overwritten
                    out[key] = completion
        return out

    def put(self, key: str, completion: Completion) -> None:
        value = json.dumps({"text": completion.text, "n_tokens": completion.n_tokens,
                            "finish_reason": completion.finish_reason})
        self._run("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, value, time.time()))

    def __len__(self) -> int:
        return self._run("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.db.close()
