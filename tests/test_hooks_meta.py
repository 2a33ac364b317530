"""Every hook has a test and a documentation entry (as Datasette checks its own)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from erpkit import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(
    name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "erpkit_spec")
)


def _test_names() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_there_are_hooks():
    assert len(HOOKS) >= 14
    assert "register_routes" in HOOKS and "add_hookspecs" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook):
    assert any(
        n == f"test_hook_{hook}" or n.startswith(f"test_hook_{hook}_") for n in _test_names()
    ), f"no test_hook_{hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook):
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    assert re.search(rf"^### {hook}$", doc, re.M), f"docs/plugin-hooks.md lacks ### {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspecs_have_docstrings(hook):
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


def test_test_plugin_implements_every_hook():
    import importlib

    import my_plugin

    implemented = set()
    for name in my_plugin.MANIFEST["hooks"]:
        module = importlib.import_module(name)
        implemented |= {
            f.erpkit_impl.get("specname") or n
            for n, f in vars(module).items()
            if callable(f) and hasattr(f, "erpkit_impl")
        }
    assert set(HOOKS) <= implemented
