"""The README documents every hookspec with its exact signature, and its first lines are the two commands."""

from __future__ import annotations

import inspect

from conftest import REPO
from geobench import hookspecs


def hookspec_signatures() -> list[str]:
    out = []
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("geobench_"):
            out.append(f"{name}({', '.join(inspect.signature(fn).parameters)})")
    return out


def test_every_hookspec_is_documented_with_its_signature():
    readme = (REPO / "README.md").read_text()
    sigs = hookspec_signatures()
    assert len(sigs) >= 7
    missing = [s for s in sigs if f"`{s}`" not in readme]
    assert not missing, f"README lacks hookspecs: {missing}"


def test_readme_starts_with_the_two_fresh_machine_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].endswith("geobench eval --model tiny --tasks all")
    assert block[1].endswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest" in ci and "-c constraints.txt" in ci and "torch==2.13.0" in ci
