"""A loopback stand-in for the Hugging Face Hub: serves a folder as Hub repositories, for tests without network.

Layout served: <root>/<models|datasets>/<org>/<name>/<files>. The endpoints are the ones huggingface_hub 2.x
calls: repo info (GET /api/<type>s/<repo>[/revision/<rev>]), tree listing (GET /api/<type>s/<repo>/tree/<rev>
[/<path>]), and HEAD/GET of resolve URLs (/<repo>/resolve/<rev>/<path>, /datasets/<repo>/resolve/...) with
X-Repo-Commit, ETag, X-Linked-Etag / X-Linked-Size for LFS files (.zip, .safetensors, .bin), and Range. Also
plain files under /files/<path> (a URL source). Every request is logged (`requests`); `corrupt` paths are
served with one byte flipped; `delay` slows GET bodies down (seconds per 64 KiB) so a test can kill a pull
mid-file.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS = (".zip", ".safetensors", ".bin")


class Hub:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[tuple[str, str]] = []
        self.corrupt: set[str] = set()
        self.delay = 0.0
        handler = type("H", (_Handler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def data_requests(self) -> list[tuple[str, str]]:
        """GETs of file contents (resolve URLs and plain files)."""
        return [(m, p) for m, p in self.requests if m == "GET" and ("/resolve/" in p or p.startswith("/files/"))]

    # ----------------------------------------------------------------------------------------- repos

    def repo_dir(self, kind: str, repo: str) -> Path | None:
        d = self.root / kind / repo
        return d if d.is_dir() else None

    @staticmethod
    def commit(folder: Path) -> str:
        h = hashlib.sha1()
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                h.update(f"{f.relative_to(folder)}\0{f.stat().st_size}\0{f.stat().st_mtime_ns}\n".encode())
        return h.hexdigest()

    @staticmethod
    def entry(folder: Path, f: Path) -> dict:
        data = f.read_bytes()
        rel = f.relative_to(folder).as_posix()
        e = {"type": "file", "path": rel, "size": len(data),
             "oid": hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()}
        if f.suffix in LFS:
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            e["size"] = 134
        return e


class _Handler(BaseHTTPRequestHandler):
    hub: Hub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, obj, head: bool) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"}, head)

    def _missing(self, code: str, head: bool) -> None:
        self._send(404, b'{"error": "not found"}', {"X-Error-Code": code, "Content-Type": "application/json"}, head)

    def _route(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.requests.append(("HEAD" if head else "GET", path))
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["files"]:
            return self._file(self.hub.root / "files" / "/".join(parts[1:]), "/".join(parts[1:]), None, head)
        if parts[:1] == ["api"] and len(parts) >= 4:
            kind, repo, rest = parts[1], "/".join(parts[2:4]), parts[4:]
            folder = self.hub.repo_dir(kind, repo)
            if folder is None:
                return self._missing("RepoNotFound", head)
            commit = self.hub.commit(folder)
            if rest[:1] == ["tree"]:
                sub = "/".join(rest[2:])
                base = folder / sub if sub else folder
                files = sorted(f for f in base.rglob("*") if f.is_file())
                return self._json([Hub.entry(folder, f) for f in files], head)
            siblings = [{"rfilename": f.relative_to(folder).as_posix()} for f in sorted(folder.rglob("*")) if f.is_file()]
            return self._json({"id": repo, "sha": commit, "siblings": siblings, "private": False, "disabled": False,
                               "gated": False, "tags": [], "downloads": 0, "likes": 0,
                               "lastModified": "2025-01-01T00:00:00.000Z", "createdAt": "2025-01-01T00:00:00.000Z"}, head)
        kind = "models"
        if parts[:1] == ["datasets"]:
            kind, parts = "datasets", parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, rel = "/".join(parts[:2]), "/".join(parts[4:])
            folder = self.hub.repo_dir(kind, repo)
            if folder is None:
                return self._missing("RepoNotFound", head)
            commit = self.hub.commit(folder)
            if parts[3] not in ("main", commit):
                return self._missing("RevisionNotFound", head)
            return self._file(folder / rel, f"{kind}/{repo}/{rel}", (folder, commit), head)
        return self._missing("RepoNotFound", head)

    def _file(self, f: Path, key: str, repo, head: bool) -> None:
        if not f.is_file():
            return self._missing("EntryNotFound", head)
        data = f.read_bytes()
        if key in self.hub.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if repo is not None:
            e = Hub.entry(repo[0], f)
            headers["X-Repo-Commit"] = repo[1]
            headers["ETag"] = f'"{e["oid"]}"'
            if "lfs" in e:
                headers["X-Linked-Etag"] = f'"{e["lfs"]["oid"]}"'
                headers["X-Linked-Size"] = str(len(data))
        start, code = 0, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and not head:
            start = int(rng[6:].split("-")[0] or 0)
            code = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        step = 1 << 16
        try:
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                if self.hub.delay:
                    self.wfile.flush()
                    time.sleep(self.hub.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass
