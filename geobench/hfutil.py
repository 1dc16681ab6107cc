"""Hugging Face model files: where a model is, what identifies it, how its processor loads, what went wrong.

Shared by every weight-loading backend (`hf`, `vllm`, `lm-eval`), the trainers and the evaluator's model
resolution: a local folder or a hub id (found in the local HF cache when possible), its snapshot commit, a
cheap content fingerprint of its files, and one-line errors for the ways a load fails. Nothing here loads
weights; transformers and huggingface_hub are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any

from geobench.errors import GeobenchError

DTYPES = {"bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
          "half": "float16", "float32": "float32", "fp32": "float32", "float": "float32"}
QWEN_VL_TYPES = ("qwen2_vl", "qwen2_5_vl")
MIB = 1 << 20


def causes(e: BaseException) -> Iterator[BaseException]:
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def model_type(path: str, revision: str | None) -> str | None:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, revision=revision).model_type
    except Exception:  # noqa: BLE001 - only used to decide on a fallback
        return None


def local_folder(model: str) -> str | None:
    """The absolute folder for a local model, None for a hub id; a local-looking path must exist."""
    expanded = os.path.expanduser(model)
    if model.startswith(("/", ".", "~")) or os.path.exists(expanded):
        if not os.path.exists(expanded):
            raise GeobenchError(f"model folder not found: {model}")
        if not os.path.isdir(expanded):
            raise GeobenchError(f"model path is not a folder: {model}")
        if not os.path.isfile(os.path.join(expanded, "config.json")):
            raise GeobenchError(f"model folder {model} has no config.json")
        return os.path.abspath(expanded)
    return None


def load_error(model: str, local: str | None, e: Exception) -> GeobenchError:
    """One line for a load failure: not cached offline, unknown repo, or the folder's own problem."""
    if local is not None:
        hint = None
        if "trust_remote_code" in str(e) or has_auto_map(local):
            hint = ("the folder ships its own model code; geobench runs it only if you pass "
                    "--model-args trust_remote_code=true, and only do that if you trust its author")
        return GeobenchError(f"cannot load model folder {local}: {first_line(e)}", hint=hint)
    names = {type(c).__name__ for c in causes(e)}
    if names & {"RepositoryNotFoundError", "GatedRepoError"}:
        return GeobenchError(f"model {model!r} not found on the Hugging Face hub, or you have no access to it",
                             hint="check the id; log in with `hf auth login` for gated models")
    if names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError"} or \
            "couldn't connect" in str(e).lower():
        return offline_error(model)
    return GeobenchError(f"cannot load model {model!r}: {first_line(e)}")


def offline_error(model: str) -> GeobenchError:
    return GeobenchError(
        f"cannot load model {model!r} offline: not in the local HF cache; download it with "
        f"`hf download {model}` where you have network, or pass a local folder")


def has_auto_map(folder: str) -> bool:
    import json

    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            return "auto_map" in json.load(f)
    except (OSError, ValueError, TypeError):
        return False


