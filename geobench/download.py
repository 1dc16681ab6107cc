"""Downloading a benchmark's files: `huggingface_hub` for Hub sources, `pooch` for URL/DOI sources.

No HTTP is written here. `huggingface_hub` brings HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, its cache (a file
that is complete there is never fetched again) and its progress bars; `pooch` brings sha256 checks, DOI
URLs and progress bars, into $GEOBENCH_HOME/downloads/<task>/. What is added: the plan (which files, how
big, which checksums the publisher gives), a checksum check of every Hub file against the Hub's own record
(sha256 of LFS files, git blob id of the others; a mismatch deletes the file), and one-line errors for the
ways a download fails (refused connection, offline mode, unknown repo or file, full disk, bad checksum).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from geobench.api import HubSource, UrlSource
from geobench.errors import GeobenchError

CHUNK = 1 << 20


@dataclass
class RemoteFile:
    """One file to fetch: its name in the source, size (None: unknown) and how to check it."""

    name: str
    size: int | None
    sha256: str | None = None
    git_oid: str | None = None  # git blob sha1 of a non-LFS Hub file
    url: str = ""
    browser: bool = False


@dataclass
class Plan:
    files: list[RemoteFile]
    commit: str | None  # the Hub commit the revision resolved to
    shards: tuple[int, int] | None  # (taken, published) when the source is sharded

    @property
    def known_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)


def downloads_dir(task: str) -> Path:
    home = Path(os.environ.get("GEOBENCH_HOME", Path.home() / ".cache" / "geobench"))
    return home / "downloads" / task


def _quiet() -> None:
    """Progress bars on a terminal only: piped output (CI, logs) stays one line per error."""
    if not sys.stderr.isatty():
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


# ------------------------------------------------------------------------------------------------- Hub


def hub_plan(src: HubSource, revision: str | None, shards: int | None) -> Plan:
    """Resolve the revision to a commit and list the files the patterns and the shard count select."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    rev = revision or src.revision
    api = HfApi()
    with hub_errors(f"{src.repo_id}@{rev}"):
        commit = api.repo_info(src.repo_id, repo_type=src.repo_type, revision=rev).sha
        tree = [f for f in api.list_repo_tree(src.repo_id, repo_type=src.repo_type, revision=commit, recursive=True)
                if isinstance(f, RepoFile)]
    chosen = [f for f in tree if any(fnmatch.fnmatch(f.path, p) for p in src.patterns)]
    taken = None
    if src.shards:
        parts = sorted(f.path for f in chosen if fnmatch.fnmatch(f.path, src.shards))
        keep = set(parts[:shards] if shards else parts)
        chosen = [f for f in chosen if not fnmatch.fnmatch(f.path, src.shards) or f.path in keep]
        taken = (len(keep), len(parts))
        if not parts:
            raise GeobenchError(f"{src.repo_id}@{rev}: no file matches the shard pattern {src.shards!r}")
    missing = [p for p in src.patterns if not any(fnmatch.fnmatch(f.path, p) for f in chosen)]
    if missing:
        raise GeobenchError(f"{src.repo_id}@{rev}: no file matches {', '.join(map(repr, missing))}",
                            hint="the repository changed; pass --revision with a commit that has them")
    files = [RemoteFile(f.path, f.lfs.size if f.lfs else f.size, sha256=f.lfs.sha256 if f.lfs else None,
                        git_oid=None if f.lfs else f.blob_id) for f in sorted(chosen, key=lambda f: f.path)]
    return Plan(files, commit, taken)


def hub_cached(src: HubSource, plan: Plan) -> int:
    """How many bytes of the plan are already in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    return sum(f.size or 0 for f in plan.files if isinstance(
        try_to_load_from_cache(src.repo_id, f.name, revision=plan.commit, repo_type=src.repo_type), str))


def hub_fetch(src: HubSource, plan: Plan) -> dict[str, Path]:
    """Download (or find in the HF cache) every planned file and check it against the Hub's checksum."""
    from huggingface_hub import hf_hub_download

    _quiet()
    out: dict[str, Path] = {}
    for f in plan.files:
        with hub_errors(f"{src.repo_id}: {f.name}"):
            local = Path(hf_hub_download(src.repo_id, f.name, repo_type=src.repo_type, revision=plan.commit))
        check(local, f, cached=True)
        out[f.name] = local
    return out


def hub_errors(what: str):
    return _Errors(what, "the Hub")


# ------------------------------------------------------------------------------------------------- URLs


def url_plan(src: UrlSource) -> Plan:
    return Plan([RemoteFile(e.filename, e.size, sha256=e.sha256, url=e.url, browser=e.browser)
                 for e in src.entries()], None, None)


