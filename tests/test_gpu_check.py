"""`python benchmarks/gpu_check.py --tiny` (the GPU acceptance script's CPU mode) runs and writes its two summaries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO


def test_gpu_check_tiny_runs_on_cpu(tmp_path, tiny_model_path):
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--tiny", "--requests", "8",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert [row["batch"] for row in report["rows"]] == [1, 8, "auto"]
    assert all(row["all_fixed_length"] and row["tokens_per_s"] > 0 for row in report["rows"])
    assert report["grpo"]["steps"] == 3
    assert any(s.startswith("vllm:") for s in report["skipped"])
    assert "| batch |" in (tmp_path / "out" / "gpu_check.md").read_text()