def valid_repo_id(model: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        return False  # the normal load path names the problem
    return True


def hub_unreachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub surely cannot be reached: offline mode, or no route to its host.

    Checked before fetching a model that is not in the local cache, so that a machine without network fails
    in one line at once instead of after half a minute of retries. Behind a proxy it answers False (a direct
    connection proves nothing there) and the normal download path decides.
    """
    import socket
    import urllib.parse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False
    url = urllib.parse.urlsplit(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                      timeout=timeout):
            return False
    except OSError:
        return True


def check_config(folder: str) -> None:
    """A broken config.json is a one-line error now, not a traceback at the first generation."""
    import json

    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise GeobenchError(f"cannot load model folder {folder}: config.json is not a valid JSON file "
                            f"({first_line(e)})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise GeobenchError(f"cannot load model folder {folder}: config.json has no model_type")


def saved_pixels(folder: str) -> tuple[int | None, int | None]:
    """(min, max) pixels of a saved Qwen-VL style image processor, from preprocessor_config.json."""
    import json

    try:
        with open(os.path.join(folder, "preprocessor_config.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None, None
    size = saved.get("size") or {}
    return size.get("shortest_edge", saved.get("min_pixels")), size.get("longest_edge", saved.get("max_pixels"))


def cached_config(model: str, revision: str | None) -> str | None:
    """Where a hub model's config.json sits in the local HF cache (so its snapshot names the commit)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - not a valid repo id: the normal load path reports it in one line
        return None
    return found if isinstance(found, str) else None


def has_weights(config_path: str) -> bool:
    """A cached snapshot with its weights (not an interrupted download): only then is it used as a folder."""
    folder = os.path.dirname(config_path)
    return any(os.path.exists(os.path.join(folder, name)) for name in (
        "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"))


def snapshot(path: str) -> tuple[str | None, str | None]:
    """(repo id, commit) of a path inside the HF cache (`models--org--name/snapshots/<commit>`), else Nones."""
    m = re.search(r"models--([^/\\]+)[/\\]snapshots[/\\]([0-9a-f]{40})(?:[/\\]|$)", path)
    return (m.group(1).replace("--", "/"), m.group(2)) if m else (None, None)


def load_processor(path: str, trust_remote_code: bool = False, revision: str | None = None):
    """`AutoProcessor.from_pretrained`, with an image-only fallback for Qwen2-VL / Qwen2.5-VL.

    The stock Qwen-VL processors need a video processor, which imports torchvision; where torchvision is
    missing or broken, the checkpoint's images and text still work through geobench's image-only processor
    (same tokenizer, image processor and chat template). Any other failure is raised as is.
    """
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    except Exception as e:
        needs_video = any(re.search(r"torchvision|video.?processor", str(c), re.I) for c in causes(e))
        if not needs_video or model_type(path, revision) not in QWEN_VL_TYPES:
            raise
    from geobench.qwen_processor import Qwen2_5_VLImageOnlyProcessor

    return Qwen2_5_VLImageOnlyProcessor.from_pretrained(path, revision=revision)


# attn_implementation values that need a package transformers does not bring: (import name, how to get it)
ATTN_PACKAGES = {
    "flash_attention_2": ("flash_attn", "pip install 'geobench[gpu]' (FlashAttention 2; a CUDA machine)"),
    "flash_attention_3": ("flash_attn_interface", "build FlashAttention 3 from github.com/Dao-AILab/flash-attention "
                          "(hopper/; H100/H200)"),
}


def installed(package: str) -> bool:
    """Whether `package` is importable, without importing it."""
    import importlib.util

    return importlib.util.find_spec(package) is not None


def check_attn_implementation(name: str | None, setting: str) -> None:
    """An attention implementation whose package is missing is one line now, not an ImportError at model load.

    `setting` is how the user sets it (e.g. `--model-args attn_implementation` or
    `trl.model_init_kwargs.attn_implementation`), so the fallback in the hint can be pasted as is.
    """
    if not name or name in ("eager", "sdpa", "flex_attention"):
        return
    if "/" in str(name):  # a hub kernel (e.g. kernels-community/flash-attn): the `kernels` package loads it
        package, how = "kernels", "pip install kernels"
    elif name in ATTN_PACKAGES:
        package, how = ATTN_PACKAGES[name]
    else:
        return  # transformers names the valid values itself
    if not installed(package):
        raise GeobenchError(f"{setting}={name} needs the {package!r} package, which is not installed",
                            hint=f"{how}; or set {setting}=sdpa (PyTorch's built-in attention, no install)")


def folder_hash(path: str) -> str:
    """sha256 over each file's relative name, size and the sha256 of its first and last MiB.

    Cheap even for a 15 GB checkpoint, and it changes with any re-saved or re-downloaded weight file. Paths
    with a component starting with "." (e.g. `.cache/` written by `hf download`) are skipped.
    """
    files = []
    for root, dirs, names in os.walk(path, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [os.path.join(root, n) for n in names if not n.startswith(".")]
    total = hashlib.sha256()
    for full in sorted(files, key=lambda f: os.path.relpath(f, path)):
        size = os.path.getsize(full)
        h = hashlib.sha256()
        with open(full, "rb") as f:
            h.update(f.read(MIB))
            if size > MIB:
                f.seek(max(MIB, size - MIB))
                h.update(f.read(MIB))
        rel = os.path.relpath(full, path).replace(os.sep, "/")
        total.update(f"{rel}\0{size}\0{h.hexdigest()}\n".encode())
    return total.hexdigest()


def weights_fingerprint(backend: str, b, dtype: str, min_px, max_px) -> dict[str, Any]:
    """What identifies a local-weights backend's outputs. `b` has model_id, local_path, hub_repo, revision and
    commit. For a folder the content decides, not where it sits: caches survive a move or another machine."""
    fp = {"backend": backend, "model": b.model_id, "dtype": dtype, "min_pixels": min_px, "max_pixels": max_px}
    if b.local_path is not None:
        fp["model"] = b.hub_repo or os.path.basename(b.local_path)
        fp["content_sha256"] = folder_hash(b.local_path)
    else:
        fp["revision"] = b.revision
    if b.commit:
        fp["commit"] = b.commit
    return fp