def url_fetch(task: str, plan: Plan) -> dict[str, Path]:
    """Fetch every file with pooch (sha256-checked where known) into the task's download folder; a file a
    browser must fetch is taken from that folder, or the error says where to get it and where to put it."""
    import pooch

    folder = downloads_dir(task)
    pooch.get_logger().setLevel("WARNING")
    absent = [f for f in plan.files if f.browser and not (folder / f.name).is_file()]
    if absent:  # said before anything is downloaded
        raise GeobenchError(f"{task}: {', '.join(f.name for f in absent)} published on a page that needs a browser: "
                            f"download {' and '.join(f.url for f in absent)} into {folder}/ and run the pull again")
    out: dict[str, Path] = {}
    for f in plan.files:
        local = folder / f.name
        if f.browser:
            check(local, f, cached=False)
            out[f.name] = local
            continue
        known = f"sha256:{f.sha256}" if f.sha256 else None
        with _Errors(f"{f.url}", "the server", local):
            path = pooch.retrieve(f.url, known_hash=known, fname=f.name, path=folder,
                                  progressbar=sys.stderr.isatty())
        local = Path(path)
        check(local, f, cached=False)
        out[f.name] = local
    return out


# --------------------------------------------------------------------------------------------- checks


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def git_oid_of(path: Path) -> str:
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check(local: Path, f: RemoteFile, cached: bool) -> None:
    """Size, then sha256 (or git blob id) against what the publisher gives; a mismatch deletes the file."""
    problem = None
    size = local.stat().st_size
    if f.size is not None and size != f.size:
        problem = f"size mismatch for {f.name}: expected {f.size} bytes, got {size}"
    elif f.sha256 and (got := sha256_of(local)) != f.sha256:
        problem = f"checksum mismatch for {f.name}: expected sha256 {f.sha256}, got {got}"
    elif f.git_oid and (got := git_oid_of(local)) != f.git_oid:
        problem = f"checksum mismatch for {f.name}: expected git blob {f.git_oid}, got {got}"
    if problem:
        real = Path(os.path.realpath(local))
        for p in {real, local}:
            p.unlink(missing_ok=True)
        raise GeobenchError(f"{problem}; the file was deleted", hint="pull again to download it anew")


class _Errors:
    """Download failures as one line naming the file: refused connection, offline, not found, full disk."""

    def __init__(self, what: str, server: str, path: Path | None = None):
        self.what, self.server, self.path = what, server, path

    def __enter__(self):
        return self

    def __exit__(self, typ, e, tb):
        if e is None or isinstance(e, GeobenchError) or not isinstance(e, Exception):
            return False
        names = set()
        c: BaseException | None = e
        while c is not None and len(names) < 20:
            names.add(type(c).__name__)
            c = c.__cause__ or c.__context__
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, OSError) and getattr(e, "errno", None) == 28:
            raise GeobenchError(f"disk full while downloading {self.what}",
                                hint="free some space, or set HF_HOME / GEOBENCH_HOME to a larger disk") from None
        if isinstance(e, ValueError) and "hash" in text.lower() and "match" in text.lower():
            raise GeobenchError(f"checksum mismatch for {self.what}: {text}; the download was deleted",
                                hint="pull again; if it repeats, the published file changed") from None
        if names & {"OfflineModeIsEnabled"}:
            raise GeobenchError(f"cannot download {self.what}: offline mode (HF_HUB_OFFLINE=1) is on",
                                hint="unset HF_HUB_OFFLINE where you have network") from None
        if names & {"RepositoryNotFoundError", "GatedRepoError"}:
            raise GeobenchError(f"{self.what}: repository not found on the Hub, or you have no access to it",
                                hint="log in with `hf auth login` (or set HF_TOKEN) for gated repositories") from None
        if names & {"RevisionNotFoundError"}:
            raise GeobenchError(f"{self.what}: no such revision on the Hub") from None
        if names & {"EntryNotFoundError", "RemoteEntryNotFoundError"}:
            raise GeobenchError(f"{self.what}: file not found on the Hub") from None
        if names & {"ConnectError", "ConnectionError", "LocalEntryNotFoundError", "ConnectTimeout", "TimeoutException",
                    "ReadTimeout", "ConnectionRefusedError", "NewConnectionError", "MaxRetryError"}:
            endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co") if self.server == "the Hub" else ""
            raise GeobenchError(f"cannot reach {self.server}{' at ' + endpoint if endpoint else ''} to download "
                                f"{self.what} (connection refused or no network)",
                                hint="check the network (or HF_ENDPOINT) and pull again; complete files are kept") from None
        if names & {"HTTPError", "HfHubHTTPError"}:
            raise GeobenchError(f"cannot download {self.what}: {text}") from None
        return False
