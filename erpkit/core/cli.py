"""The ``erpkit`` command: serve, db, user, role, department, plugins.

Every configuration problem (a corrupt ``erpkit.toml``, an unknown plugin, a
missing dependency, an unreachable database) ends the command with one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from erpkit import __version__
from erpkit.core.errors import ErpError
from erpkit.core.plugins import ErpPluginManager, PluginError
from erpkit.core.registry import RegistrationError
from erpkit.core.settings import ConfigError, Settings, load_settings, redact_url

EXIT_CONFIG = 2


class Fail(click.ClickException):
    """One line on stderr, exit status 2."""

    exit_code = EXIT_CONFIG

    def show(self, file=None) -> None:
        click.echo(f"erpkit: {self.message}", err=True)


def _explain_db_error(settings: Settings, exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"cannot use the database {redact_url(settings.db_url)}: {first}"


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known problems into one line and exit status 2."""
    from functools import wraps

    from erpkit.core.web import StartupError

    @wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        try:
            return fn(*args, **kwargs)
        except (ConfigError, PluginError, RegistrationError, StartupError) as exc:
            raise Fail(str(exc)) from None
        except ErpError as exc:
            errors = getattr(exc, "errors", {})
            detail = "; ".join(f"{k}: {v}" for k, v in errors.items()) or exc.detail
            raise Fail(detail) from None
        except SQLAlchemyError as exc:
            raise Fail(_explain_db_error(ctx.obj.settings, exc)) from None

    return wrapper


class State:
    """What every command needs, built lazily: settings, then the plugins and engine."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._erp = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def erp(self):
        if self._erp is None:
            from erpkit.core.app import build_erp

            self._erp = build_erp(self.settings)
        return self._erp


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="erpkit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """erpkit: a plugin-based sales-management ERP.

    Settings come from erpkit.toml in the current directory (or $ERPKIT_CONFIG)
    and ERPKIT_* environment variables: ERPKIT_DATA_DIR, ERPKIT_DATABASE_URL,
    ERPKIT_PLUGINS, ERPKIT_SECRET_KEY, ERPKIT_ADMIN_PASSWORD.
    """
    ctx.ensure_object(State)


def _state() -> State:
    return click.get_current_context().find_object(State)


# -- serve ----------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (several need PostgreSQL).",
)
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
@guarded
def serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """Run the web server (upgrades an SQLite database first)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops

    from erpkit.core import migrate

    state = _state()
    erp = state.erp
    if erp.settings.is_sqlite:
        if workers > 1:
            raise Fail(
                "several workers need PostgreSQL (ERPKIT_DATABASE_URL); SQLite serves one worker"
            )
        migrate.upgrade(erp, echo=lambda m: click.echo(m, err=True))
    else:
        behind = migrate.needs_upgrade(erp)
        if behind:
            raise Fail(f"the database is behind for {', '.join(behind)}: run `erpkit db upgrade`")
    from erpkit.core.web import startup

    startup(erp)  # first-time admin and grants, once, before workers start
    erp.engine.dispose()
    click.echo(
        f"erpkit {__version__} serving on http://{host}:{port} "
        f"({redact_url(erp.settings.db_url)}, {workers} worker(s))",
        err=True,
    )
    # granian: 1.47x uvicorn's requests per second on a bare Litestar app at one
    # worker on this machine (bench/server_choice.py), same start-up time
    Granian(
        "erpkit.core.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_access=access_log,
        respawn_failed_workers=workers > 1,
    ).serve()


# -- db ----------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema: upgrade, current, revision."""


@db.command("upgrade")
@guarded
def db_upgrade() -> None:
    """Upgrade the core and every enabled plugin to their newest revisions."""
    from erpkit.core import migrate
    from erpkit.core.web import startup

    erp = _state().erp
    migrate.upgrade(erp, echo=click.echo)
    startup(erp)
    click.echo("database is up to date")


@db.command("current")
@guarded
def db_current() -> None:
    """Show each branch's revision and whether it is up to date."""
    from erpkit.core import migrate

    for st in migrate.states(_state().erp):
        mark = "up to date" if st.up_to_date else f"behind (head {', '.join(st.heads)})"
        click.echo(f"{st.name:<16} {', '.join(st.current) or '(none)':<28} {mark}")


@db.command("revision")
@click.argument("plugin")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@click.option("--empty", is_flag=True, help="Write an empty revision (no autogenerate).")
@guarded
def db_revision(plugin: str, message: str, empty: bool) -> None:
    """Write a new revision of PLUGIN's branch from its models (for plugin authors)."""
    from erpkit.core import migrate

    erp = _state().erp
    if plugin not in erp.registry.migrations:
        raise Fail(f"plugin {plugin!r} has no migrations (register_migrations)")
    migrate.revision(erp, plugin, message, autogenerate=not empty)


# -- users, roles, departments ---------------------------------------------------------------


@cli.group()
def user() -> None:
    """Users: create, list, token, password."""


