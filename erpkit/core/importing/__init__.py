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

``write_batch`` should insert with :func:`insert_rows` (multi-row INSERTs on SQLite,
COPY on PostgreSQL): ORM ``add_all`` is about ten times slower.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import chain, repeat
from operator import is_, itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Table, insert
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
    ``{"field": "why"}``. ``validate_batch(rows, ctx)`` does the same for many rows at
    once (the rows that converted, a batch at a time): it may change them in place and
    returns ``{index: {"field": "why"}}`` for the rows to refuse; give it instead of
    ``validate_row`` where a check costs less over a column than row by row (C loops
    over a list). ``check_batch(session, rows, ctx)`` returns ``{index: why}``
    for rows of the batch to refuse (one query per batch, e.g. duplicates).
    ``write_batch(session, rows, ctx)`` writes the batch inside the import's
    transaction. ``permission`` is needed, besides ``core.import``, to run it.

    ``read_ahead`` (the default): the rows are read, converted and given to
    ``validate_row`` (``validate_batch``) in a thread of their own, a batch or two ahead
    of the thread that runs ``check_batch`` and ``write_batch``, so that Python converts
    while the database writes. ``validate_row`` and ``validate_batch`` must then keep to
    their rows (no session, no ``ctx.state``); a schema whose checks need more sets
    ``read_ahead=False``.
    """

    name: str
    label: str
    columns: tuple[Column, ...]
    write_batch: Callable[[Session, list[dict[str, Any]], ImportContext], Any]
    entity_type: str | None = None
    validate_row: Callable[[dict[str, Any], Any], Mapping[str, str] | None] | None = None
    validate_batch: (
        Callable[[list[dict[str, Any]], Any], Mapping[int, Mapping[str, str]]] | None
    ) = None
    check_batch: Callable[[Session, list[dict[str, Any]], Any], Mapping[int, Any]] | None = None
    batch_size: int = 1000
    permission: str | None = None
    description: str = ""
    read_ahead: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        keys = [c.key for c in self.columns]
        if not keys:
            raise RegistrationError(f"import schema {self.name!r} has no columns")
        if len(keys) != len(set(keys)):
            raise RegistrationError(f"import schema {self.name!r} repeats a column key")
        if not callable(self.write_batch):
            raise RegistrationError(f"import schema {self.name!r}: write_batch must be callable")
        if self.validate_row is not None and self.validate_batch is not None:
            raise RegistrationError(
                f"import schema {self.name!r}: give validate_row or validate_batch, not both"
            )
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


#: SQLite: rows per INSERT statement (fewer if the statement would take more parameters
#: than SQLite allows)
ROWS_PER_STATEMENT = 500


def _copy_enabled() -> bool:
    return os.environ.get("ERPKIT_IMPORT_COPY", "1") not in {"0", "false", "no"}


def insert_rows(
    session: Session,
    table: Table | Any,
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    *,
    columns: Sequence[str] | None = None,
    const: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` into ``table`` in the session's transaction, without RETURNING:
    COPY on PostgreSQL; on SQLite, INSERT statements of many rows each (the values go
    through the column types' bind processors, as SQLAlchemy would, at a fifth of its
    per-row cost; bench/import_rows.py). Python-side column defaults (``default=dict``)
    are applied to the columns the rows leave out, either way.

    ``rows`` are dicts with the same keys; or, with ``columns``, tuples (or lists) of
    values in that order, which spares building a dict per row. ``const`` gives the
    columns whose value is the same for every row (the user, the time, an empty JSON
    object): converted once for the batch, not once per row."""
    if not rows:
        return
    table = getattr(table, "__table__", table)
    conn = session.connection()
    name = conn.dialect.name
    if name == "postgresql" and _copy_enabled():
        _copy(conn, table, rows, columns, const or {})
    elif name == "sqlite":
        _insert_values(conn, table, rows, columns, const or {})
    else:
        if columns is not None:
            keys = list(columns)
            rows = [dict(zip(keys, row, strict=True)) for row in rows]
        if const:
            rows = [{**row, **const} for row in rows]
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


def _columns_of(
    rows: Sequence[Any], keys: list[str], columns: Sequence[str] | None
) -> list[list[Any]]:
    """The rows' values column by column, in the order of ``keys`` (C loops: a
    per-row Python loop here cost a quarter of an import's writing)."""
    if columns is not None:
        out = [list(c) for c in zip(*rows, strict=True)]
        return out or [[] for _k in keys]
    try:
        return [list(map(itemgetter(k), rows)) for k in keys]
    except KeyError:  # a row without some key: its value is None
        return [[row.get(k) for row in rows] for k in keys]


def _has_none(values: list[Any]) -> bool:
    # by identity: ``None in values`` compares, and a Decimal compared with None asks
    # whether None is a Rational (an ABC's Python-level isinstance, per value)
    return any(map(is_, values, repeat(None)))


