"""The docs: the README's first lines are the two fresh-machine commands, its links into docs/ resolve, the
plugin page documents every hookspec with its exact signature, and the plugin page's Python examples work.

Convention for examples in docs/plugins.md: a ```python block whose first line is `# example: runs` is
executed (in a temporary folder, as a module of its own); every other ```python block is only compiled.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
import types

import pluggy
import pytest

from conftest import REPO
from geobench import hookspecs

PLUGINS_PAGE = REPO / "docs" / "plugins.md"
RUNS = "# example: runs"


def hookspec_signatures() -> list[str]:
    out = []
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("geobench_"):
            out.append(f"{name}({', '.join(inspect.signature(fn).parameters)})")
    return out


def python_blocks(path) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of a Markdown file."""
    blocks, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start, body = i + 2, []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start, "\n".join(body) + "\n"))
        i += 1
    return blocks


def run_example(code: str, lineno: int) -> types.ModuleType:
    """Execute one example as a module of its own (so pluggy can register it) and return the module."""
    module = types.ModuleType(f"docs_example_line{lineno}")
    module.__file__ = f"{PLUGINS_PAGE}:{lineno}"
    exec(compile(code, module.__file__, "exec"), module.__dict__)
    return module


def test_every_hookspec_is_documented_with_its_signature():
    page = PLUGINS_PAGE.read_text()
    sigs = hookspec_signatures()
    assert len(sigs) >= 7
    missing = [s for s in sigs if f"`{s}`" not in page]
    assert not missing, f"docs/plugins.md lacks hookspecs: {missing}"


def test_readme_starts_with_the_two_fresh_machine_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].endswith("geobench eval --model tiny --tasks all")
    assert block[1].endswith("python -m pytest")
    for command in block:  # each is valid shell, as a newcomer pastes it
        assert subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode == 0, command
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest" in ci and "-c constraints.txt" in ci and "torch==2.13.0" in ci


def test_readme_links_into_docs_point_to_existing_files():
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(\s*(?:\./)?(docs/[^)\s#]*)(?:#[^)\s]*)?\s*\)", readme)
    assert len(targets) >= 10, f"the README should link the docs pages, found {targets}"
    missing = [t for t in targets if not (REPO / t).is_file()]
    assert not missing, f"README links to missing docs files: {missing}"


def test_every_docs_page_is_in_the_site_nav():
    yaml = pytest.importorskip("yaml")
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    listed = {next(iter(item.values())) for item in nav}
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages == listed, f"docs pages not in nav: {pages - listed}; nav entries with no page: {listed - pages}"


def test_plugin_page_examples_compile():
    blocks = python_blocks(PLUGINS_PAGE)
    assert len(blocks) >= 3
    for lineno, code in blocks:
        compile(code, f"{PLUGINS_PAGE}:{lineno}", "exec")


def test_plugin_page_runnable_examples_run(tmp_path, monkeypatch, capsys):
    """Each `# example: runs` block runs with the installed geobench, and its hook implementations are valid
    geobench hooks (pluggy checks names and arguments against geobench's hookspecs)."""
    monkeypatch.chdir(tmp_path)
    runnable = [(n, c) for n, c in python_blocks(PLUGINS_PAGE) if c.startswith(RUNS + "\n")]
    assert len(runnable) >= 2
    for lineno, code in runnable:
        module = run_example(code, lineno)
        pm = pluggy.PluginManager("geobench")
        pm.add_hookspecs(hookspecs)
        pm.register(module)
        pm.check_pending()  # an implementation of a hook geobench does not have fails here


def test_the_task_plugin_example_defines_a_working_task(tmp_path, monkeypatch):
    """The main example (a Task subclass and its registration hook) runs, registers its task and scores."""
    import geobench

    monkeypatch.chdir(tmp_path)
    mains = [(n, c) for n, c in python_blocks(PLUGINS_PAGE)
             if "(geobench.Task)" in c and "def geobench_register_tasks" in c]
    assert mains, "docs/plugins.md has no task plugin example"
    lineno, code = mains[0]
    assert code.startswith(RUNS + "\n"), "the task plugin example must be marked `# example: runs`"
    module = run_example(code, lineno)

    registered = []
    module.geobench_register_tasks(register=lambda task, **kw: registered.append((task, kw)))
    assert len(registered) == 1
    task_cls, kwargs = registered[0]
    assert issubclass(task_cls, geobench.Task) and task_cls.name and kwargs.get("aliases")
    task = task_cls()
    docs = list(task.docs(limit=2))
    assert len(docs) == 2 and all(isinstance(d, geobench.Doc) for d in docs)
    messages = task.to_messages(docs[0])
    assert messages[0]["role"] == "user"
    answer = docs[0].fields["answer"]
    assert task.score(docs[0], f"<think>...</think><answer>{answer}</answer>") == {"acc": 1.0}
    assert task.score(docs[0], "<answer>no idea</answer>") == {"acc": 0.0}


def test_docs_site_builds_strict(tmp_path):
    """What CI runs before the tests: a broken link or anchor in docs/ fails the build."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it comes with the [dev] extra)")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
