"""CI's own checks: `.ci/check_ran.py` fails a run where a test CI installs things for was skipped, left
uncollected or failed, and passes a run where all of them passed; a skip in CI is a failure (conftest)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from conftest import REPO

spec = importlib.util.spec_from_file_location("check_ran", REPO / ".ci" / "check_ran.py")
check_ran = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_ran)


def _all_passed() -> list[tuple[str, str, str]]:
    return [(module, f"{prefix or 'test_x'}[{i}]", "passed")
            for module, prefix, fewest in check_ran.EXPECTED for i in range(fewest)]


def _junit(tmp_path, cases) -> str:
    rows = []
    for classname, name, outcome in cases:
        inner = {"passed": "", "skipped": '<skipped message="needs chromium"/>',
                 "failed": '<failure message="boom"/>'}[outcome]
        rows.append(f'<testcase classname="{classname}" name="{name}">{inner}</testcase>')
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuites><testsuite name="pytest">{"".join(rows)}</testsuite></testsuites>')
    return str(path)


def test_check_ran_passes_when_every_expected_test_passed(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / ".ci" / "check_ran.py"), _junit(tmp_path, _all_passed())],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "every expected test ran" in r.stdout


def test_check_ran_fails_on_a_skip_a_missing_file_or_a_failure(tmp_path):
    cases = _all_passed()
    browser = [c for c in cases if c[0] == "tests.test_browser_report"]
    skipped = [(c, n, "skipped") if c == "tests.test_browser_report" else (c, n, o) for c, n, o in cases]
    assert check_ran.problems(check_ran.outcomes(_junit(tmp_path, skipped))) == [
        f"tests.test_browser_report: skipped ({', '.join(n for _, n, _ in browser)}): a dependency CI installs is missing"]
    # a module skipped at import: junit names the file as the test, with no class
    module_skip = [c for c in cases if c[0] != "tests.test_lmeval_interop"] + [("", "tests.test_lmeval_interop", "skipped")]
    assert any("test_lmeval_interop: skipped" in p for p in check_ran.problems(check_ran.outcomes(_junit(tmp_path, module_skip))))
    gone = [c for c in cases if c[0] != "tests.test_vllm_contract"]
    found = check_ran.problems(check_ran.outcomes(_junit(tmp_path, gone)))
    assert any("test_vllm_contract::test_backend_calls_match_vllm_source: 0 passed" in p for p in found)
    failed = [(c, n, "failed") if c == "tests.test_docs" else (c, n, o) for c, n, o in cases]
    assert any("test_docs_site_builds_strict: 0 passed" in p for p in check_ran.problems(check_ran.outcomes(_junit(tmp_path, failed))))
    r = subprocess.run([sys.executable, str(REPO / ".ci" / "check_ran.py"), _junit(tmp_path, gone)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "check_ran:" in r.stderr


def test_a_module_skipped_at_import_fails_in_ci(tmp_path):
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "test_gone.py").write_text("import pytest\npytest.importorskip('no_such_module_xyz')\n"
                                           "def test_x():\n    pass\n")
    (tmp_path / "test_inside.py").write_text("import pytest\ndef test_y():\n    pytest.skip('needs chromium')\n")
    def pytest(name: str, ci: bool):
        env = {"PATH": "/usr/bin:/bin", **({"CI": "true"} if ci else {})}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                              capture_output=True, text=True, cwd=tmp_path, env=env)

    for name in ("test_gone.py", "test_inside.py"):
        r = pytest(name, ci=True)
        assert r.returncode in (1, 2) and "skipped in CI (" in r.stdout, r.stdout[-2000:]
        r = pytest(name, ci=False)
        assert r.returncode in (0, 5) and "1 skipped" in r.stdout, r.stdout[-2000:]  # 5: no test ran