def _processed(proc: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``values`` through a bind processor; None stays None (SQL NULL)."""
    if _has_none(values):
        return [None if v is None else proc(v) for v in values]
    return list(map(proc, values))


_SQLITE_DATE_FORMAT = "%(year)04d-%(month)02d-%(day)02d"


def _column_processor(type_, dialect) -> Callable[[list[Any]], list[Any]] | None:
    """A function values -> bound values for a column of ``type_`` (None: as given):
    the type's bind processor per value, with C loops for the common cases where they
    give the same (a date column of dates on SQLite: ISO text; a boolean column of
    bools without a native boolean: 0 and 1)."""
    impl = type_.dialect_impl(dialect)
    proc = impl.bind_processor(dialect)
    if proc is None:
        return None
    usual = None
    if isinstance(type_, Date) and getattr(impl, "_storage_format", None) == _SQLITE_DATE_FORMAT:
        usual, fast = date, date.isoformat
    elif isinstance(type_, Boolean) and not dialect.supports_native_boolean:
        usual, fast = bool, int

    def process(values: list[Any]) -> list[Any]:
        if usual is not None and values and set(map(type, values)) == {usual}:
            return list(map(fast, values))
        return _processed(proc, values)

    return process


def _insert_values(
    conn,
    table: Table,
    rows: Sequence[Any],
    columns: Sequence[str] | None,
    const: Mapping[str, Any],
) -> None:
    keys = list(columns) if columns is not None else list(rows[0])
    extra = _defaults(table, keys + list(const))
    dialect = conn.dialect

    def processor(n):
        return table.c[n].type.dialect_impl(dialect).bind_processor(dialect)

    procs = [
        (i, p) for i, n in enumerate(keys) if (p := _column_processor(table.c[n].type, dialect))
    ]
    tail = []
    for n, v in const.items():
        p = processor(n)
        tail.append(p(v) if p is not None and v is not None else v)
    # the columns that have a Python default come after the given ones, converted too
    made = [(make, processor(n)) for n, make in extra]
    if columns is not None and not procs and not made:
        params = rows  # the rows as given: no per-value work at all
    else:
        cols = _columns_of(rows, keys, columns)
        for i, process in procs:
            cols[i] = process(cols[i])
        for make, proc in made:
            col = [make() for _row in rows]
            cols.append(_processed(proc, col) if proc is not None else col)
        params = list(zip(*cols, strict=True))
    vary = keys + [n for n, _f in extra]
    names = vary + list(const)
    if not vary:  # nothing but constants: they vary then
        vary, params, tail = names, [tail] * len(rows), []
    # many rows per statement: SQLite runs each in one step, without the GIL all along
    # (an executemany takes it back after every row: with the import's reading thread
    # running, each row then waited for its turn; bench/import_customers.py). The
    # constants are bound once per statement, not once per row.
    prep = dialect.identifier_preparer
    into = f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) "
    if tail:
        picks = [f"column{i}" for i in range(1, len(vary) + 1)] + ["?"] * len(tail)
        head, end = f"{into}SELECT {', '.join(picks)} FROM (VALUES ", ")"  # noqa: S608
    else:
        head, end = f"{into}VALUES ", ""
    raw = conn.connection.driver_connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - len(tail)
    per = max(1, min(ROWS_PER_STATEMENT, limit // len(vary)))
    one = "(" + ",".join("?" * len(vary)) + ")"
    for start, size in _chunks(len(params), per):
        sql = head + ",".join([one] * size) + end
        values = chain(tail, chain.from_iterable(params[start : start + size]))
        conn.exec_driver_sql(sql, tuple(values))


def _chunks(count: int, per: int) -> Iterator[tuple[int, int]]:
    """``(start, size)`` of statements for ``count`` rows: ``per`` rows each, the rest
    in powers of two, so that the statements have few different sizes (the driver
    keeps each size prepared)."""
    start = 0
    while count - start >= per:
        yield start, per
        start += per
    size = 1 << max(0, (count - start).bit_length() - 1)
    while start < count:
        while size > count - start:
            size >>= 1
        yield start, size
        start += size


def _copy(
    conn,
    table: Table,
    rows: Sequence[Any],
    columns: Sequence[str] | None,
    const: Mapping[str, Any],
) -> None:
    import psycopg
    from psycopg.types.json import Jsonb
    from sqlalchemy.exc import DBAPIError

    keys = list(columns) if columns is not None else list(rows[0])
    extra = _defaults(table, keys + list(const))
    names = keys + list(const) + [n for n, _f in extra]
    json_cols = [i for i, n in enumerate(keys) if isinstance(table.c[n].type, JSON)]
    # COPY's text format: a JSON value the same for every row goes in as its text, once
    tail = tuple(
        json.dumps(v) if v is not None and isinstance(table.c[n].type, JSON) else v
        for n, v in const.items()
    )
    json_extra = [isinstance(table.c[n].type, JSON) for n, _f in extra]
    prep = conn.dialect.identifier_preparer
    sql = f"COPY {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) FROM STDIN"
    raw = conn.connection.driver_connection
    try:
        with raw.cursor() as cur, cur.copy(sql) as copy:
            write = copy.write_row
            if columns is not None and not json_cols and not extra:
                if tail:
                    for row in rows:
                        write((*row, *tail))
                else:
                    for row in rows:
                        write(row)
                return
            cols = _columns_of(rows, keys, columns)
            for i in json_cols:
                cols[i] = _processed(Jsonb, cols[i])
            cols.extend([v] * len(rows) for v in tail)
            for (_n, make), is_json in zip(extra, json_extra, strict=True):
                col = [make() for _row in rows]
                cols.append(_processed(Jsonb, col) if is_json else col)
            for values in zip(*cols, strict=True):
                write(values)
    except psycopg.Error as exc:
        # as SQLAlchemy would raise it (IntegrityError, DataError...), so that callers
        # handle COPY and executemany alike
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _single_pk(table: Table):
    pk = list(table.primary_key.columns)
    if len(pk) != 1:
        raise ValueError(f"{table.name} has no single-column primary key")
    return pk[0]


def reserve_ids(session: Session, table: Table | Any, count: int) -> list[int]:
    """``count`` new primary-key values of ``table``, for rows the caller inserts with
    their ids (so that it knows them without RETURNING or a query by another key).

    PostgreSQL: taken from the column's sequence in one query (safe under concurrent
    inserts; not necessarily consecutive). SQLite: the next ``count`` after the
    largest id, which is safe because the session's transaction holds SQLite's write
    lock (``BEGIN IMMEDIATE``; see :mod:`erpkit.core.db`): nobody else inserts until it
    ends. A table declared ``sqlite_autoincrement`` also skips ids used before."""
    if count < 1:
        return []
    table = getattr(table, "__table__", table)
    pk = _single_pk(table)
    conn = session.connection()
    prep = conn.dialect.identifier_preparer
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql(
            "SELECT nextval(q.s) FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS s) q, "
            "generate_series(1, %s)",
            (prep.format_table(table), pk.name, count),
        )
        return [r[0] for r in found]
    last = conn.exec_driver_sql(
        f"SELECT max({prep.quote(pk.name)}) FROM {prep.format_table(table)}"  # noqa: S608
    ).scalar()
    last = last or 0
    if table.kwargs.get("sqlite_autoincrement"):
        seq = conn.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table.name,)
        ).scalar()
        last = max(last, seq or 0)
    return list(range(last + 1, last + 1 + count))


def find_existing(
    session: Session,
    table: Table | Any,
    keys: Mapping[str, Collection[Any]],
    give: str,
) -> dict[str, dict[Any, Any]]:
    """Which of the given values are stored already, for several columns at once:
    ``{column: {value: the stored row's give}}`` (e.g. name, credit code and phone ->
    customer number, for duplicate checks of a batch). One statement for all the
    columns, one parameter per column (PostgreSQL ``= ANY(array)``, SQLite ``IN
    json_each``), so that a batch of 1,000 values costs one cached statement rather
    than compiling and binding 1,000 parameters. Values: text or numbers."""
    table = getattr(table, "__table__", table)
    out: dict[str, dict[Any, Any]] = {k: {} for k in keys}
    asked = [(k, list(v)) for k, v in keys.items() if v]
    if not asked:
        return out
    conn = session.connection()
    dialect = conn.dialect
    prep = dialect.identifier_preparer
    name, given = prep.format_table(table), prep.quote(give)
    parts, params = [], []
    for index, (key, values) in enumerate(asked):
        col = table.c[key]
        if dialect.name == "postgresql":
            array = f"{col.type.compile(dialect=dialect)}[]"
            test = f"{prep.quote(key)} = ANY(CAST(%s AS {array}))"
            params.append(values)
        else:
            test = f"{prep.quote(key)} IN (SELECT value FROM json_each(?))"  # noqa: S608
            params.append(json.dumps(values, ensure_ascii=False))
        parts.append(f"SELECT {index}, {prep.quote(key)}, {given} FROM {name} WHERE {test}")  # noqa: S608
    sql = " UNION ALL ".join(parts)
    for index, value, found in conn.exec_driver_sql(sql, tuple(params)):
        out[asked[index][0]][value] = found
    return out


from erpkit.core.importing.service import preview, start_import, template_xlsx  # noqa: E402

__all__ = [
    "MODES",
    "TYPES",
    "Column",
    "ImportContext",
    "ImportSchema",
    "RowError",
    "find_existing",
    "insert_rows",
    "preview",
    "reserve_ids",
    "start_import",
    "template_xlsx",
]
