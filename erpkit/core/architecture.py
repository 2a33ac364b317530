"""Import rules between the core and plugins, checked in CI.

The core never imports a plugin (also an import-linter contract); a plugin imports
another plugin only when its MANIFEST depends on it, or names it as optional (and
then only from the bridge module registered when that plugin is enabled).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PLUGINS_PACKAGE = "erpkit.plugins"


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every absolute import in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # from erpkit.plugins import customers
                yield node.lineno, f"{node.module}.{alias.name}"


def plugin_import_violations(plugin_dir: Path, name: str, manifest: dict) -> list[str]:
    """Imports of other plugins that the plugin's MANIFEST does not allow."""
    allowed = {name, *manifest.get("depends", ())}
    optional = manifest.get("optional", {}) or {}
    optional = dict.fromkeys(optional) if isinstance(optional, (list, tuple)) else dict(optional)
    problems = []
    for path in sorted(plugin_dir.rglob("*.py")):
        for line, module in imported_modules(path):
            if not module.startswith(PLUGINS_PACKAGE + "."):
                continue
            other = module.split(".")[2]
            if other in allowed:
                continue
            bridge = optional.get(other)
            if other in optional and bridge and _module_path(path, plugin_dir, name) == bridge:
                continue
            problems.append(
                f"{path}:{line}: plugin {name!r} imports plugin {other!r}, "
                f"which its MANIFEST does not depend on"
            )
    return problems


def _module_path(path: Path, plugin_dir: Path, name: str) -> str:
    rel = path.relative_to(plugin_dir).with_suffix("")
    return ".".join([PLUGINS_PACKAGE, name, *rel.parts])


def core_import_violations(core_dir: Path) -> list[str]:
    problems = {}
    for path in sorted(core_dir.rglob("*.py")):
        for line, module in imported_modules(path):
            if module == PLUGINS_PACKAGE or module.startswith(PLUGINS_PACKAGE + "."):
                problems.setdefault((str(path), line), f"{path}:{line}: the core imports {module}")
    return list(problems.values())
