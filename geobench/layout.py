"""Laying downloaded files out as a loader reads them: copy, or extract zip/tar archives where they sit.

Every member name is checked before anything is written: an absolute path, a `..` part, a drive letter, or a
link whose target leaves the folder is refused with a one-line error naming the archive and the member, and
the caller's temporary folder is thrown away (nothing half-extracted is ever renamed into place). Extraction
uses `zipfile`/`tarfile` (zip members are CRC-checked by `zipfile` as they are read); the checks are here
because neither module refuses every hostile member by itself on all Python versions.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from geobench.errors import GeobenchError

ARCHIVES = {"zip": (".zip",), "tar": (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")}
CHUNK = 1 << 20


def lay_out(files: dict[str, Path], target: Path, unpack: str = "") -> dict[str, dict]:
    """Copy each file to `target/<name>`, or extract it there when `unpack` names its archive kind.
    Returns the manifest of what was written: relative path -> {"size", "crc32"}."""
    if unpack and unpack not in ARCHIVES:
        raise GeobenchError(f"unknown unpack kind {unpack!r}; known: {', '.join(ARCHIVES)} or '' (copy)")
    manifest: dict[str, dict] = {}
    for name, path in sorted(files.items()):
        rel = safe_member(name, f"source file {name!r}")
        if unpack and name.lower().endswith(ARCHIVES[unpack]):
            manifest.update(extract(Path(path), target, PurePosixPath(rel).parent.as_posix()))
        else:
            manifest[rel] = copy_file(Path(path), target / rel)
    return manifest


def safe_member(name: str, where: str) -> str:
    """A member name as a clean relative POSIX path; absolute paths, `..` and drive letters are refused."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean)
    if not clean or "\x00" in clean or parts.is_absolute() or ".." in parts.parts or PureWindowsPath(name).drive:
        raise GeobenchError(f"{where}: member {name!r} would be written outside the folder; refused",
                            hint="the archive is damaged or hostile; nothing was laid out")
    return "/".join(p for p in parts.parts if p not in ("", "."))


def copy_file(src: Path, dst: Path) -> dict:
    dst.parent.mkdir(parents=True, exist_ok=True)
    crc, size = 0, 0
    with disk_errors(dst), open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            fout.write(chunk)
    return {"size": size, "crc32": crc}


def extract(archive: Path, target: Path, subdir: str) -> dict[str, dict]:
    """Extract `archive` into `target/subdir`, member names checked first; returns the manifest."""
    name = archive.name
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, target, subdir)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, target, subdir)
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as e:
        raise GeobenchError(f"{name}: corrupt archive ({e}); nothing was laid out",
                            hint="delete it from the download cache and pull again") from None
    raise GeobenchError(f"{name}: not a zip or tar archive; nothing was laid out",
                        hint="delete it from the download cache and pull again")


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=None if sys.stderr.isatty() else True, leave=False)


def _check_link(member: str, link: str, where: str) -> None:
    base = PurePosixPath(member).parent
    if link.startswith("/") or PureWindowsPath(link).drive:
        raise GeobenchError(f"{where}: link {member!r} -> {link!r} leaves the folder; refused")
    depth = len(base.parts)
    for part in PurePosixPath(link).parts:
        depth = depth - 1 if part == ".." else depth + (part not in ("", "."))
        if depth < 0:
            raise GeobenchError(f"{where}: link {member!r} -> {link!r} leaves the folder; refused")


def _extract_zip(archive: Path, target: Path, subdir: str) -> dict[str, dict]:
    manifest: dict[str, dict] = {}
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        plan = []
        for info in infos:  # check every name before writing anything
            rel = safe_member(info.filename, archive.name)
            is_link = stat.S_ISLNK(info.external_attr >> 16)
            if is_link:
                _check_link(rel, zf.read(info).decode("utf-8", "replace"), archive.name)
            plan.append((info, rel, is_link))
        with _progress(len(plan), f"unpacking {archive.name}") as bar:
            for info, rel, is_link in plan:
                out = target / subdir / rel if subdir not in ("", ".") else target / rel
                key = out.relative_to(target).as_posix()
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                elif is_link:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(zf.read(info).decode(), out)
                else:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with disk_errors(out), zf.open(info) as fin, open(out, "wb") as fout:
                        shutil.copyfileobj(fin, fout, CHUNK)  # zipfile checks the CRC at the end
                    manifest[key] = {"size": info.file_size, "crc32": info.CRC}
                bar.update(1)
    return manifest


def _extract_tar(archive: Path, target: Path, subdir: str) -> dict[str, dict]:
    manifest: dict[str, dict] = {}
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            rel = safe_member(m.name, archive.name)
            if m.issym() or m.islnk():
                _check_link(rel, m.linkname if m.issym() else os.path.relpath(m.linkname, PurePosixPath(rel).parent),
                            archive.name)
            elif not (m.isfile() or m.isdir()):
                raise GeobenchError(f"{archive.name}: member {m.name!r} is a device or fifo; refused")
        dest = target / subdir if subdir not in ("", ".") else target
        dest.mkdir(parents=True, exist_ok=True)
        with _progress(len(members), f"unpacking {archive.name}") as bar:
            for m in members:
                with disk_errors(dest / m.name):
                    tf.extract(m, dest, filter="data")
                if m.isfile():
                    out = dest / safe_member(m.name, archive.name)
                    manifest[out.relative_to(target).as_posix()] = {"size": m.size, "crc32": file_crc(out)}
                bar.update(1)
    return manifest


def file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


class disk_errors:
    """A full disk or an unwritable folder while writing `path` is one line naming the file."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, typ, e, tb):
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError | IsADirectoryError):
            if e.errno == errno.ENOSPC:
                raise GeobenchError(f"disk full while writing {self.path}; nothing was laid out",
                                    hint="free some space (or pass --data-dir on a larger disk) and pull again") from None
            raise GeobenchError(f"cannot write {self.path}: {e.strerror or e}; nothing was laid out") from None
        return False
