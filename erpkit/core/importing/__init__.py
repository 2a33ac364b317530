"""Batch import from .xlsx and CSV: schemas registered by plugins, run as background jobs.

A plugin describes what it imports with ``register_import_schemas``::

    @hookimpl
    def register_import_schemas(erp):
        return [ImportSchema(
            "customers.customers", N_("Customers"),
            columns=(
                Column("name", N_("Customer name"), aliases=("客户名称", "名称", "name"),
                       required=True, max_length=200),
                Column("grade", N_("Value grade"), type="choice",
                       option_list="customers.grade"),
                Column("credit_limit", N_("Credit limit"), type="decimal", places=2),
            ),
            write_batch=write_customers,
            check_batch=find_duplicates,
            permission="customers.create",
        )]

The framework reads the file (python-calamine for .xlsx, streaming CSV in UTF-8,
UTF-8 with BOM, UTF-16 or GB18030), matches the header row to the columns (Chinese or
English names and aliases, ignoring case, spaces, punctuation and full-width forms),
converts every cell (numbers and dates written as text, full-width digits, Excel date
serials, 是/否), calls ``validate_row(row, ctx)`` per row and
``check_batch(session, rows, ctx)`` once per batch (duplicates: one query for the
batch), and hands the good rows to ``write_batch(session, rows, ctx)`` in batches of
``batch_size``. Rejected rows go to an .xlsx report with their row number, original
values and the reason. ``all_or_nothing`` writes nothing if any row is bad;
``valid_rows`` writes the good rows and reports the others.

``write_batch`` should insert with :func:`insert_rows` (SQLAlchemy Core executemany,
COPY on PostgreSQL): ORM ``add_all`` is about ten times slower.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.orm import Session

from erpkit.core.registry import Option, RegistrationError

MODES = ("all_or_nothing", "valid_rows")
TYPES = ("text", "int", "decimal", "date", "bool", "choice")


@dataclass(frozen=True)
class Column:
    """One column of an import.

    ``key`` is the field name in the converted row; ``label`` is English (translated
    when shown, and matched in both languages); ``aliases`` are more header names that
    mean this column (``("客户名称", "名称", "name")``). ``type``: text, int, decimal,
    date, bool or choice. A choice column takes the code or the Chinese or English label
    of an option, from ``choices`` or the option list ``option_list``, and gives the
    code. ``places`` caps the decimal places of a decimal; ``min``/``max`` bound numbers.
    """

    key: str
    label: str
    aliases: tuple[str, ...] = ()
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    choices: tuple[Option | tuple[str, str, str] | str, ...] = ()
    option_list: str | None = None
    places: int | None = None
    min: Any = None
    max: Any = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise RegistrationError(
                f"import column {self.key!r}: type {self.type!r} is not one of {', '.join(TYPES)}"
            )
        if self.type == "choice" and not self.choices and not self.option_list:
            raise RegistrationError(
                f"import column {self.key!r}: a choice column needs choices or option_list"
            )


@dataclass(frozen=True)
class ImportSchema:
    """What a plugin imports: columns, per-row and per-batch checks, a batch writer.

    ``validate_row(row, ctx)`` may change ``row`` in place, and refuses it by raising
    :class:`RowError` (or :class:`~erpkit.core.errors.ValidationError`) or by returning
    ``{"field": "why"}``. ``check_batch(session, rows, ctx)`` returns ``{index: why}``
    for rows of the batch to refuse (one query per batch, e.g. duplicates).
    ``write_batch(session, rows, ctx)`` writes the batch inside the import's
    transaction. ``permission`` is needed, besides ``core.import``, to run it.
    """

    name: str
    label: str
    columns: tuple[Column, ...]
    write_batch: Callable[[Session, list[dict[str, Any]], ImportContext], Any]
    entity_type: str | None = None
    validate_row: Callable[[dict[str, Any], Any], Mapping[str, str] | None] | None = None
    check_batch: Callable[[Session, list[dict[str, Any]], Any], Mapping[int, Any]] | None = None
    batch_size: int = 1000
    permission: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        keys = [c.key for c in self.columns]
        if not keys:
            raise RegistrationError(f"import schema {self.name!r} has no columns")
        if len(keys) != len(set(keys)):
            raise RegistrationError(f"import schema {self.name!r} repeats a column key")
        if not callable(self.write_batch):
            raise RegistrationError(f"import schema {self.name!r}: write_batch must be callable")
        if not 1 <= self.batch_size <= 100_000:
            raise RegistrationError(f"import schema {self.name!r}: batch_size out of range")

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


class RowError(Exception):
    """Raise from ``validate_row`` to refuse a row: ``{"field": "why"}`` or a message."""

    def __init__(self, errors: Mapping[str, str] | str) -> None:
        self.errors = {"": errors} if isinstance(errors, str) else dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclass
class ImportContext:
    """What the schema's callbacks receive: the app, the user who imports, the mode,
    and ``state``, a dict that lives for the whole import (e.g. keys seen so far)."""

    erp: Any
    schema: ImportSchema
    user: Any
    user_id: int | None
    mode: str
    job_id: int | None = None
    locale: str = "zh_CN"
    state: dict[str, Any] = field(default_factory=dict)


# -- writing ---------------------------------------------------------------------------------


def _copy_enabled() -> bool:
    return os.environ.get("ERPKIT_IMPORT_COPY", "1") not in {"0", "false", "no"}


def insert_rows(session: Session, table: Table | Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's
    transaction, without RETURNING: COPY on PostgreSQL, one DB-API executemany on
    SQLite (the values go through the column types' bind processors, as SQLAlchemy
    would, at a fifth of its per-row cost; bench/import_rows.py). Python-side column
    defaults (``default=dict``) are applied either way."""
    if not rows:
        return
    table = getattr(table, "__table__", table)
    conn = session.connection()
    name = conn.dialect.name
    if name == "postgresql" and _copy_enabled():
        _copy(conn, table, rows)
    elif name == "sqlite":
        _executemany(conn, table, rows)
    else:
        conn.execute(insert(table), list(rows))