@user.command("create")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role code (repeatable).")
@click.option("--superior", help="User name of the superior.")
@click.option("--department", help="Department name.")
@click.option("--display-name", default="", help="Name shown in the UI.")
@click.option("--email", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@guarded
def user_create(name, roles, superior, department, display_name, email, password_stdin) -> None:
    """Create the user NAME; prints a generated password unless --password-stdin."""
    import secrets

    from erpkit.core.auth import service

    erp = _state().erp
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password, generated = secrets.token_urlsafe(12), True
    with erp.sessionmaker.begin() as s:
        sup_id = dept_id = None
        if superior:
            sup = service.find_user(s, superior)
            if sup is None:
                raise Fail(f"no user named {superior!r} (--superior)")
            sup_id = sup.id
        if department:
            dept = service.find_department(s, department)
            if dept is None:
                raise Fail(f"no department named {department!r} (--department)")
            dept_id = dept.id
        u = service.create_user(
            s,
            name,
            password,
            roles=roles,
            display_name=display_name,
            email=email,
            department_id=dept_id,
            superior_id=sup_id,
        )
        click.echo(f"created user {u.username} (id {u.id}, roles {', '.join(roles)})")
    if generated:
        click.echo(f"password: {password}")


@user.command("list")
@guarded
def user_list() -> None:
    """List users with their roles, department and superior."""
    from erpkit.core.auth.models import User

    with _state().erp.sessionmaker.begin() as s:
        for u in s.scalars(select(User).order_by(User.id)):
            click.echo(
                f"{u.id:>5} {u.username:<20} {','.join(r.code for r in u.roles):<24} "
                f"{u.department.name if u.department else '-':<16} "
                f"{u.superior.username if u.superior else '-':<16} "
                f"{'active' if u.is_active else 'inactive'}"
            )


@user.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="A name for the token.")
@click.option("--days", type=click.IntRange(1, 3650), help="Expire after this many days.")
@guarded
def user_token(name: str, label: str, days: int | None) -> None:
    """Create a personal API token for NAME and print it (shown once)."""
    from erpkit.core.auth import service

    with _state().erp.sessionmaker.begin() as s:
        u = service.find_user(s, name)
        if u is None:
            raise Fail(f"no user named {name!r}")
        click.echo(service.create_token(s, u, label, days))


@user.command("password")
@click.argument("name")
@guarded
def user_password(name: str) -> None:
    """Set NAME's password from standard input (signs their browsers out)."""
    from erpkit.core.auth import service

    password = sys.stdin.readline().rstrip("\r\n")
    with _state().erp.sessionmaker.begin() as s:
        u = service.find_user(s, name)
        if u is None:
            raise Fail(f"no user named {name!r}")
        service.set_password(s, u, password)
    click.echo(f"password of {name} changed")


@cli.group()
def role() -> None:
    """Roles and the permissions granted to them."""


@role.command("list")
@guarded
def role_list() -> None:
    """List roles, their data scope and granted permissions."""
    from erpkit.core.auth import service
    from erpkit.core.auth.models import Role

    with _state().erp.sessionmaker.begin() as s:
        grants = service.role_grants(s)
        for r in s.scalars(select(Role).order_by(Role.id)):
            perms = (
                "all" if r.code == service.ADMIN_ROLE else ", ".join(sorted(grants.get(r.id, [])))
            )
            click.echo(f"{r.code:<16} {r.data_scope:<11} {perms or '-'}")


@role.command("create")
@click.argument("code")
@click.option("--zh", "name_zh", required=True, help="Chinese name, e.g. 区域经理.")
@click.option("--en", "name_en", required=True, help="English name, e.g. Regional manager.")
@click.option(
    "--scope",
    "data_scope",
    type=click.Choice(["own", "department", "all"]),
    default="own",
    show_default=True,
    help="Which records the role sees.",
)
@guarded
def role_create(code: str, name_zh: str, name_en: str, data_scope: str) -> None:
    """Add the role CODE (without permissions: grant them next)."""
    from erpkit.core.auth import service

    with _state().erp.sessionmaker.begin() as s:
        r = service.create_role(s, code, name_zh, name_en, data_scope)
        click.echo(f"created role {r.code} ({r.data_scope})")


@role.command("grant")
@click.argument("role_code")
@click.argument("permissions", nargs=-1, required=True)
@guarded
def role_grant(role_code: str, permissions: tuple[str, ...]) -> None:
    """Grant PERMISSIONS to ROLE_CODE (keeps its other grants)."""
    _change_grants(role_code, add=set(permissions))


@role.command("revoke")
@click.argument("role_code")
@click.argument("permissions", nargs=-1, required=True)
@guarded
def role_revoke(role_code: str, permissions: tuple[str, ...]) -> None:
    """Take PERMISSIONS away from ROLE_CODE."""
    _change_grants(role_code, remove=set(permissions))


