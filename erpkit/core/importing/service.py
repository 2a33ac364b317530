"""The import flow: upload -> header mapping -> preview -> job -> counts and report.

The uploaded file is kept in the database (``core_job_file``, 1 MiB chunks) with its
first rows as JSON, so the mapping and preview steps never re-read the file and any
worker on any machine can run the import. The job streams the rows, converts them,
writes the good ones batch by batch and writes each rejected row to an .xlsx report
(openpyxl write-only) as it goes: memory holds one batch, whatever the file's length.
"""

from __future__ import annotations

import contextvars
import io
import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from erpkit.core import i18n
from erpkit.core.errors import ErpError, NotFound, PermissionDenied, ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.importing import MODES, ImportContext, ImportSchema, RowError, readers
from erpkit.core.importing import convert as cv
from erpkit.core.importing.report import ReportWriter
from erpkit.core.importing.spool import Spool
from erpkit.core.jobs import JobCancelled, JobContext, JobFailed
from erpkit.core.jobs import service as jobs
from erpkit.core.jobs.models import JobFile

IMPORT_PERMISSION = "core.import"
_MISSING = object()  # a cell that did not convert (RowConverter.batch)
JOB_KIND = "core.import"
PREVIEW_ROWS = 20
#: valid_rows mode commits at most this often (seconds; half of it on SQLite, where other
#: requests wait for the write lock meanwhile): a commit per batch cost a tenth of the
#: run on SQLite, a commit every quarter second still 0.4 s of CPU per 100,000 customers
COMMIT_EVERY = 1.0
#: all or nothing on SQLite: the part of the rows checked (and kept aside) before the
#: import starts writing (see Importer.spool_or_switch)
SWITCH_AT = 0.25
#: pieces of converted rows (each up to a batch) the reading thread may be ahead by
READ_AHEAD = 2
#: SQLite, on the import's connection while it runs: a page cache of this many KiB (the
#: default 2 MiB holds a fraction of the indexes the rows go into: pages were read back
#: from the OS again and again) and a checkpoint of the write-ahead log every this many
#: pages (4 KiB each) rather than at nearly every commit (each checkpoint syncs the
#: log and the database file to disk, and writes the index pages the last commits
#: changed again). Both go back to what they were when the import ends.
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_CHECKPOINT_PAGES = 16 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TYPE_LABELS = {
    "text": N_("Text"),
    "int": N_("Whole number"),
    "decimal": N_("Number"),
    "date": N_("Date"),
    "bool": N_("Yes/No"),
    "choice": N_("Choice"),
}
MODE_LABELS = {
    "all_or_nothing": N_("All or nothing: import only if every row is valid"),
    "valid_rows": N_("Import the valid rows and report the others"),
}


def limits(erp) -> readers.Limits:
    mb = 1024 * 1024
    return readers.Limits(
        max_bytes=jobs.setting(erp, "import_max_mb", "ERPKIT_IMPORT_MAX_MB", 50, int) * mb,
        max_unzipped=jobs.setting(
            erp, "import_max_unzipped_mb", "ERPKIT_IMPORT_MAX_UNZIPPED_MB", 500, int
        )
        * mb,
        max_rows=jobs.setting(erp, "import_max_rows", "ERPKIT_IMPORT_MAX_ROWS", 300_000, int),
    )


# -- schemas ------------------------------------------------------------------------------


def all_schemas(erp) -> dict[str, ImportSchema]:
    return erp.registry.items("import schema")


def may_run(user, schema: ImportSchema) -> bool:
    return (
        user is not None
        and user.can(IMPORT_PERMISSION)
        and (schema.permission is None or user.can(schema.permission))
    )


def schemas_for(erp, user) -> list[ImportSchema]:
    """The schemas ``user`` may import, by label."""
    return sorted(
        (s for s in all_schemas(erp).values() if may_run(user, s)), key=lambda s: _(s.label)
    )


def get_schema(erp, name: str, user=None) -> ImportSchema:
    schema = all_schemas(erp).get(name)
    if schema is None:
        raise NotFound(_("No such import."))
    if user is not None and not may_run(user, schema):
        raise PermissionDenied(_("You are not allowed to do this."))
    return schema


