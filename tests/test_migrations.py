"""Migrations: every branch matches its models, and plugins can be switched off and on."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from my_plugin.models import Note
from sqlalchemy import inspect, select

from erpkit.core import migrate
from erpkit.core.app import build_erp
from erpkit.core.db import metadata


def _diff(erp, branch):
    tables = migrate.branch_tables(erp, branch)

    def include(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in tables

    with erp.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include, "compare_type": True}
        )
        return compare_metadata(ctx, metadata)


def test_every_branch_matches_its_models(erp):
    for branch in erp.registry.migrations:
        assert migrate.branch_tables(erp, branch), f"branch {branch} has no tables"
        assert _diff(erp, branch) == [], f"models and migrations of {branch} differ"


def test_every_table_has_a_migration(erp):
    with erp.engine.connect() as conn:
        existing = set(inspect(conn).get_table_names())
    assert set(erp.registry.tables) <= existing


def test_upgrade_twice_changes_nothing(erp):
    before = migrate.states(erp)
    migrate.upgrade(erp)
    assert migrate.states(erp) == before
    assert migrate.needs_upgrade(erp) == []


def test_plugin_switched_off_and_on_finds_its_data(make_app, settings, people, erp):
    with erp.sessionmaker.begin() as s:
        s.add(Note(title="keep me", owner_id=people["sales1"]))
    # off: the core still upgrades; the plugin's version table and data stay as they are
    off = build_erp(settings, ["my_other"], (__import__("my_plugin"), __import__("my_other")))
    assert [name for name, _ in migrate.branches(off)] == ["core"]
    migrate.upgrade(off)
    with off.engine.connect() as conn:
        assert inspect(conn).has_table("my_plugin_note")
    make_app(plugins=["my_other"])
    # on again: nothing to do, the note is there
    again = build_erp(
        settings, ["my_plugin", "my_other"], (__import__("my_plugin"), __import__("my_other"))
    )
    assert migrate.needs_upgrade(again) == []
    with again.sessionmaker() as s:
        assert s.scalars(select(Note.title)).all() == ["keep me"]


def test_fresh_database_needs_upgrade(settings):
    import my_plugin

    # nothing has migrated this database yet
    erp = build_erp(settings, ["my_plugin"], [my_plugin])
    assert sorted(migrate.needs_upgrade(erp)) == ["core", "my_plugin"]
    migrate.upgrade(erp)
    assert migrate.needs_upgrade(erp) == []
    erp.engine.dispose()
