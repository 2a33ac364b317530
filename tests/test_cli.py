"""The ``erpkit`` command, run as a real subprocess with real entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from conftest import ROOT

ERPKIT = str(Path(sys.executable).parent / "erpkit")


@pytest.fixture
def site(tmp_path) -> Path:
    """A directory on PYTHONPATH whose dist-info lists the test plugins as entry points."""
    site = tmp_path / "site"
    dist = site / "erpkit_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: erpkit-test-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[erpkit.plugins]\nmy_plugin = my_plugin\nmy_other = my_other\n"
    )
    return site


@pytest.fixture
def run(tmp_path, site, database_url):
    def run(*args, input=None, env=None, cwd=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("ERPKIT_")}
        e.update(
            PYTHONPATH=os.pathsep.join([str(site), str(ROOT / "plugins")]),
            ERPKIT_DATA_DIR=str(tmp_path / "data"),
            ERPKIT_ADMIN_PASSWORD="admin-pass-123",
            # the test plugins only, not the built-in business modules
            ERPKIT_PLUGINS="my_plugin,my_other",
            LANG="C.UTF-8",
        )
        if database_url:
            e["ERPKIT_DATABASE_URL"] = database_url
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}  # env={"X": None} removes X
        return subprocess.run(
            [ERPKIT, *args],
            input=input,
            capture_output=True,
            text=True,
            env=e,
            cwd=cwd or tmp_path,
            timeout=120,
        )

    return run


def test_plugins_list(run):
    r = run("plugins", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "enabled", "version", "depends"]
    row = next(line for line in lines if line.startswith("my_plugin "))
    assert row.split()[:3] == ["my_plugin", "yes", "0.3.0"]
    r = run("plugins", "list", env={"ERPKIT_PLUGINS": "my_other"})
    row = next(line for line in r.stdout.splitlines() if line.startswith("my_plugin "))
    assert row.split()[:2] == ["my_plugin", "no"]


def test_db_upgrade_and_current(run):
    r = run("db", "current")
    assert r.returncode == 0, r.stderr
    assert "behind" in r.stdout
    r = run("db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert "upgrading core" in r.stdout and "upgrading my_plugin" in r.stdout
    r = run("db", "current")
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["core", "my_plugin"]
    assert r.stdout.count("up to date") == 2
    again = run("db", "upgrade")
    assert again.returncode == 0 and "upgrading" not in again.stdout


def test_first_start_creates_admin_with_printed_password(run):
    r = run("db", "upgrade", env={"ERPKIT_ADMIN_PASSWORD": ""})
    assert r.returncode == 0, r.stderr
    assert "created the user 'admin' with the password" in r.stderr
    again = run("db", "upgrade", env={"ERPKIT_ADMIN_PASSWORD": ""})
    assert "created the user" not in again.stderr  # printed once only


def test_user_create_token_and_grants(run):
    assert run("db", "upgrade").returncode == 0
    assert run("department", "create", "销售部").returncode == 0
    assert run("department", "create", "华东", "--parent", "销售部").returncode == 0
    r = run(
        "user",
        "create",
        "wang",
        "--role",
        "sales_manager",
        "--department",
        "销售部",
        "--password-stdin",
        input="a-long-password\n",
    )
    assert r.returncode == 0, r.stderr
    assert "password:" not in r.stdout
    r = run(
        "user",
        "create",
        "li",
        "--role",
        "salesperson",
        "--superior",
        "wang",
        "--department",
        "华东",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("password: ")
    listing = run("user", "list").stdout
    assert any(
        line.split()[1:5] == ["li", "salesperson", "华东", "wang"] for line in listing.splitlines()
    )
    token = run("user", "token", "li")
    assert token.returncode == 0 and token.stdout.strip().startswith("ek_")
    r = run("role", "grant", "clerk", "core.manage_users")
    assert r.returncode == 0, r.stderr
    roles = run("role", "list").stdout
    clerk = next(line for line in roles.splitlines() if line.split()[0] == "clerk")
    assert clerk.split()[1] == "own" and "core.manage_users" in clerk
    assert run("role", "revoke", "clerk", "core.manage_users").returncode == 0
    clerk = next(
        line for line in run("role", "list").stdout.splitlines() if line.split()[0] == "clerk"
    )
    assert "core.manage_users" not in clerk
    r = run(
        "role",
        "create",
        "regional",
        "--zh",
        "区域经理",
        "--en",
        "Regional manager",
        "--scope",
        "department",
    )
    assert (r.returncode, r.stdout) == (0, "created role regional (department)\n")
    r = run("role", "create", "regional", "--zh", "x", "--en", "x")
    assert r.returncode == 2 and r.stderr.startswith("erpkit: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("user", "create", "x", "--role", "salesperson", "--superior", "nobody"),
            "erpkit: no user named 'nobody' (--superior)\n",
        ),
        (("user", "create", "x", "--role", "king"), "erpkit: roles: Unknown role: king\n"),
        (("user", "token", "ghost"), "erpkit: no user named 'ghost'\n"),
        (
            ("role", "grant", "clerk", "no.such"),
            "erpkit: permissions: Unknown permission: no.such\n",
        ),
    ],
)
def test_cli_bad_input(run, args, message):
    assert run("db", "upgrade").returncode == 0
    r = run(*args)
    assert (r.returncode, r.stderr) == (2, message)


#: the business modules this checkout installs (pyproject's erpkit.plugins entry points)
BUILT_IN = {ep.name for ep in entry_points(group="erpkit.plugins")}


@pytest.mark.parametrize(
    ("env", "toml", "expected"),
    [
        (
            {"ERPKIT_PLUGINS": "my_plugin,nope"},
            None,
            "erpkit: unknown plugin 'nope' in the enabled list (installed: "
            + ", ".join(sorted({*BUILT_IN, "my_other", "my_plugin"}))
            + ")\n",
        ),
        (
            {"ERPKIT_DATABASE_URL": "mysql://x@localhost/db"},
            None,
            "erpkit: database URL 'mysql://x@localhost/db': "
            "erpkit supports sqlite and postgresql only\n",
        ),
        ({"ERPKIT_DATABASE_URL": "postgresql+psycopg://u:secret@127.0.0.1:1/x"}, None, None),
        ({}, "[erpkit\nplugins = ", None),
        ({}, "[erpkit]\ncolour = 'red'\n", "erpkit: erpkit.toml: unknown setting 'colour'\n"),
    ],
)
def test_configuration_errors_are_one_line_exit_2(run, tmp_path, env, toml, expected):
    if toml is not None:
        (tmp_path / "erpkit.toml").write_text(toml)
    for args in (("db", "upgrade"), ("serve", "--port", "8999")):
        r = run(*args, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("erpkit: "), r.stderr
        assert "Traceback" not in r.stderr
        assert "secret" not in r.stderr  # passwords in URLs are hidden
        if expected:
            assert r.stderr == expected


def test_disabled_dependency_is_one_line(tmp_path, run, site):
    (site.parent / "deps").mkdir()
    (site.parent / "deps" / "needs_notes.py").write_text(
        'MANIFEST = {"name": "needs_notes", "version": "1", "depends": ["my_plugin"]}\n'
    )
    ep = site / "erpkit_test_plugins-1.0.dist-info" / "entry_points.txt"
    ep.write_text(ep.read_text() + "needs_notes = needs_notes\n")
    r = run(
        "db",
        "upgrade",
        env={
            "ERPKIT_PLUGINS": "needs_notes",
            "PYTHONPATH": os.pathsep.join(
                [str(site), str(ROOT / "plugins"), str(site.parent / "deps")]
            ),
        },
    )
    assert (r.returncode, r.stderr) == (
        2,
        "erpkit: plugin 'needs_notes' depends on plugin 'my_plugin', which is not enabled\n",
    )


def test_erpkit_toml_is_read(run, tmp_path):
    (tmp_path / "erpkit.toml").write_text('[erpkit]\nplugins = ["my_other"]\n')
    r = run("plugins", "list", env={"ERPKIT_PLUGINS": None})
    row = next(line for line in r.stdout.splitlines() if line.startswith("my_plugin "))
    assert row.split()[1] == "no"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, True),
        ("sqlite:////srv/erp/erpkit.db", True),
        ("postgresql+psycopg://erp@db/erp", False),
    ],
)
def test_is_sqlite_without_touching_the_disk(tmp_path, monkeypatch, url, expected):
    """``is_sqlite`` is asked on every request (erpkit.core.web.run_read): it must not
    resolve the data directory's path (a realpath of lstat calls cost a fifth of the
    SQLite list API's throughput, bench/customer_list.py)."""
    from erpkit.core.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", database_url=url)

    def no_disk(*_a, **_k):
        raise AssertionError("is_sqlite resolved a path")

    monkeypatch.setattr(Path, "resolve", no_disk)
    monkeypatch.setattr(os.path, "realpath", no_disk)
    assert settings.is_sqlite is expected
    monkeypatch.undo()
    assert settings.db_url.startswith("sqlite") is expected


