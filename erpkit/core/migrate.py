"""Schema migrations: one Alembic branch per plugin, composed from the enabled ones.

Each branch (the core's and every enabled plugin's) keeps its revision in its own
version table, ``alembic_version_<name>``. That is what makes "installed is not
enabled" safe: a disabled plugin's revision is never read while it is off, its
tables stay as they are, and enabling it again upgrades it from where it stopped.
Branches run in plugin dependency order (core first), so a plugin's foreign keys
always find the tables they refer to; all branches run in one transaction, under
an advisory lock on PostgreSQL so that two starting workers do not race.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from erpkit.core.db import metadata

ENV_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 72_757_001  # any constant: the advisory lock erpkit migrations take


@dataclass
class BranchState:
    name: str
    current: tuple[str, ...]
    heads: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.heads)


def version_table(name: str) -> str:
    return f"alembic_version_{name}"


def branches(erp) -> list[tuple[str, Path]]:
    """(name, versions directory) in upgrade order: the core, then enabled plugins."""
    return list(erp.registry.migrations.items())


def _config(
    name: str, directory: Path, connection: Connection | None = None, tables=None
) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    cfg.set_main_option("version_locations", str(directory))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["metadata"] = metadata
    cfg.attributes["version_table"] = version_table(name)
    if tables is not None:
        cfg.attributes["tables"] = set(tables)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def branch_tables(erp, name: str) -> set[str]:
    return {t for t, owner in erp.registry.tables.items() if owner == name}


def upgrade(erp, echo: Callable[[str], None] = lambda _m: None) -> list[BranchState]:
    """Upgrade every branch to its heads; returns the states before upgrading."""
    before = states(erp)
    with erp.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
        for name, directory in branches(erp):
            state = _state(conn, name, directory)
            if state.up_to_date:
                continue
            echo(
                f"upgrading {name}: {', '.join(state.current) or '(empty)'} -> "
                f"{', '.join(state.heads)}"
            )
            command.upgrade(_config(name, directory, conn), "heads")
    return before


def states(erp) -> list[BranchState]:
    with erp.engine.connect() as conn:
        return [_state(conn, name, d) for name, d in branches(erp)]


def _state(conn: Connection, name: str, directory: Path) -> BranchState:
    script = ScriptDirectory.from_config(_config(name, directory))
    heads = tuple(sorted(script.get_heads()))
    if not inspect(conn).has_table(version_table(name)):
        return BranchState(name, (), heads)
    ctx = MigrationContext.configure(conn, opts={"version_table": version_table(name)})
    return BranchState(name, tuple(sorted(ctx.get_current_heads())), heads)


def needs_upgrade(erp) -> list[str]:
    """Names of the branches that are behind their heads."""
    return [s.name for s in states(erp) if not s.up_to_date]


def revision(erp, plugin: str, message: str, autogenerate: bool = True) -> None:
    """Write a new revision for ``plugin``'s branch (for plugin authors)."""
    directory = erp.registry.migrations[plugin]
    with erp.engine.begin() as conn:
        cfg = _config(plugin, directory, conn, tables=branch_tables(erp, plugin))
        script = ScriptDirectory.from_config(cfg)
        heads = script.get_heads()
        kwargs = {"head": "heads"} if heads else {"branch_label": plugin, "head": "base"}
        command.revision(
            cfg, message=message, autogenerate=autogenerate, version_path=str(directory), **kwargs
        )
