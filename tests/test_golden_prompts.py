"""Golden prompts: the exact chat each toy task sends for its first docs, kept in tests/golden/<task>.json.

A prompt change must be visible in review and come with a new task version (scores of different prompts are
not comparable). After a deliberate change: bump the task's `version`, then rerun with
GEOBENCH_UPDATE_GOLDEN=1 and commit the updated files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from geobench.api import ImageRef
from geobench.plugin_manager import load

GOLDEN = Path(__file__).parent / "golden"
TOY_TASKS = ["geoloc_toy", "crossview_toy", "scene_toy"]


def snapshot(task_name: str) -> dict:
    task = load().task(task_name)
    docs = list(task.docs(None, 3))

    def plain(o):
        if isinstance(o, ImageRef):
            return {"image": "/".join(Path(o.path).parts[-2:]) if o.path else f"<{len(o.data)} bytes>"}
        if isinstance(o, dict):
            return {k: plain(v) for k, v in o.items()}
        if isinstance(o, list):
            return [plain(v) for v in o]
        return o

    return {"task": task.name, "version": task.version,
            "docs": [{"id": d.id, "messages": plain(task.to_messages(d))} for d in docs]}


@pytest.mark.parametrize("task_name", TOY_TASKS)
def test_prompt_matches_golden(task_name):
    path = GOLDEN / f"{task_name}.json"
    now = snapshot(task_name)
    if os.environ.get("GEOBENCH_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden file {path}: run with GEOBENCH_UPDATE_GOLDEN=1 and commit it"
    golden = json.loads(path.read_text())
    if golden["docs"] != now["docs"]:
        assert golden["version"] != now["version"], (
            f"{task_name}: the prompt changed but the version did not; bump {task_name}.version")
        pytest.fail(f"{task_name}: prompt changed with the new version {now['version']}; "
                    "update tests/golden with GEOBENCH_UPDATE_GOLDEN=1 and commit it")
    assert golden["version"] == now["version"], f"{task_name}: version changed; update the golden file"