def _change_grants(role_code: str, add: set[str] = frozenset(), remove: set[str] = frozenset()):
    from erpkit.core.auth import service
    from erpkit.core.auth.models import Role

    erp = _state().erp
    with erp.sessionmaker.begin() as s:
        r = s.scalar(select(Role).where(Role.code == role_code))
        if r is None:
            raise Fail(f"no role {role_code!r}")
        current = set(service.role_grants(s).get(r.id, []))
        service.grant(s, role_code, (current | add) - remove, erp.registry.permissions)
    click.echo(f"{role_code}: {', '.join(sorted((current | add) - remove)) or '-'}")


@cli.group()
def department() -> None:
    """Departments (a tree)."""


@department.command("create")
@click.argument("name")
@click.option("--parent", help="Name of the parent department.")
@guarded
def department_create(name: str, parent: str | None) -> None:
    """Create the department NAME, optionally below --parent."""
    from erpkit.core.auth import service

    with _state().erp.sessionmaker.begin() as s:
        parent_id = None
        if parent:
            p = service.find_department(s, parent)
            if p is None:
                raise Fail(f"no department named {parent!r} (--parent)")
            parent_id = p.id
        d = service.create_department(s, name, parent_id)
        click.echo(f"created department {d.name} (id {d.id})")


# -- plugins -----------------------------------------------------------------------------------


@cli.group()
def plugins() -> None:
    """Installed and enabled plugins."""


@plugins.command("list")
@guarded
def plugins_list() -> None:
    """List installed plugins: enabled, version, dependencies."""
    from erpkit.core.plugins import discover, resolve

    settings = _state().settings
    installed = discover()
    enabled = set(resolve(installed, settings.plugins))
    if not installed:
        click.echo("no plugins installed")
        return
    click.echo(f"{'name':<16} {'enabled':<8} {'version':<10} {'depends':<30} origin")
    for name, p in sorted(installed.items()):
        m = p.manifest
        deps = ", ".join(m.depends) or "-"
        if m.optional:
            deps += f" (optional: {', '.join(m.optional)})"
        click.echo(
            f"{name:<16} {'yes' if name in enabled else 'no':<8} {m.version:<10} "
            f"{deps:<30} {p.origin}"
        )


def _add_plugin_commands(group: click.Group, state: State) -> None:
    pm: ErpPluginManager = state.erp.pm
    pm.hook.register_cli_commands(cli=group)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    state = State()
    # Plugins may add commands; a broken configuration must still get one clear line.
    wants_help = not argv or argv[0] in {"-h", "--help", "--version"}
    if os.environ.get("ERPKIT_NO_PLUGIN_COMMANDS") != "1":
        try:
            _add_plugin_commands(cli, state)
        except (ConfigError, PluginError, RegistrationError) as exc:
            if not wants_help:
                click.echo(f"erpkit: {exc}", err=True)
                sys.exit(EXIT_CONFIG)
    cli.main(args=argv, prog_name="erpkit", obj=state)


# -- worker -------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Jobs run at the same time (threads).",
)
@click.option(
    "--poll",
    "poll_interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds between looks for new jobs when idle.",
)
@click.option("--once", is_flag=True, help="Run the jobs queued now, then exit.")
@click.option("--no-schedules", is_flag=True, help="Do not queue scheduled jobs from here.")
@guarded
def worker(concurrency: int, poll_interval: float, once: bool, no_schedules: bool) -> None:
    """Run background jobs (imports, scheduled jobs) until stopped.

    Any number of workers may run, on any machine that reaches the database: each
    job runs once. SIGTERM or Ctrl+C stops taking new jobs and waits for the running
    ones to finish; a second signal exits at once (a job cut short is marked failed
    later, or queued again if its kind allows).
    """
    import signal
    import threading

    from erpkit.core import migrate
    from erpkit.core.jobs import run_pending
    from erpkit.core.jobs.worker import Worker

    erp = _state().erp
    behind = migrate.needs_upgrade(erp)
    if behind:
        raise Fail(f"the database is behind for {', '.join(behind)}: run `erpkit db upgrade`")
    if once:
        ran = run_pending(erp)
        click.echo(f"ran {len(ran)} job(s)")
        return
    w = Worker(
        erp, concurrency=concurrency, poll_interval=poll_interval, schedules=not no_schedules
    )
    stopped = threading.Event()

    def on_signal(signum, _frame) -> None:
        if w.stopping:
            click.echo("erpkit worker: stopping now", err=True)
            os._exit(1)
        click.echo(
            f"erpkit worker: {signal.Signals(signum).name}, finishing the running jobs",
            err=True,
        )
        w.request_stop()
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    w.start()
    click.echo(
        f"erpkit worker {w.name} running {concurrency} job(s) at a time "
        f"({redact_url(erp.settings.db_url)})",
        err=True,
    )
    while not stopped.wait(0.5):
        pass
    w.stop(timeout=None)
    erp.engine.dispose()
    click.echo("erpkit worker: stopped", err=True)
