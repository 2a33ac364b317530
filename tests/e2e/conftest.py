"""Browser tests: the real ``erpkit serve`` in a subprocess, driven by Chromium.

Run with ``pytest -m e2e tests/e2e``. The server runs on SQLite in a temporary data
directory (``ERPKIT_TEST_DATABASE_URL`` is ignored here); its users are created with
the real CLI before it starts. Chromium is Debian's (``/usr/bin/chromium``, or
``$ERPKIT_E2E_CHROMIUM``): Playwright's own download is not used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ADMIN_PASSWORD = "admin-pass-123"
PASSWORD = "pass-word-123"

#: user name -> role, created with ``erpkit user create`` before the server starts.
#: ``polyglot`` is only for the language test: the language it picks is stored on
#: the user, so it must not leak into the other tests' users.
EXTRA_USERS = {"sales1": "salesperson", "polyglot": "salesperson"}

CHROMIUM = os.environ.get("ERPKIT_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def pytest_collection_modifyitems(config, items):
    """Every test here must be marked e2e: an unmarked one would run in the fast suite."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("e2e") is None:
            raise pytest.UsageError(f"{item.nodeid} is in tests/e2e but not marked e2e")


# -- the server ------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    stderr_path: Path
    #: user name -> password of every user the server starts with
    passwords: dict[str, str]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _erpkit_command() -> list[str]:
    exe = Path(sys.executable).parent / "erpkit"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("erpkit")
    if found:
        return [found]
    pytest.fail("the `erpkit` command is not installed next to the test interpreter")


TEST_PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"


def _installed_test_plugins(root: Path) -> Path:
    """A directory whose dist-info lists the test plugins in the erpkit.plugins group,
    so that the real server discovers them as it would any installed plugin."""
    site = root / "site"
    dist = site / "erpkit_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: erpkit-test-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[erpkit.plugins]\nmy_plugin = my_plugin\nmy_other = my_other\n"
    )
    return site


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERPKIT_")}
    site = _installed_test_plugins(data_dir.parent)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(TEST_PLUGINS_DIR)])
    env["ERPKIT_DATA_DIR"] = str(data_dir)
    env["ERPKIT_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_cli(cmd: list[str], args: list[str], env, cwd: Path, stdin: str | None = None) -> str:
    r = subprocess.run(
        [*cmd, *args],
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        pytest.fail(
            f"`erpkit {' '.join(args)}` exited with {r.returncode}\n"
            f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
        )
    return r.stdout


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str) -> bool:
    try:
        with _NO_PROXY.open(url + "/healthz", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """``erpkit serve`` on a free port of 127.0.0.1, with ``admin`` and EXTRA_USERS."""
    base = tmp_path_factory.mktemp("erpkit-e2e")
    data_dir = base / "data"
    data_dir.mkdir()
    # the server's working directory: no stray erpkit.toml can be picked up
    cwd = base / "cwd"
    cwd.mkdir()
    cmd = _erpkit_command()
    env = _server_env(data_dir)

    _run_cli(cmd, ["db", "upgrade"], env, cwd)
    for name, role in EXTRA_USERS.items():
        _run_cli(
            cmd,
            ["user", "create", name, "--role", role, "--password-stdin"],
            env,
            cwd,
            stdin=PASSWORD + "\n",
        )

    last_error = ""
    for attempt in range(3):  # another process may take the free port before we do
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        stderr_path = base / f"serve-{attempt}.stderr"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None and not _healthy(url):
            time.sleep(0.2)
        if proc.poll() is None and _healthy(url):
            server = LiveServer(
                url=url,
                data_dir=data_dir,
                stderr_path=stderr_path,
                passwords={"admin": ADMIN_PASSWORD} | dict.fromkeys(EXTRA_USERS, PASSWORD),
            )
            try:
                yield server
            finally:
                _stop(proc)
            return
        _stop(proc)
        last_error = stderr_path.read_text(errors="replace")
        if "address" not in last_error.lower() or "in use" not in last_error.lower():
            break
    pytest.fail(
        f"`erpkit serve` did not answer /healthz within {START_TIMEOUT:.0f} s "
        f"(exit status {proc.returncode}); its stderr:\n{last_error}"
    )


# -- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e .[test])")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def new_context(browser, live_server):
    """Make a browser context (a fresh cookie jar) on the live server; closed after the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    contexts = []

    def make(locale: str = "zh-CN", **kwargs):
        ctx = browser.new_context(base_url=live_server.url, locale=locale, **kwargs)
        ctx.set_default_timeout(10_000)
        ctx.set_default_navigation_timeout(15_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_context):
    """A page in a fresh context whose Accept-Language is Chinese (``zh-CN``)."""
    return new_context().new_page()
