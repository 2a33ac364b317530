"""The gates every module keeps green: ruff, and the README test line that CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_has_exactly_one_run_line_and_one_test_line():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^    (pip install .+)$", readme, re.M)
    assert commands == [
        "pip install -e . && erpkit serve",
        'pip install -e ".[test]" && pytest -n 2',
    ]
    # .ci/run finds the test line with this pattern and runs exactly that
    ci = (ROOT / ".ci" / "run").read_text()
    pattern = re.search(r"grep -E '(.+?)' README.md", ci).group(1)
    assert [c for c in commands if re.match(pattern, "    " + c)] == [commands[1]]
