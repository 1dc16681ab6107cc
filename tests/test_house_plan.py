"""The house plan, checked: extensions meet only through the core, and files stay single jobs.

An extension unit is a top-level module or subpackage of `tasks/`, `plugins/` or `trainers/`. A unit imports
the core (`geobench.*` outside those folders) and its own modules, never another unit, not even inside a
function; the core never imports a unit. Every import statement in the source is read (AST), function-local
ones included. The allow-lists below are the only exceptions, each with its reason.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

FOLDERS = ("tasks", "plugins", "trainers")

# (importing unit, imported unit): why it is allowed.
ALLOWED = {
    ("tasks.geolocation", "tasks.toyworld"): "the toy world is the generator the toy variant renders from",
    ("tasks.crossview", "tasks.toyworld"): "the toy world is the generator the toy variant renders from",
    ("tasks.scene", "tasks.toyworld"): "the toy world is the generator the toy variant renders from",
}

# Source files over MAX_LINES that are one job, with the reason.
MAX_LINES = 450
LONG_FILES: dict[str, str] = {
    "geobench/api.py": "the whole plugin contract on one page: every type a plugin sees, and only there",
    "tasks/toyworld/render.py": "one job: drawing a place's ground view and satellite tile (shared pen, palette)",
}


def sources():
    for folder in ("geobench", *FOLDERS):
        yield from sorted((REPO / folder).rglob("*.py"))


def unit_of(module: str) -> str | None:
    """'geobench.tasks.crossview.loaders' -> 'tasks.crossview'; core modules -> None."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] == "geobench" and parts[1] in FOLDERS:
        return f"{parts[1]}.{parts[2]}"
    return None


def module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts if parts[0] == "geobench" else ["geobench", *parts])


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, relative imports resolved."""
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from geobench.tasks import crossview` imports the unit crossview
            out += [(node.lineno, f"{mod}.{a.name}") if unit_of(mod) is None else (node.lineno, mod)
                    for a in node.names]
    return out


def test_extensions_meet_only_through_the_core():
    problems = []
    for path in sources():
        here = unit_of(module_of(path))
        for line, target in imports(path):
            there = unit_of(target)
            if there is None or there == here or (here, there) in ALLOWED:
                continue
            who = here or "the core"
            problems.append(f"{path.relative_to(REPO)}:{line}: {who} imports {target}")
    assert not problems, "imports between extension units (they must meet through geobench/):\n" + "\n".join(problems)


def test_the_allow_list_is_still_needed():
    used = set()
    for path in sources():
        here = unit_of(module_of(path))
        used |= {(here, unit_of(t)) for _, t in imports(path)}
    assert not set(ALLOWED) - used, f"allow-list entries no longer used: {sorted(set(ALLOWED) - used)}"


def test_source_files_are_single_jobs():
    long = {str(p.relative_to(REPO)): n for p in sources()
            if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_LINES}
    unexplained = {f: n for f, n in long.items() if f not in LONG_FILES}
    assert not unexplained, f"files over {MAX_LINES} lines (split them by job, or explain): {unexplained}"


def test_listing_plugins_imports_no_heavy_library():
    """Loading the registry and listing every name imports no ML library: each unit is imported when a name
    of it is first looked up."""
    code = ("import sys\nfrom geobench import plugin_manager\nreg = plugin_manager.registry()\n"
            "names = sorted(reg.tasks) + sorted(reg.backends) + sorted(reg.trainers) + sorted(reg.rewards)\n"
            "assert names, 'nothing registered'\n"
            "heavy = ('torch', 'transformers', 'trl', 'vllm', 'lm_eval', 'openai', 'datasets', 'accelerate')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
