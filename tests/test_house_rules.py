"""SR-14, SR-1: the house rules for code that runs on the board (../shared/STYLE.md), checked
by reading the source: the dosing core imports no hardware, clock or files; no f-strings,
asserts, bare excepts or CPython-only modules in firmware."""
import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARD_SIDE = sorted(glob.glob(os.path.join(ROOT, "firmware", "**", "*.py"), recursive=True) +
                    glob.glob(os.path.join(ROOT, "protocol", "pumpwire", "*.py")))
CORE = sorted(glob.glob(os.path.join(ROOT, "firmware", "pump", "*.py")))
# json only encodes (checkpoints are bytes handed to the board layer to store); no I/O.
CORE_MAY_IMPORT = {"micropython", "pump", "json"}
NOT_ON_MICROPYTHON = {"dataclasses", "typing", "enum", "abc", "functools", "itertools",
                      "logging", "datetime", "fractions", "unittest"}


def _tree(path):
    with open(path) as f:
        return ast.parse(f.read(), path)


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            yield (node.module or "").split(".")[0]


@pytest.mark.parametrize("path", CORE, ids=os.path.basename)
def test_core_is_pure(path):
    bad = set(_imports(_tree(path))) - CORE_MAY_IMPORT
    assert not bad, f"{path} imports {bad}: the core takes time and I/O as arguments"


@pytest.mark.parametrize("path", BOARD_SIDE, ids=os.path.basename)
def test_board_side_rules(path):
    tree = _tree(path)
    assert not set(_imports(tree)) & NOT_ON_MICROPYTHON
    for node in ast.walk(tree):
        assert not isinstance(node, ast.JoinedStr), f"f-string at line {node.lineno}"
        assert not isinstance(node, ast.Assert), f"assert at line {node.lineno}"
        if isinstance(node, ast.ExceptHandler):
            assert node.type is not None, f"bare except at line {node.lineno}"
        if isinstance(node, ast.Raise):
            assert node.cause is None, f"exception chaining at line {node.lineno}"
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            raise AssertionError(f"float literal at line {node.lineno}: integers only")


HARDWARE = {"machine", "rp2", "esp32"}
BOARD_LAYER = {"rp2.py", "esp32.py", "boardhal.py", "bootwdt.py"}   # firmware/pumphw/


@pytest.mark.parametrize("path", BOARD_SIDE, ids=os.path.basename)
def test_only_the_board_layer_touches_hardware(path):
    """Issue 4: hardware modules are imported by the real boards' layer files alone, so the
    rest of the firmware runs on the virtual board and under CPython unchanged."""
    if os.path.basename(os.path.dirname(path)) == "pumphw" and \
            os.path.basename(path) in BOARD_LAYER:
        return
    assert not set(_imports(_tree(path))) & HARDWARE, f"{path} imports hardware"