# -- upload ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """How the file's columns map to the schema's."""

    header_row: int
    headers: list[str]
    targets: list[str | None]
    unmatched: list[str]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and any(self.targets)


def _copy_upload(erp, stream: IO[bytes], name: str) -> Path:
    lim = limits(erp)
    suffix = ".csv" if name.lower().endswith((".csv", ".txt")) else ".xlsx"
    fd, name_ = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=jobs.temp_dir(erp))
    os.close(fd)
    path = Path(name_)
    size = 0
    with path.open("wb") as out:
        while True:
            data = stream.read(jobs.FILE_CHUNK)
            if not data:
                break
            size += len(data)
            if size > lim.max_bytes:
                out.close()
                path.unlink(missing_ok=True)
                raise readers.refuse(
                    _("The file is larger than %(n)s MB.", n=lim.max_bytes // (1024 * 1024))
                )
            out.write(data)
    return path


def read_upload(
    erp, schema: ImportSchema, stream: IO[bytes], name: str
) -> tuple[Path, dict[str, Any]]:
    """Copy an upload to a working file and read what the import needs to know first:
    its kind, header row and first rows. A clear :class:`ValidationError` (field
    ``file``) when it cannot be imported. The caller deletes the file."""
    path = _copy_upload(erp, stream, name)
    try:
        info = readers.inspect(path, limits(erp))
        head = readers.head(path, info)
        if not head:
            raise readers.refuse(_("The sheet is empty."))
        found = cv.find_header_row(erp, schema, head)
        pos = found[0] if found else 0
        if pos + 1 >= len(head):
            raise readers.refuse(_("The sheet has a header row but no data below it."))
        header_row, header_cells = head[pos]
        headers = [cv.display_raw(c).strip() for c in header_cells]
        while headers and not headers[-1]:
            headers.pop()
        meta = {
            "schema": schema.name,
            "info": info.to_json(),
            "header_row": header_row,
            "headers": headers,
            "head": [[n, [readers.to_json_cell(c) for c in cells]] for n, cells in head[pos + 1 :]],
        }
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, meta


def clean_name(name: str | None) -> str:
    return (name or "upload").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"


def save_upload(
    erp, session: Session, schema: ImportSchema, stream: IO[bytes], name: str, user_id: int | None
) -> JobFile:
    """Check an uploaded file and keep it (in the database) with its first rows."""
    name = clean_name(name)
    path, meta = read_upload(erp, schema, stream, name)
    try:
        with path.open("rb") as fh:
            return jobs.store_file(
                session,
                fh,
                name=name,
                purpose="upload",
                content_type=XLSX if meta["info"]["kind"] == "xlsx" else "text/csv",
                created_by=user_id,
                meta=meta,
            )
    finally:
        path.unlink(missing_ok=True)


def get_upload(session: Session, file_id: int, user, schema: ImportSchema) -> JobFile:
    """An upload of ``user`` (or any, for an admin) for ``schema``; 404 otherwise."""
    f = session.get(JobFile, file_id)
    if (
        f is None
        or f.purpose != "upload"
        or (f.meta or {}).get("schema") != schema.name
        or (user is not None and f.created_by != user.id and not user.is_admin)
    ):
        raise NotFound(_("The uploaded file was not found; upload it again."))
    return f


def parse_mapping(text: str | None) -> dict[str, str | None] | None:
    """The API's ``mapping`` field: a JSON object {"header in the file": "column key"}."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise ValidationError(
            {"mapping": _('Give the mapping as a JSON object: {"header": "column key"}.')}
        )
    return value


def make_plan(
    erp,
    schema: ImportSchema,
    meta: Mapping[str, Any],
    by_header: Mapping[str, str | None] | None = None,
    by_index: Mapping[int, str | None] | None = None,
) -> Plan:
    """The automatic header match, changed by an explicit mapping (by header text, as
    the API takes it, or by column position, as the wizard sends it)."""
    headers = list(meta["headers"])
    targets = cv.match_headers(erp, schema, headers)
    keys = {c.key for c in schema.columns}
    if by_header:
        known = {h: i for i, h in reversed(list(enumerate(headers)))}
        for header, key in by_header.items():
            if header.strip() not in known:
                raise ValidationError(
                    {"mapping": _("The file has no column %(name)s.", name=header)}
                )
            targets[known[header.strip()]] = key or None
    for index, key in (by_index or {}).items():
        if 0 <= index < len(targets):
            targets[index] = key or None
    for key in targets:
        if key is not None and key not in keys:
            raise ValidationError({"mapping": _("There is no column %(name)s.", name=key)})
    chosen = [t for t in targets if t]
    if len(chosen) != len(set(chosen)):
        twice = next(t for t in chosen if chosen.count(t) > 1)
        raise ValidationError(
            {
                "mapping": _(
                    "%(name)s is chosen for two columns.", name=cv.label(erp, schema.column(twice))
                )
            }
        )
    unmatched = [h for h, t in zip(headers, targets, strict=False) if h and t is None]
    missing = [c.key for c in schema.columns if c.required and c.key not in chosen]
    return Plan(
        header_row=int(meta["header_row"]),
        headers=headers,
        targets=targets,
        unmatched=unmatched,
        missing=missing,
    )


# -- converting rows --------------------------------------------------------------------------


class RowConverter:
    """Converts one row of cells into the schema's values, or says what is wrong."""

    def __init__(self, erp, schema: ImportSchema, targets: list[str | None]) -> None:
        self.schema = schema
        self.conv = [
            (i, key, cv.make_converter(erp, schema.column(key)))
            for i, key in enumerate(targets)
            if key
        ]
        self.width = max((i for i, _k, _f in self.conv), default=-1) + 1
        self.labels = {c.key: cv.label(erp, c) for c in schema.columns}
        self.bulk = [
            (i, key, fn, cv.make_bulk(erp, schema.column(key))) for i, key, fn in self.conv
        ]
        self._keys = tuple(key for _i, key, _f in self.conv)

    def __call__(self, cells: list[Any], ictx: ImportContext):
        """One row: ``(values, None)`` or ``(partial values, {key: reason})``."""
        rows, errors = self.batch([cells], ictx)
        return rows[0], errors.get(0)

    def problems(self, values: dict[str, Any], ictx: ImportContext) -> dict[str, Any] | None:
        """What the schema's ``validate_row`` finds wrong with converted values."""
        validate = self.schema.validate_row
        if validate is None:
            return None
        try:
            problems = validate(values, ictx)
        except RowError as exc:
            problems = exc.errors
        except ValidationError as exc:
            problems = exc.errors or {"": exc.detail}
        return dict(problems) if problems else None

    def batch(
        self, batch: list[list[Any]], ictx: ImportContext
    ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        """Many rows at once, column by column (:func:`convert.make_bulk`): the values
        of each row, and ``{index: {key: reason}}`` for the rows that are wrong (their
        values are then partial). The same outcome as calling this converter per row."""
        width = self.width
        if batch and min(map(len, batch)) < width:
            batch = [c if len(c) >= width else [*c, *([None] * (width - len(c)))] for c in batch]
        errors: dict[int, dict[str, Any]] = {}
        columns = []
        for i, key, fn, bulk in self.bulk:
            cells = list(map(itemgetter(i), batch))
            out = bulk(cells) if cells else []
            if out is None:  # cell by cell: it says which cell is wrong and why
                out = []
                append = out.append
                for r, v in enumerate(cells):
                    try:
                        append(fn(v))
                    except cv.ConvertError as exc:
                        append(_MISSING)
                        errors.setdefault(r, {})[key] = exc.message
            columns.append(out)
        if columns:
            rows = list(map(dict, map(zip, repeat(self._keys), zip(*columns, strict=True))))
        else:  # no column mapped
            rows = [{} for _cells in batch]
        if errors:  # a wrong row keeps the values that converted, as per row
            for r in errors:
                rows[r] = {k: v for k, v in rows[r].items() if v is not _MISSING}
        if self.schema.validate_row is not None:
            for r, values in enumerate(rows):
                if r not in errors and (problems := self.problems(values, ictx)):
                    errors[r] = problems
        elif self.schema.validate_batch is not None and rows:
            good = [r for r in range(len(rows)) if r not in errors] if errors else None
            found = self.schema.validate_batch(
                rows if good is None else [rows[r] for r in good], ictx
            )
            for j, problems in (found or {}).items():
                if problems:
                    errors[j if good is None else good[j]] = dict(problems)
        return rows, errors

    def reason(self, errors: Mapping[str, Any]) -> str:
        parts = []
        for key, message in errors.items():
            label = self.labels.get(key, key)
            parts.append(f"{label}: {message}" if label else str(message))
        return "; ".join(parts)


def preview(
    erp, schema: ImportSchema, meta: Mapping[str, Any], plan: Plan, n: int = PREVIEW_ROWS, user=None
) -> list[dict[str, Any]]:
    """The first ``n`` data rows converted, each with its errors (no database checks)."""
    convert = RowConverter(erp, schema, plan.targets)
    ictx = ImportContext(
        erp=erp,
        schema=schema,
        user=user,
        user_id=getattr(user, "id", None),
        mode="preview",
        locale=i18n.current_locale(),
    )
    out = []
    for number, raw in meta["head"][:n]:
        cells = [readers.from_json_cell(c) for c in raw]
        values, errors = convert(cells, ictx)
        out.append(
            {
                "row": number,
                "values": {
                    c.key: cv.display(erp, c, values.get(c.key))
                    for c in schema.columns
                    if c.key in plan.targets
                },
                "errors": {k: str(v) for k, v in (errors or {}).items()},
            }
        )
    return out


# -- starting -----------------------------------------------------------------------------------


def start_import(
    erp,
    session: Session,
    schema: ImportSchema,
    upload: JobFile,
    mode: str,
    user,
    by_header: Mapping[str, str | None] | None = None,
    by_index: Mapping[int, str | None] | None = None,
) -> int:
    """Queue the import job of an upload; refuses (422) when the mapping lacks a
    required column or the mode is unknown."""
    if mode not in MODES:
        raise ValidationError({"mode": _("Choose all or nothing, or the valid rows.")})
    plan = make_plan(erp, schema, upload.meta, by_header, by_index)
    if not any(plan.targets):
        raise ValidationError(
            {
                "file": _(
                    "None of the columns of the file matches this import: check the "
                    "header row, or download the template."
                )
            }
        )
    if plan.missing:
        names = ", ".join(cv.label(erp, schema.column(k)) for k in plan.missing)
        raise ValidationError(
            {"mapping": _("Required columns are missing: %(names)s.", names=names)}
        )
    rows = (upload.meta["info"] or {}).get("rows_estimate")
    total = max(0, rows - 1) if isinstance(rows, int) else None
    job_id = jobs.enqueue(
        erp,
        JOB_KIND,
        {
            "schema": schema.name,
            "file_id": upload.id,
            "mode": mode,
            "targets": plan.targets,
            "name": upload.name,
        },
        user_id=user.id if user is not None else None,
        session=session,
        total=total,
    )
    upload.job_id = job_id
    session.flush()
    return job_id


# -- the job --------------------------------------------------------------------------------------


_DB_ROW_ERRORS = (IntegrityError, DataError, ErpError, RowError)


def _db_reason(exc: Exception) -> str:
    if isinstance(exc, RowError):
        return "; ".join(exc.errors.values())
    if isinstance(exc, ValidationError):
        return "; ".join(exc.errors.values()) or exc.detail
    if isinstance(exc, ErpError):
        return exc.detail
    if isinstance(exc, IntegrityError):
        return _("The row conflicts with data already saved (a duplicate, or a missing reference).")
    return _("The database refused a value of this row (too long or out of range).")


class Importer:
    """One run of an import: read, convert, check, write, report."""

    def __init__(
        self,
        ctx: JobContext,
        schema: ImportSchema,
        plan_targets: list[str | None],
        headers: list[str],
        header_row: int,
        mode: str,
        total: int | None,
    ) -> None:
        self.ctx = ctx
        self.erp = ctx.erp
        self.schema = schema
        self.mode = mode
        self.header_row = header_row
        self.headers = headers
        self.total = total
        self.convert = RowConverter(ctx.erp, schema, plan_targets)
        self.report: ReportWriter | None = None
        self.report_path: Path | None = None
        #: rows read, rows written (in this transaction or before), rows committed
        self.processed = self.written = self.saved = self.rejected = 0
        self.writing = True
        self.committed = time.monotonic()
        self.commit_every = COMMIT_EVERY
        self.spool: Spool | None = None
        #: all or nothing on SQLite: good rows go to the spool (until write_spooled)
        self.staging = False
        #: SQLite, valid rows: this session holds the write lock between commits, so a
        #: progress write from another connection would wait: it goes in this session
        self.own_lock = False
        self.targets = plan_targets
        self.session: Session | None = None
        self.ictx: ImportContext | None = None

    def reject(self, number: int, cells: list[Any], reason: str) -> None:
        if self.report is None:
            self.report_path = self.ctx.temp_path(".xlsx")
            self.report = ReportWriter(self.report_path, self.headers)
        self.report.add(number, cells, reason)
        self.rejected += 1
        if self.mode == "all_or_nothing" and self.writing:
            self.writing = False
            self.own_lock = False  # progress in short transactions of its own again
            self.session.rollback()  # nothing of this import stays

    def run(self, source: Iterable[tuple[int, list[Any]]]) -> None:
        """Read, convert and write every row. With ``schema.read_ahead`` (the default)
        the rows are read and converted in a thread of their own while this one checks
        and writes the batches before them: the database works (on its server, or in
        SQLite's C code) while Python converts. The session is used in this thread only."""
        if not self.schema.read_ahead:
            self.consume(self.converted(source))
            return
        items: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self.converted(source):
                    if not _put(items, item, stop):
                        return
            except BaseException as exc:  # handed to the writing thread, raised there
                _put(items, exc, stop)
            else:
                _put(items, None, stop)

        reader = threading.Thread(
            target=contextvars.copy_context().run,  # the job's locale, for the messages
            args=(produce,),
            name=f"import-{self.ctx.job_id}-reader",
            daemon=True,
        )
        reader.start()

        def received() -> Iterator[tuple]:
            while True:
                item = items.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item

        try:
            self.consume(received())
        finally:
            stop.set()
            reader.join()

    def converted(self, source: Iterable[tuple[int, list[Any]]]) -> Iterator[tuple]:
        """The rows read and converted, in pieces: ``(rows, their origins, rejected rows
        as (number, cells, reason), rows read so far)``. A piece ends where a batch is
        full (so that batches and rejections keep the file's order), or after
        ``batch_size`` rejected rows."""
        convert, ictx = self.convert, self.ictx
        batch_size = self.schema.batch_size
        header_row = self.header_row
        rows: list[dict[str, Any]] = []
        src: list[tuple[int, list[Any]]] = []
        bad: list[tuple[int, list[Any], str]] = []
        pending = processed = 0  # rows of the current batch, in this piece and before
        for chunk in _chunks_of(source, header_row, batch_size):
            converted, wrong = convert.batch([cells for _number, cells in chunk], ictx)
            for r, (number, cells) in enumerate(chunk):
                processed += 1
                errors = wrong.get(r) if wrong else None
                if errors:
                    bad.append((number, cells, convert.reason(errors)))
                    if len(bad) < batch_size:
                        continue
                else:
                    rows.append(converted[r])
                    src.append((number, cells))
                    pending += 1
                    if pending < batch_size:
                        continue
                    pending = 0
                yield rows, src, bad, processed
                rows, src, bad = [], [], []
        yield rows, src, bad, processed

    def consume(self, pieces: Iterable[tuple]) -> None:
        """Report the rejected rows, check and write the batches, report progress."""
        ctx, batch_size = self.ctx, self.schema.batch_size
        rows: list[dict[str, Any]] = []
        src: list[tuple[int, list[Any]]] = []
        for new_rows, new_src, bad, processed in pieces:
            for number, cells, reason in bad:
                self.reject(number, cells, reason)
            self.processed = processed
            if self.total is not None and processed > self.total:
                self.total = processed
            # before the batch is written: a cancelled job stops here
            ctx.report(processed, self.total, session=self.session if self.own_lock else None)
            rows.extend(new_rows)
            src.extend(new_src)
            if len(rows) >= batch_size:
                self.flush(rows, src)
                rows, src = [], []
        self.flush(rows, src)

    def flush(self, rows: list[dict[str, Any]], src: list[tuple[int, list[Any]]]) -> None:
        if not rows:
            return
        session, ictx = self.session, self.ictx
        check = self.schema.check_batch
        if check is not None:
            bad = check(session, rows, ictx) or {}
            if bad:
                keep_rows, keep_src = [], []
                for i, (row, origin) in enumerate(zip(rows, src, strict=True)):
                    if i in bad:
                        reason = bad[i]
                        if isinstance(reason, Mapping):
                            reason = self.convert.reason(reason)
                        self.reject(origin[0], origin[1], str(reason))
                    else:
                        keep_rows.append(row)
                        keep_src.append(origin)
                rows, src = keep_rows, keep_src
        if not self.writing:
            # all or nothing, a row was bad: nothing is written; end the checks' read
            # (on SQLite it began IMMEDIATE, holding the write lock)
            session.rollback()
            return
        if self.staging and not self.spool_or_switch():
            # all or nothing on SQLite: the good rows wait on disk, so that the write
            # lock is held for the writing only
            session.rollback()
            if rows:
                self.spool.put(rows, [number for number, _cells in src])
            return
        if not rows:
            return
        self.write(rows, src)
        if self.mode == "valid_rows" and time.monotonic() - self.committed > self.commit_every:
            self.commit()

    def write(
        self, rows: list[dict[str, Any]], src: list[tuple[int, list[Any]]] | list[int]
    ) -> None:
        session, ictx = self.session, self.ictx
        write = self.schema.write_batch
        try:
            with session.begin_nested():
                write(session, rows, ictx)
            self.written += len(rows)
        except _DB_ROW_ERRORS:
            # find the rows the database refuses, one at a time (rare: the checks above
            # should have caught them)
            for row, origin in zip(rows, src, strict=True):
                if not self.writing:
                    break
                try:
                    with session.begin_nested():
                        write(session, [row], ictx)
                    self.written += 1
                except _DB_ROW_ERRORS as exc:
                    number, cells = origin if isinstance(origin, tuple) else (origin, None)
                    if cells is None:  # spooled: the converted values stand for the cells
                        cells = self.cells_of(row)
                    self.reject(number, cells, _db_reason(exc))

    def cells_of(self, row: Mapping[str, Any]) -> list[Any]:
        """A row's values in the file's column order, for the report."""
        erp, schema = self.erp, self.schema
        return [
            cv.display(erp, schema.column(key), row.get(key)) if key else None
            for key in self.targets
        ]

    def spool_or_switch(self) -> bool:
        """All or nothing on SQLite, every row good so far: whether to stop keeping rows
        aside and write them from now on. Writing every row takes about as long as
        converting three quarters of them: from a quarter of the file on, the writing
        (SQLite inserts without the GIL) runs beside the reading thread's converting,
        and the write lock is held little longer than writing every row at the end held
        it (bench/import_rows.py: 2.3-2.9 s against 1.7 s per 100,000 rows, the whole
        import a sixth faster). A row found bad later rolls it all back."""
        if self.total is None or self.processed < self.total * SWITCH_AT:
            return False
        self.write_spooled()
        return True

    def write_spooled(self) -> None:
        """All or nothing on SQLite, every row good so far: write the spooled batches,
        in the import's one transaction; what comes after is written as it comes."""
        self.staging = False
        # this session holds the write lock now: progress goes in it (another
        # connection would wait for the lock)
        self.own_lock = True
        for rows, numbers in self.spool.drain():
            if not self.writing:
                break
            self.write(rows, numbers)

    def commit(self) -> None:
        self.session.commit()
        self.committed = time.monotonic()
        self.saved = self.written

    def result(self) -> dict[str, Any]:
        return {
            "schema": self.schema.name,
            "mode": self.mode,
            "rows": self.processed,
            "imported": self.saved,
            "rejected": self.rejected,
            "report": self.report is not None,
        }


def _chunks_of(
    source: Iterable[tuple[int, list[Any]]], header_row: int, size: int
) -> Iterator[list[tuple[int, list[Any]]]]:
    """The rows below the header that are not empty, ``size`` at a time."""
    chunk: list[tuple[int, list[Any]]] = []
    for number, cells in source:
        if number <= header_row or not cells:
            continue
        first = cells[0]
        if (first is None or first == "") and all(c is None or c == "" for c in cells):
            continue
        chunk.append((number, cells))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _sqlite_tuned(conn):
    """The import's SQLite connection with a larger page cache and fewer checkpoints
    (see :data:`SQLITE_CACHE_KIB`); on the DB-API connection, outside any transaction,
    so that SQLAlchemy's does not begin here."""
    raw = conn.connection.driver_connection
    cache = raw.execute("PRAGMA cache_size").fetchone()[0]
    checkpoint = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    raw.execute(f"PRAGMA cache_size={-int(SQLITE_CACHE_KIB)}")
    raw.execute(f"PRAGMA wal_autocheckpoint={int(SQLITE_CHECKPOINT_PAGES)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(cache)}")
        raw.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint)}")
        if not raw.in_transaction:
            # copy the log into the database now rather than at someone's next commit
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _put(items: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Hand ``item`` to the writing thread; False if it stopped (an error, a cancel)."""
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def run_import(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The ``core.import`` job."""
    erp = ctx.erp
    schema = all_schemas(erp).get(params.get("schema", ""))
    if schema is None:
        raise JobFailed(_("This import is not available (its module is off)."))
    mode = params.get("mode", "all_or_nothing")
    with erp.sessionmaker() as s:
        upload = s.get(JobFile, params.get("file_id"))
        if upload is None:
            raise JobFailed(_("The uploaded file was deleted; upload it again."))
        meta, chunks, file_id = dict(upload.meta), upload.chunks, upload.id
        user = ctx.user(s)
    info = readers.FileInfo.from_json(meta["info"])
    path = ctx.temp_path(".csv" if info.kind == "csv" else ".xlsx")
    importer = None
    try:
        jobs.copy_file_to(erp, file_id, chunks, path)
        total = info.rows_estimate
        if total is not None:
            total = max(0, total - 1)
        importer = Importer(
            ctx,
            schema,
            list(params["targets"]),
            list(meta["headers"]),
            int(meta["header_row"]),
            mode,
            total,
        )
        sqlite = erp.engine.dialect.name == "sqlite"
        # one connection for the whole import (the session commits on it), so that its
        # SQLite settings hold from the first batch to the last
        with (
            erp.engine.connect() as conn,
            _sqlite_tuned(conn) if sqlite else nullcontext(),
            erp.sessionmaker(bind=conn) as session,
        ):
            importer.session = session
            importer.ictx = ImportContext(
                erp=erp,
                schema=schema,
                user=user,
                user_id=ctx.user_id,
                mode=mode,
                job_id=ctx.job_id,
                locale=ctx.locale,
            )
            if sqlite:
                # SQLite has one writer: hold its lock in short stretches
                importer.commit_every = COMMIT_EVERY / 2
                importer.own_lock = mode == "valid_rows"
                if mode == "all_or_nothing":
                    importer.spool = Spool(jobs.temp_dir(erp))
                    importer.staging = True
            try:
                importer.run(readers.rows(path, info))
                if importer.staging and importer.writing:
                    importer.write_spooled()
            except JobCancelled:
                session.rollback()
                raise JobCancelled(_finish(ctx, importer)) from None
            finally:
                if importer.spool is not None:
                    importer.spool.close()
            if mode == "valid_rows" or importer.writing:
                importer.commit()
            else:
                session.rollback()
        ctx.progress = importer.processed
        result = _finish(ctx, importer)
    except ValidationError as exc:  # the file turned out unreadable part of the way
        partial = _finish(ctx, importer) if importer is not None else None
        raise JobFailed(exc.errors.get("file") or exc.detail, partial) from None
    finally:
        path.unlink(missing_ok=True)
        if importer is not None and importer.report_path is not None:
            importer.report_path.unlink(missing_ok=True)
    if mode == "all_or_nothing" and importer.rejected:
        raise JobFailed(
            _(
                "Nothing was imported: %(n)s row(s) have errors. Download the report, "
                "correct them and import the file again.",
                n=f"{importer.rejected:,}",
            ),
            result,
        )
    return result


def _finish(ctx: JobContext, importer: Importer) -> dict[str, Any]:
    """Store the report (if any row was rejected) and give the result."""
    ctx.total = importer.processed
    if importer.report is not None:
        importer.report.save()
        with ctx.erp.sessionmaker.begin() as s, importer.report_path.open("rb") as fh:
            jobs.store_file(
                s,
                fh,
                name=_("import-%(id)s-rejected-rows.xlsx", id=ctx.job_id),
                purpose="report",
                content_type=XLSX,
                created_by=ctx.user_id,
                job_id=ctx.job_id,
            )
    return importer.result()


# -- the template --------------------------------------------------------------------------


def template_xlsx(erp, schema: ImportSchema) -> bytes:
    """A workbook to fill in: headers in Chinese and English, required ones marked,
    choices as drop-downs, and a sheet that explains every column in both languages."""
    zh = erp.catalogs.get("zh_CN")

    def both(text: str) -> str:
        zh_text = zh.gettext(text) if zh is not None else text
        return text if zh_text == text else f"{zh_text} / {text}"

    wb = Workbook()
    ws = wb.active
    ws.title = "数据 Data"
    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    help_ws = wb.create_sheet("说明 Help")
    help_ws.append([both(N_("Column")), both(N_("Type")), both(N_("Required")), both(N_("Notes"))])
    for cell in help_ws[1]:
        cell.font = bold
    for index, column in enumerate(schema.columns, start=1):
        zh_name, en_name = cv.zh_label(erp, column), column.label
        title = en_name if zh_name == en_name else f"{zh_name} / {en_name}"
        cell = ws.cell(row=1, column=index, value=title)
        cell.font = bold
        letter = cell.column_letter
        ws.column_dimensions[letter].width = max(14, min(40, len(title) * 1.6))
        notes = []
        if column.required:
            cell.fill = required_fill
            cell.comment = Comment("必填 / Required", "erpkit")
        if column.max_length:
            notes.append(f"≤ {column.max_length}")
        if column.type == "choice":
            options = cv.choices_of(erp, column)
            notes.append(" | ".join(f"{o.label_zh} / {o.label_en}" for o in options))
            labels = [o.label_zh for o in options]
            if labels and len(",".join(labels)) < 250:
                dv = DataValidation(
                    type="list",
                    formula1='"' + ",".join(labels) + '"',
                    allow_blank=not column.required,
                )
                dv.add(f"{letter}2:{letter}10000")
                ws.add_data_validation(dv)
        elif column.type == "date":
            notes.append("2024-03-31")
            for r in range(2, 3):
                ws.cell(row=r, column=index).number_format = "yyyy-mm-dd"
        elif column.type == "bool":
            notes.append("是/否 · yes/no")
        elif column.type == "decimal" and column.places is not None:
            notes.append(f"0.{'0' * column.places}" if column.places else "0")
        if column.help:
            notes.append(both(column.help))
        help_ws.append(
            [
                title,
                both(TYPE_LABELS[column.type]),
                "是 / Yes" if column.required else "",
                "; ".join(notes),
            ]
        )
    ws.freeze_panes = "A2"
    for letter, width in (("A", 28), ("B", 20), ("C", 12), ("D", 60)):
        help_ws.column_dimensions[letter].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
