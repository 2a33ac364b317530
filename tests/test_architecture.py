"""Import rules: the core knows no plugin; plugins import only what their MANIFEST allows."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import erpkit
from erpkit.core.architecture import core_import_violations, plugin_import_violations

PKG = Path(erpkit.__file__).parent
ROOT = PKG.parent


def test_core_never_imports_plugins():
    assert core_import_violations(PKG / "core") == []


def test_builtin_plugins_import_only_their_dependencies():
    checked = 0
    for plugin_dir in sorted(
        p for p in (PKG / "plugins").iterdir() if (p / "__init__.py").exists()
    ):
        mod = importlib.import_module(f"erpkit.plugins.{plugin_dir.name}")
        assert plugin_import_violations(plugin_dir, plugin_dir.name, mod.MANIFEST) == []
        checked += 1
    assert checked == len([p for p in (PKG / "plugins").iterdir() if (p / "__init__.py").exists()])


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_checker_finds_undeclared_plugin_imports(tmp_path):
    _write(tmp_path, "quotes/__init__.py", "")
    _write(
        tmp_path,
        "quotes/services.py",
        "from erpkit.plugins.customers.models import Customer\n"
        "import erpkit.plugins.projects.services\n"
        "from erpkit.plugins import contracts\n",
    )
    _write(tmp_path, "quotes/bridge_projects.py", "from erpkit.plugins.projects import models\n")
    manifest = {
        "depends": ["customers"],
        "optional": {"projects": "erpkit.plugins.quotes.bridge_projects"},
    }
    problems = plugin_import_violations(tmp_path / "quotes", "quotes", manifest)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "plugin 'quotes' imports plugin 'projects', which its MANIFEST does not depend on",
        "plugin 'quotes' imports plugin 'contracts', which its MANIFEST does not depend on",
    ]


def test_checker_finds_core_importing_a_plugin(tmp_path):
    _write(tmp_path, "core/x.py", "from erpkit.plugins.customers import models\n")
    assert len(core_import_violations(tmp_path / "core")) == 1


def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # grimp does not follow editable installs
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "broken" in r.stdout and "0 broken" in r.stdout
