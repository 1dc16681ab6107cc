"""After the test run: the tests CI installs dependencies for must have run and passed, not been skipped,
deselected or left uncollected. Reads pytest's JUnit XML (`--junitxml`); exits 1 naming what is missing.

    python .ci/check_ran.py junit.xml

A skip inside a test already fails in CI (tests/conftest.py); this also catches a module skipped at import
(`pytest.importorskip` at the top of a file), a file that stopped being collected, and a test renamed away.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

# (module, test name prefix or "" for every test of the module, fewest that must pass): what each needs.
EXPECTED = [
    ("tests.test_browser_report", "", 2),  # Chromium (apt-get install chromium)
    ("tests.test_lmeval_interop", "", 10),  # lm-eval ([dev] extra)
    ("tests.test_accelerate_launch", "test_sft_under_accelerate_launch", 1),  # accelerate ([dev] extra)
    ("tests.test_docs", "test_docs_site_builds_strict", 1),  # mkdocs ([dev] extra)
    ("tests.test_vllm_contract", "test_backend_calls_match_vllm_source", 1),  # the pinned vLLM wheel
    ("tests.test_vllm_contract", "test_a_renamed_keyword_fails_the_contract", 1),
    ("tests.test_training_learns", "", 4),  # trl ([dev] extra)
]


def outcomes(path: str) -> list[tuple[str, str, str]]:
    """(classname, name, outcome) of every test case: passed, skipped, failed."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        out.append((case.get("classname", ""), case.get("name", ""), outcome))
    return out


def problems(cases: list[tuple[str, str, str]]) -> list[str]:
    found = []
    for module, prefix, fewest in EXPECTED:
        mine = [(n, o) for c, n, o in cases if (c == module or c.startswith(module + ".") or
                                               (not c and n == module)) and n.startswith(prefix)]
        skipped = [n for n, o in mine if o == "skipped"]
        passed = sum(o == "passed" for _, o in mine)
        what = f"{module}{'::' + prefix if prefix else ''}"
        if skipped:
            found.append(f"{what}: skipped ({', '.join(skipped[:3])}): a dependency CI installs is missing")
        elif passed < fewest:
            found.append(f"{what}: {passed} passed, expected at least {fewest} (not collected, deselected or failed)")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_ran.py JUNIT_XML", file=sys.stderr)
        return 2
    found = problems(outcomes(argv[0]))
    for line in found:
        print(f"check_ran: {line}", file=sys.stderr)
    if not found:
        print(f"check_ran: every expected test ran ({len(EXPECTED)} groups)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