def _defaults(table: Table, keys: list[str]) -> list[tuple[str, Callable[[], Any]]]:
    """The columns the rows leave out that have a Python-side default, with a maker."""
    extra = []
    for col in table.columns:
        if col.name in keys or col.default is None or col.primary_key:
            continue
        default = col.default
        if default.is_scalar:
            extra.append((col.name, lambda v=default.arg: v))
        elif default.is_callable:
            extra.append((col.name, lambda f=default.arg: f(None)))
    return extra


def _executemany(conn, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    keys = list(rows[0])
    extra = _defaults(table, keys)
    names = keys + [n for n, _f in extra]
    dialect = conn.dialect
    procs = []
    for i, n in enumerate(names):
        proc = table.c[n].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            procs.append((i, proc))
    prep = dialect.identifier_preparer
    sql = (
        f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(names))})"
    )
    get = itemgetter(*keys)
    single = len(keys) == 1
    params = []
    for row in rows:
        try:
            values = [get(row)] if single else list(get(row))
        except KeyError:
            values = [row.get(k) for k in keys]
        for _n, make in extra:
            values.append(make())
        for i, proc in procs:
            v = values[i]
            if v is not None:
                values[i] = proc(v)
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)


def _copy(conn, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    import psycopg
    from psycopg.types.json import Jsonb
    from sqlalchemy.exc import DBAPIError

    keys = list(rows[0])
    extra = _defaults(table, keys)
    names = keys + [n for n, _f in extra]
    json_cols = [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
    prep = conn.dialect.identifier_preparer
    sql = f"COPY {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) FROM STDIN"
    get = itemgetter(*keys)
    single = len(keys) == 1
    raw = conn.connection.driver_connection
    try:
        with raw.cursor() as cur, cur.copy(sql) as copy:
            write = copy.write_row
            for row in rows:
                try:
                    values = [get(row)] if single else list(get(row))
                except KeyError:
                    values = [row.get(k) for k in keys]
                for _n, make in extra:
                    values.append(make())
                for i in json_cols:
                    if values[i] is not None:
                        values[i] = Jsonb(values[i])
                write(values)
    except psycopg.Error as exc:
        # as SQLAlchemy would raise it (IntegrityError, DataError...), so that callers
        # handle COPY and executemany alike
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


from erpkit.core.importing.service import preview, start_import, template_xlsx  # noqa: E402

__all__ = [
    "MODES",
    "TYPES",
    "Column",
    "ImportContext",
    "ImportSchema",
    "RowError",
    "insert_rows",
    "preview",
    "start_import",
    "template_xlsx",
]