def test_postgres_needs_explicit_upgrade(run, pg_database_url):
    env = {"ERPKIT_DATABASE_URL": pg_database_url}
    r = run("serve", "--port", "8998", env=env)
    assert r.returncode == 2
    assert r.stderr == (
        "erpkit: the database is behind for core, my_plugin: run `erpkit db upgrade`\n"
    )
    assert run("db", "upgrade", env=env).returncode == 0


def test_plugin_cli_command(run):
    r = run("my-plugin-hello", "world")
    assert (r.returncode, r.stdout) == (0, "hello world from my_plugin\n")


def test_help_on_every_command(run):
    import click

    from erpkit.core.cli import cli

    def walk(group, path):
        for name, cmd in group.commands.items():
            yield (*path, name), cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd, (*path, name))

    commands = list(walk(cli, ()))
    assert len(commands) >= 15
    for path, cmd in commands:
        assert cmd.help, f"erpkit {' '.join(path)} has no help text"
    for path in [("--help",), ("serve", "--help"), ("user", "create", "--help")]:
        r = run(*path)
        assert r.returncode == 0 and "Usage: erpkit" in r.stdout, r.stderr


def test_sqlite_serves_one_worker(run):
    r = run("serve", "--workers", "2", "--port", "8997", env={"ERPKIT_DATABASE_URL": ""})
    assert (r.returncode, r.stderr.splitlines()[-1]) == (
        2,
        "erpkit: several workers need PostgreSQL (ERPKIT_DATABASE_URL); SQLite serves one worker",
    )
