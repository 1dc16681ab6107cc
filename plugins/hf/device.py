"""Which device `device=auto` means, answered without importing torch where the answer is certain.

A rerun whose completions are all cached must not import torch (about 2 s) just to learn that there is no GPU,
yet the model fingerprint (part of every cache key) holds the dtype, and `dtype=auto` follows the device. So
the cheap facts come first: a CPU-only torch build (its `version.py` says `cuda = None`), CUDA hidden by
`CUDA_VISIBLE_DEVICES`, or a Linux machine with no NVIDIA driver loaded all mean "cpu" for sure. Anything else
asks torch, exactly as the backend did before.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

DEVICE = re.compile(r"^(cpu|cuda|mps|xpu|hpu|npu|meta)(:\d+)?$")


def valid(device: str) -> bool:
    return bool(DEVICE.match(str(device)))


def _cpu_only_build() -> bool:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    return re.search(r"^cuda(?::[^=]*)?=\s*None\s*$", text, re.M) is not None


def _no_driver() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    return not os.path.exists("/proc/driver/nvidia") and not any(
        n.startswith("nvidia") for n in (os.listdir("/dev") if os.path.isdir("/dev") else ()))


def cuda_available() -> bool:
    """`torch.cuda.is_available()`, importing torch only when the cheap facts cannot decide."""
    if "torch" not in sys.modules:
        if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1") or _cpu_only_build() or _no_driver():
            return False
    import torch

    return torch.cuda.is_available()
