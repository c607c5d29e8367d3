"""docs/safety.md and the tests agree: every requirement has a test naming it, and every id a
test names is a requirement."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ID = re.compile(r"\bSR-(\d+)\b")


def _ids(text):
    return set(int(m) for m in ID.findall(text))


def test_every_requirement_has_a_test_and_back():
    with open(os.path.join(ROOT, "docs", "safety.md")) as f:
        documented = _ids(f.read())
    named = set()
    for path in glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True):
        if os.path.basename(path) == "test_safety_case.py":
            continue
        with open(path) as f:
            named |= _ids(f.read())
    assert documented, "no requirements found in docs/safety.md"
    assert documented - named == set(), f"requirements with no test: {documented - named}"
    assert named - documented == set(), f"ids tests name but safety.md lacks: {named - documented}"
