"""Reading uploads: what the file is, whether it is safe, its first rows, all its rows.

* :func:`inspect` runs when a file is uploaded: it tells .xlsx from CSV from anything
  else, refuses zip bombs (every size in the zip directory is checked before a byte
  is inflated, then every member is inflated once, as a stream, to check that the
  directory told the truth), finds the worksheet and counts its rows; for CSV it
  finds the encoding (UTF-8 with or without BOM, UTF-16 with BOM, GB18030) and the
  delimiter.
* :func:`head` reads the first rows only, streaming the worksheet XML, so a preview
  costs the same for ten rows and for a million.
* :func:`rows` reads every row for the import: python-calamine for .xlsx (it reads
  the worksheet in Rust, about ten times faster than openpyxl's read-only mode), handed
  the worksheet a piece at a time so that memory does not grow with the file (see
  :class:`_Pieces`); the csv module for CSV.

Cells are Python values: str, float (calamine gives every number as float), bool,
date, datetime, time, or None; a formula without a cached value and an error cell
(``#DIV/0!``) are given as :class:`Problem` markers so that the row can be refused
with a reason rather than imported empty.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from itertools import count
from pathlib import Path
from posixpath import join as posix_join
from posixpath import normpath
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.etree.ElementTree import iterparse as _iterparse
from xml.sax.saxutils import quoteattr

from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _

HEAD_ROWS = 30


def iterparse(source, events=("end",)):
    """ElementTree's iterparse: safe here because :func:`inspect` refused any member
    with a DTD (no entity expansion, no external entities: ElementTree never fetches
    them anyway, and expat 2.4+ caps amplification)."""
    return _iterparse(source, events=events)  # noqa: S314


_SNIFF = 64 * 1024
_STREAM = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what an upload may be (settings ``import_max_mb`` and friends)."""

    max_bytes: int = 50 * 1024 * 1024
    max_unzipped: int = 500 * 1024 * 1024
    max_rows: int = 300_000
    max_members: int = 10_000
    #: a member inflating more than this many times its compressed size is a bomb
    max_ratio: int = 1_000


class Problem:
    """A cell that has no usable value: a formula never calculated, or an error."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Problem({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def message(self) -> str:
        if self.text == "formula":
            return _(
                "The cell holds a formula whose result was never calculated: "
                "open the file in Excel or WPS, save it, and upload it again."
            )
        return _("The cell shows an error (%(error)s).", error=self.text)


FORMULA = Problem("formula")


@dataclass
class FileInfo:
    kind: str  # "xlsx" | "csv"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheet_path: str | None = None
    styles_path: str | None = None
    strings_path: str | None = None
    date1904: bool = False
    #: the worksheet has formulas or error cells somewhere (scan them at import)
    has_problems: bool = False
    rows_estimate: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileInfo:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def refuse(message: str) -> ValidationError:
    return ValidationError({"file": message}, detail=message)


def _not_spreadsheet() -> ValidationError:
    return refuse(_("This file is not an Excel workbook (.xlsx) or a CSV file."))


# -- inspection ----------------------------------------------------------------------------


def inspect(path: Path, limits: Limits = Limits()) -> FileInfo:
    """What the uploaded file at ``path`` is, or a :class:`ValidationError` saying why
    it cannot be imported."""
    size = path.stat().st_size
    if size == 0:
        raise refuse(_("The file is empty."))
    if size > limits.max_bytes:
        raise refuse(_("The file is larger than %(n)s MB.", n=limits.max_bytes // (1024 * 1024)))
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        return _inspect_xlsx(path, limits)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise refuse(
            _(
                "This is an old Excel file (.xls) or a workbook with a password: "
                "save it as .xlsx without a password and upload it again."
            )
        )
    if magic.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!")):
        raise _not_spreadsheet()
    return _inspect_csv(path, limits)


_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _inspect_xlsx(path: Path, limits: Limits) -> FileInfo:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise _not_spreadsheet() from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise _not_spreadsheet()
        total = 0
        for info in infos:
            total += info.file_size
            if info.flag_bits & 0x1:
                raise refuse(_("The workbook is encrypted: save it without a password."))
            if info.file_size > 10 * 1024 * 1024 and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise refuse(_("The file inflates to an unreasonable size; it was refused."))
        if total > limits.max_unzipped:
            raise refuse(
                _(
                    "The workbook is too large once unpacked (more than %(n)s MB): "
                    "split it into several files.",
                    n=limits.max_unzipped // (1024 * 1024),
                )
            )
        names = {i.filename for i in infos}
        if "xl/workbook.xml" not in names:
            raise _not_spreadsheet()
        try:
            info = _workbook_parts(zf, names)
            rows, problems = _verify(zf, infos, info.sheet_path)
        except (zipfile.BadZipFile, ParseError, KeyError, OSError, EOFError, ValueError):
            raise refuse(_("The workbook is damaged and cannot be read.")) from None
    info.has_problems = problems
    info.rows_estimate = rows
    if rows > limits.max_rows:
        raise refuse(
            _(
                "The sheet has more than %(n)s rows: split it into several files.",
                n=f"{limits.max_rows:,}",
            )
        )
    return info


def _workbook_parts(zf: zipfile.ZipFile, names: set[str]) -> FileInfo:
    """The first visible worksheet, the styles, the shared strings, the date system."""
    rels: dict[str, tuple[str, str]] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        with zf.open("xl/_rels/workbook.xml.rels") as fh:
            for _ev, el in iterparse(fh):
                if _local(el.tag) == "Relationship":
                    target = el.get("Target", "")
                    target = (
                        target[1:] if target.startswith("/") else normpath(posix_join("xl", target))
                    )
                    rels[el.get("Id", "")] = (el.get("Type", "").rpartition("/")[2], target)
    sheets: list[tuple[str, str, str]] = []
    date1904 = False
    with zf.open("xl/workbook.xml") as fh:
        for _ev, el in iterparse(fh):
            tag = _local(el.tag)
            if tag == "workbookPr":
                date1904 = el.get("date1904", "").lower() in {"1", "true"}
            elif tag == "sheet":
                rid = el.get(f"{{{_REL_NS}}}id") or el.get("id") or ""
                sheets.append((el.get("name", ""), el.get("state", "visible"), rid))
    styles = strings = None
    for kind, target in rels.values():
        if kind == "styles":
            styles = target
        elif kind == "sharedStrings":
            strings = target
    for name, state, rid in sheets:
        kind, target = rels.get(rid, ("", ""))
        if kind == "worksheet" and state == "visible" and target in names:
            return FileInfo(
                kind="xlsx",
                sheet=name,
                sheet_path=target,
                styles_path=styles if styles in names else None,
                strings_path=strings if strings in names else None,
                date1904=date1904,
            )
    raise refuse(_("The workbook has no visible worksheet."))


def _verify(zf: zipfile.ZipFile, infos, sheet_path: str) -> tuple[int, bool]:
    """Inflate every member once (zipfile checks sizes and CRCs against the directory);
    count the worksheet's rows and look for formulas or error cells in it."""
    rows = 0
    problems = False
    for info in infos:
        with zf.open(info) as fh:
            first = fh.read(4096)
            if b"<!DOCTYPE" in first or b"<!ENTITY" in first:
                raise ValueError("a DTD in a workbook part")
            if info.filename != sheet_path:
                while fh.read(_STREAM):
                    pass
                continue
            prefixed = b"<worksheet" not in first
            # rows are <row ...> or, with a namespace prefix, <x:row ...>
            row_tag = b":row " if prefixed else b"<row"
            rows += first.count(row_tag)
            problems = _may_have_problems(first, prefixed)
            tail = first[-16:]
            while True:
                chunk = fh.read(_STREAM)
                if not chunk:
                    break
                rows += chunk.count(row_tag)
                if not problems:
                    problems = _may_have_problems(tail + chunk, prefixed)
                tail = chunk[-16:]
    return rows, problems


def _may_have_problems(block: bytes, prefixed: bool = False) -> bool:
    """Whether a piece of worksheet XML may hold a formula or an error cell (substring
    tests: a regular expression here cost more than inflating the file). ``prefixed``:
    the worksheet writes its elements with a namespace prefix (``<x:c>``)."""
    return (
        b"<f" in block or b't="e"' in block or (prefixed and (b":f>" in block or b":f " in block))
    )


def _inspect_csv(path: Path, limits: Limits) -> FileInfo:
    with path.open("rb") as fh:
        start = fh.read(4)
    if start.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    encoding = None
    lines = 0
    for candidate in candidates:
        lines = _decodes(path, candidate)
        if lines is not None:
            encoding = candidate
            break
    if encoding is None:
        raise _not_spreadsheet()
    if lines > limits.max_rows:
        raise refuse(
            _(
                "The sheet has more than %(n)s rows: split it into several files.",
                n=f"{limits.max_rows:,}",
            )
        )
    with path.open("r", encoding=encoding, newline="") as fh:
        sample = fh.read(_SNIFF)
    if not sample.strip():
        raise refuse(_("The file is empty."))
    return FileInfo(
        kind="csv", encoding=encoding, delimiter=_delimiter(sample), rows_estimate=lines
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decodes(path: Path, encoding: str) -> int | None:
    """The number of lines when the whole file is text in ``encoding``, else None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_STREAM)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                return None
            if _CONTROL.search(text):
                return None  # binary, not text
            lines += text.count("\n")
            if not chunk:
                return lines + (1 if text and not text.endswith("\n") else 0)


def _delimiter(sample: str) -> str:
    first = sample.splitlines()[0] if sample.splitlines() else sample
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# -- cell values -----------------------------------------------------------------------------

_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)


def excel_datetime(value: float, date1904: bool = False) -> date | datetime | time:
    """An Excel serial number as python-calamine gives it: a time below 1, a date when
    whole, else a datetime."""
    if value < 1 and not date1904:
        seconds = round(value * 86400)
        return (datetime.min + timedelta(seconds=seconds)).time()
    moment = (_EPOCH_1904 if date1904 else _EPOCH_1900) + timedelta(
        microseconds=round(value * 86400 * 1_000_000 / 1000) * 1000
    )
    if float(value).is_integer():
        return moment.date()
    return moment


def _is_date_format(code: str) -> str | None:
    """ "date", "duration" or None for an Excel number format (calamine's rules)."""
    escaped = is_quote = ap = hms = False
    brackets = 0
    prev = " "
    for ch in code:
        if escaped:
            escaped = False
        elif ch in "_\\*":
            escaped = True
        elif is_quote:
            if ch == '"':
                is_quote = False
        elif ch == '"':
            is_quote = True
        elif ch == ";":
            return None
        elif ch == "[":
            brackets += 1
        elif ch == "]" and brackets == 1 and hms:
            return "duration"
        elif ch == "]":
            brackets = max(0, brackets - 1)
        elif ch in "aA" and not ap and brackets == 0:
            ap = True
        elif brackets == 0 and ch in ("pm/PM" if ap else "dmhysDMHYS"):
            return "date"
        elif not (hms and ch.lower() == prev.lower()):
            hms = prev == "[" and ch in "mhsMHS"
        prev = ch
    return None


_BUILTIN_DATES = {*range(14, 23), 45, 47}


def _style_formats(zf: zipfile.ZipFile, path: str) -> tuple[dict[int, str], list[int]]:
    """The workbook's number formats (id -> format code) and each cell style's format
    id, in the order of the cell styles (a cell's ``s`` is an index into it)."""
    formats: dict[int, str] = {}
    xfs: list[int] = []
    in_xfs = False
    with zf.open(path) as fh:
        for event, el in iterparse(fh, events=("start", "end")):
            tag = _local(el.tag)
            if event == "start":
                in_xfs = in_xfs or tag == "cellXfs"
                continue
            if tag == "numFmt":
                formats[int(el.get("numFmtId", "0"))] = el.get("formatCode", "")
            elif tag == "xf" and in_xfs:
                xfs.append(int(el.get("numFmtId", "0") or 0))
            elif tag == "cellXfs":
                in_xfs = False
            elif tag in {"font", "fill", "border", "dxf", "cellStyle"}:
                el.clear()
    return formats, xfs


def _date_styles(zf: zipfile.ZipFile, styles_path: str | None) -> dict[int, str]:
    """Style index -> "date" | "duration", for the styles that make numbers dates."""
    if not styles_path:
        return {}
    formats, xfs = _style_formats(zf, styles_path)
    kinds = {fmt: kind for fmt, code in formats.items() if (kind := _is_date_format(code))}
    out: dict[int, str] = {}
    for index, fmt in enumerate(xfs):
        if fmt in kinds:
            out[index] = kinds[fmt]
        elif fmt in _BUILTIN_DATES:
            out[index] = "date"
        elif fmt == 46:
            out[index] = "duration"
    return out


_COL = re.compile(r"([A-Za-z]+)(\d+)")


def column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _text_of(el) -> str:
    """The text of an inline string or shared string item (rich runs joined, phonetic
    runs left out)."""
    parts = []
    for child in el:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for sub in child:
                if _local(sub.tag) == "t":
                    parts.append(sub.text or "")
    return "".join(parts)


# -- the first rows ------------------------------------------------------------------------------


def head(path: Path, info: FileInfo, n: int = HEAD_ROWS) -> list[tuple[int, list[Any]]]:
    """The first ``n`` non-empty rows as ``(row number, cells from column A)``."""
    if info.kind == "csv":
        out = []
        for number, cells in _csv_rows(path, info):
            if any(c.strip() for c in cells):
                out.append((number, cells))
                if len(out) >= n:
                    break
        return out
    try:
        with zipfile.ZipFile(path) as zf:
            return _xlsx_head(zf, info, n)
    except (zipfile.BadZipFile, ParseError, KeyError, OSError, ValueError):
        raise refuse(_("The workbook is damaged and cannot be read.")) from None


def _xlsx_head(zf: zipfile.ZipFile, info: FileInfo, n: int) -> list[tuple[int, list[Any]]]:
    styles = _date_styles(zf, info.styles_path)
    raw_rows: list[tuple[int, list[Any]]] = []
    needed: set[int] = set()
    row_number = 0
    with zf.open(info.sheet_path) as fh:
        cells: list[Any] = []
        col = 0
        for event, el in iterparse(fh, events=("start", "end")):
            tag = _local(el.tag)
            if event == "start":
                if tag == "row":
                    row_number = int(el.get("r") or row_number + 1)
                    cells = []
                    col = 0
                continue
            if tag == "c":
                ref = el.get("r")
                if ref:
                    m = _COL.match(ref)
                    col = column_index(m.group(1)) if m else col
                value = _cell(el, styles, info.date1904, needed)
                if value is not None:
                    if len(cells) <= col:
                        cells.extend([None] * (col + 1 - len(cells)))
                    cells[col] = value
                col += 1
                el.clear()
            elif tag == "row":
                if any(c not in (None, "") for c in cells):
                    raw_rows.append((row_number, cells))
                el.clear()
                if len(raw_rows) >= n:
                    break
            elif tag == "sheetData":
                break
    strings = _shared_strings(zf, info.strings_path, needed) if needed else {}
    out = []
    for number, cells in raw_rows:
        out.append(
            (number, [strings.get(c.index, "") if isinstance(c, _SharedRef) else c for c in cells])
        )
    return out


class _SharedRef:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _cell(el, styles: dict[int, str], date1904: bool, needed: set[int]) -> Any:
    kind = el.get("t", "n")
    v = f = inline = None
    for child in el:
        tag = _local(child.tag)
        if tag == "v":
            v = child.text
        elif tag == "f":
            f = True
        elif tag == "is":
            inline = _text_of(child)
    if kind == "e":
        return Problem(v or "#N/A")
    if kind == "inlineStr":
        return inline if inline is not None else ""
    if v is None or v == "":
        return FORMULA if f else None
    if kind == "s":
        index = int(v)
        needed.add(index)
        return _SharedRef(index)
    if kind == "b":
        return v.strip() in {"1", "true"}
    if kind in {"str", "d"}:
        return v
    number = float(v)
    style = styles.get(int(el.get("s", "0") or 0))
    if style == "date":
        return excel_datetime(number, date1904)
    if style == "duration":
        return timedelta(days=number)
    return number


def _shared_strings(zf: zipfile.ZipFile, path: str | None, needed: set[int]) -> dict[int, str]:
    if not path:
        return {}
    last = max(needed)
    out: dict[int, str] = {}
    index = 0
    with zf.open(path) as fh:
        for _ev, el in iterparse(fh):
            if _local(el.tag) == "si":
                if index in needed:
                    out[index] = _text_of(el)
                el.clear()
                index += 1
                if index > last:
                    break
    return out


# -- all the rows ----------------------------------------------------------------------------------


def rows(path: Path, info: FileInfo) -> Iterator[tuple[int, list[Any]]]:
    """Every row as ``(row number, cells from column A)``; empty rows included as
    empty lists (the caller skips them)."""
    if info.kind == "csv":
        yield from _csv_rows(path, info)
        return
    yield from _xlsx_rows(path, info)


def _csv_rows(path: Path, info: FileInfo) -> Iterator[tuple[int, list[Any]]]:
    with path.open("r", encoding=info.encoding or "utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=info.delimiter or ",")
        try:
            yield from enumerate(reader, start=1)
        except csv.Error:
            raise refuse(
                _("The CSV file is malformed near row %(n)s.", n=reader.line_num)
            ) from None


def _xlsx_rows(path: Path, info: FileInfo) -> Iterator[tuple[int, list[Any]]]:
    from python_calamine import CalamineError

    try:
        with zipfile.ZipFile(path) as zf:
            yield from _Pieces(zf, info).rows()
    except (CalamineError, zipfile.BadZipFile, OSError, EOFError, ValueError, IndexError):
        raise refuse(_("The workbook is damaged and cannot be read.")) from None


#: worksheet XML (inflated) handed to python-calamine at a time: about 1,300 rows of 12
#: columns; reading takes about 20 MB whatever the size of the file
_PIECE = 1 << 20
#: how far into a worksheet or shared strings table its first row or item must start
_OPENING_LIMIT = 16 << 20
#: a shared string cell is handed to calamine as this character and its index
_MARK = "\ue000"
_MARK_B = _MARK.encode()
_SHEET_DATA = re.compile(rb"<([\w.-]+:)?sheetData\b[^>]*?(/?)>")
_ROOT = re.compile(rb"<([\w.-]+:)?worksheet\b")
_DIMENSION = re.compile(rb"<(?:[\w.-]+:)?dimension\b[^>]*>")
_SHARED_CELL = re.compile(rb' t="s"([^>]*)>(\s*<(?:[\w.-]+:)?v>)')
_SHARED_ANY = re.compile(rb"<(?:[\w.-]+:)?c\b[^>]*?\st\s*=\s*[\"']s[\"']")
_SST = re.compile(rb"<([\w.-]+:)?sst\b[^>]*>")
_BARE_SHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_BARE_CLOSING = b"</sheetData></worksheet>"


def _number_formats(zf: zipfile.ZipFile, path: str) -> bytes:
    """The workbook's styles cut down to what tells calamine a date: the number formats
    and each cell style's format (a workbook from Excel may carry megabytes of fonts,
    fills and styles, which every piece would parse again)."""
    formats, xfs = _style_formats(zf, path)
    fmts = "".join(
        f'<numFmt numFmtId="{fmt}" formatCode={quoteattr(code)}/>' for fmt, code in formats.items()
    )
    cells = "".join(f'<xf numFmtId="{fmt}"/>' for fmt in xfs)
    return (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<numFmts count="{len(formats)}">{fmts}</numFmts>'
        f'<cellXfs count="{len(xfs)}">{cells}</cellXfs></styleSheet>'
    ).encode()


_R = re.compile(rb'\sr\s*=\s*["\'](\d+)["\']')


def _numbered(block: bytes, next_row: int, row_tag: re.Pattern, row_open: bytes):
    """A piece whose first row has its number, and the number of the row after its
    last. ``r`` may be left out, a row then following the one before it: calamine would
    count each piece's rows from 1."""
    first = row_tag.search(block)
    if first is None:
        return block, next_row
    r = _R.search(first.group(1))
    if r is None:
        at = first.start(1)
        block = b'%s r="%d"%s' % (block[:at], next_row, block[at:])
        number = next_row
    else:
        number = int(r.group(1))
    last = row_tag.match(block, block.rfind(row_open))
    r = _R.search(last.group(1)) if last else None
    if r is not None:
        return block, int(r.group(1)) + 1
    return block, number + block.count(row_open)


def _looked_up(grid: list[list[Any]], strings: list[str]) -> list[list[Any]]:
    """calamine's grid with each shared string cell (:data:`_MARK` and an index) as its
    text. Column by column, in C loops: a column without text is left as it is; a column
    of shared strings only (the usual text column of a file from Excel) is joined, split
    at the marks and looked up at once; any other column cell by cell. The piece held no
    mark character of its own, so every mark is one of ours."""
    get = strings.__getitem__
    columns = list(zip(*grid, strict=True))
    for c, column in enumerate(columns):
        kinds = set(map(type, column))
        if str not in kinds:
            continue
        if len(kinds) == 1 and "" not in column:
            joined = "".join(column)
            if joined.count(_MARK) == len(column) and joined[:1] == _MARK:
                columns[c] = list(map(get, map(int, joined[1:].split(_MARK))))
                continue
        columns[c] = [
            get(int(v[1:])) if v.__class__ is str and v[:1] == _MARK else v for v in column
        ]
    return list(map(list, zip(*columns, strict=True)))


def _has_shared(block: bytes) -> bool:
    """Whether a piece of worksheet XML has a shared string cell (a substring test
    first: a regular expression over every tag of a piece costs 15 ms a megabyte)."""
    if b'"s"' not in block and b"'s'" not in block:
        return False
    return _SHARED_ANY.search(block) is not None


class _Pieces:
    """The worksheet read by python-calamine a piece at a time.

    calamine reads a whole worksheet into memory (about 110 MB per 100,000 rows of 12
    columns) and has no streaming reader; openpyxl's read-only mode streams but is ten
    times slower. So the worksheet XML is inflated as a stream and cut after a row every
    :data:`_PIECE` bytes; each piece, between the worksheet's own opening and a closing
    ``</sheetData></worksheet>``, goes to calamine as a small workbook in memory with the
    workbook's own styles (dates), date system and sheet name. Values are calamine's,
    with calamine's rules, and memory holds one piece. Cutting costs about 15% more CPU
    than calamine reading the whole sheet, and saves 90 MB per 100,000 rows.

    The shared strings table is the workbook's dictionary, needed by every piece: it is
    read once (:meth:`_read_shared_strings`) and kept as a list of str. A shared string
    cell goes to calamine as a formula string (``t="str"``) holding :data:`_MARK` and its
    index, and is looked up in that list, so that no piece parses the table again. A
    piece that holds the mark character itself, or a shared string cell written in a way
    the rewrite does not know, gets the real table instead.
    """

    def __init__(self, zf: zipfile.ZipFile, info: FileInfo) -> None:
        self.zf = zf
        self.info = info
        names = set(zf.namelist())
        keep = ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"]
        keep += ["xl/_rels/workbook.xml.rels"]
        self.parts = {name: zf.read(name) for name in keep if name in names}
        if info.styles_path in names:
            self.parts[info.styles_path] = _number_formats(zf, info.styles_path)
        self.strings: list[str] | None = None
        self.prefixed = False

    # -- shared strings

    def shared_strings(self) -> list[str]:
        if self.strings is None:
            self.strings = self._read_shared_strings()
        return self.strings

    def _read_shared_strings(self) -> list[str]:
        """The shared strings table, streamed. An item that is plain text (no entity,
        no ``_xHHHH_`` escape, no carriage return, no rich text, no whitespace at either
        end unless preserved) is decoded here; calamine decodes the others, gathered, with
        its own rules (it trims whitespace that is not preserved, unescapes ``_x000D_``,
        leaves out phonetic runs), so that every value is calamine's."""
        path = self.info.strings_path
        if not path:
            return []
        out: list[str] = []
        odd: list[tuple[int, bytes]] = []
        with self.zf.open(path) as fh:
            buf = b""
            while not (root := _SST.search(buf)):
                chunk = fh.read(_PIECE)
                if not chunk:
                    return []
                if len(buf) > _OPENING_LIMIT:
                    raise ValueError("no shared strings table in the first 16 MB")
                buf += chunk
            p = re.escape(root.group(1) or b"")
            opening = buf[: root.end()]
            closing = b"</" + (root.group(1) or b"") + b"sst>"
            item = re.compile(
                rb"<%(p)ssi>(?:<%(p)st>(%(safe)s)</%(p)st>"
                rb'|<%(p)st xml:space="preserve">([^<&_\r]*)</%(p)st>)</%(p)ssi>'
                rb"|(<%(p)ssi\b[^>]*?/>|<%(p)ssi\b.*?</%(p)ssi>)"
                % {b"p": p, b"safe": rb"[^<&_\r\s](?:[^<&_\r]*[^<&_\r\s])?"},
                re.S,
            )
            # a block of nothing but plain items: one C loop finds and decodes them all
            plain_item = re.compile(
                rb'<%(p)ssi><%(p)st(?: xml:space="preserve")?>(%(safe)s)</%(p)st></%(p)ssi>'
                % {b"p": p, b"safe": rb"[^<&_\r\s](?:[^<&_\r]*[^<&_\r\s])?"}
            )
            item_open = b"<" + (root.group(1) or b"") + b"si"
            end = b"</" + (root.group(1) or b"") + b"si>"
            buf = buf[root.end() :]
            while True:
                chunk = fh.read(_PIECE)
                buf += chunk
                cut = buf.rfind(end) + len(end) if chunk else len(buf)
                if cut >= len(end):
                    block, buf = buf[:cut], buf[cut:]
                    texts = plain_item.findall(block)
                    if len(texts) == block.count(item_open):
                        out.extend(map(bytes.decode, texts))
                    else:
                        for plain, kept, other in item.findall(block):
                            if other:
                                odd.append((len(out), other))
                                out.append("")
                            else:
                                out.append((plain or kept).decode())
                if not chunk:
                    break
        for start in range(0, len(odd), 10_000):
            batch = odd[start : start + 10_000]
            table = opening + b"".join(xml for _i, xml in batch) + closing
            cells = b"".join(b'<c t="s"><v>%d</v></c>' % i for i in range(len(batch)))
            grid = self._calamine(
                _BARE_SHEET + b"<row>" + cells + b"</row>",
                _BARE_CLOSING,
                with_strings=table,
                empty_area=False,
            )
            values = grid[0] if grid else []
            for (index, _xml), value in zip(batch, values, strict=False):
                out[index] = value if value.__class__ is str else str(value)
        return out

    # -- pieces

    def _calamine(
        self,
        sheet_data: bytes,
        closing: bytes,
        with_strings: bytes | None = None,
        empty_area: bool = True,
    ):
        """calamine's grid for the worksheet ``sheet_data + closing``: with the empty
        area before the first cell left out, also its first cell's (row, column)."""
        from python_calamine import CalamineWorkbook

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
            for name, data in self.parts.items():
                out.writestr(name, data)
            if with_strings is not None and self.info.strings_path:
                out.writestr(self.info.strings_path, with_strings)
            out.writestr(self.info.sheet_path, sheet_data + closing)
        buf.seek(0)
        with CalamineWorkbook.from_filelike(buf) as wb:
            sheet = wb.get_sheet_by_name(self.info.sheet)
            if empty_area:
                return sheet.start, sheet.to_python(skip_empty_area=True)
            return sheet.to_python(skip_empty_area=False)

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        with self.zf.open(self.info.sheet_path) as fh:
            buf = b""
            while True:
                chunk = fh.read(_PIECE)
                buf += chunk
                m = _SHEET_DATA.search(buf)
                if m or not chunk:
                    break
                if len(buf) > _OPENING_LIMIT:
                    raise ValueError("no sheetData in the first 16 MB of the worksheet")
            if not m or m.group(2):
                return  # no rows: <sheetData/> or no sheetData at all
            prefix = m.group(1) or b""
            root = _ROOT.search(buf, 0, m.start())
            root_prefix = (root.group(1) or b"") if root else prefix
            self.prefixed = bool(prefix)
            self.opening = _DIMENSION.sub(b"", buf[: m.end()])
            self.closing = b"</" + prefix + b"sheetData></" + root_prefix + b"worksheet>"
            row_end = b"</" + prefix + b"row>"
            row_open = b"<" + prefix + b"row"
            row_tag = re.compile(re.escape(row_open) + rb"\b([^>]*?)/?>")
            next_row = 1
            buf = buf[m.end() :]
            while True:
                chunk = fh.read(_PIECE)
                buf += chunk
                cut = buf.rfind(row_end)
                if cut >= 0 and (len(buf) >= _PIECE or not chunk):
                    cut += len(row_end)
                    block, buf = buf[:cut], buf[cut:]
                    block, next_row = _numbered(block, next_row, row_tag, row_open)
                    yield from self.piece(block)
                if not chunk:
                    break
            # after the last row: empty rows (<row r="9"/>), then the end of sheetData
            tail = re.match(rb"(?:\s|<%s(?:row|c)\b[^>]*/>)*</%ssheetData>" % (prefix, prefix), buf)
            if not tail:
                raise ValueError("the worksheet's rows do not end where they should")

    def piece(self, block: bytes) -> Iterable[tuple[int, list[Any]]]:
        problems = (
            _problems_in(block, self.prefixed)
            if self.info.has_problems and _may_have_problems(block, self.prefixed)
            else None
        )
        shared = 0
        table = None
        if self.info.strings_path and _has_shared(block):
            rewritten, shared, left = block, 0, True
            if _MARK_B not in block:
                shared = block.count(b' t="s"><v>')
                rewritten = block.replace(b' t="s"><v>', b' t="str"><v>' + _MARK_B)
                # every "s" of the piece was such a cell (no scan of the rewritten piece)
                left = block.count(b'"s"') != shared or b"'s'" in block
                if left and _has_shared(rewritten):  # attributes after t, spaces, quotes
                    rewritten, more = _SHARED_CELL.subn(rb' t="str"\1>\2' + _MARK_B, rewritten)
                    shared += more
                    left = _has_shared(rewritten)
                else:
                    left = False
            if shared and not left:
                block = rewritten
            else:
                # the mark is someone's text, or a shared string cell is written in a way
                # the rewrite does not know (no value, quotes): calamine gets the table
                shared = 0
                table = self.zf.read(self.info.strings_path)
        start, grid = self._calamine(self.opening + block, self.closing, with_strings=table)
        if start is None:
            grid = []
        first_row, first_col = start or (0, 0)
        if shared and grid:
            grid = _looked_up(grid, self.shared_strings())
        if first_col:
            pad = [None] * first_col
            grid = [pad + cells for cells in grid]
        rows = zip(count(first_row + 1), grid)
        return _with_problems(list(rows), problems) if problems else rows


def _with_problems(rows: list[tuple[int, list[Any]]], problems) -> list[tuple[int, list[Any]]]:
    """``rows`` with the problem cells laid over them (a row of nothing but problems is
    not in calamine's grid at all)."""
    by_number = dict(rows)
    for number, cells_problems in problems.items():
        cells = by_number.setdefault(number, [])
        for col, problem in cells_problems.items():
            if col >= len(cells):
                cells.extend([None] * (col + 1 - len(cells)))
            cells[col] = problem
    return sorted(by_number.items())


_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]+)(\d+)"')
_ATTR_T = re.compile(rb'\bt="(\w+)"')
_V = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_F = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _problems_in(block: bytes, prefixed: bool) -> dict[int, dict[int, Problem]]:
    """Row number -> column -> problem in a piece of worksheet XML: formulas without a
    cached value and error cells (calamine gives both as empty cells)."""
    out: dict[int, dict[int, Problem]] = {}
    for m in _CELL.finditer(block):
        attrs, body = m.group(1), m.group(2) or b""
        t = _ATTR_T.search(attrs)
        v = _V.search(body)
        if t and t.group(1) == b"e":
            problem = Problem((v.group(1) if v else b"#N/A").decode())
        elif _F.search(body) and not (v and v.group(1)):
            problem = FORMULA
        else:
            continue
        r = _ATTR_R.search(attrs)
        if r:
            row = int(r.group(2))
            out.setdefault(row, {})[column_index(r.group(1).decode())] = problem
    return out


def problem_cells(path: Path, info: FileInfo) -> dict[int, dict[int, Problem]]:
    """Row number -> column -> problem for the whole worksheet (a stream of pieces)."""
    out: dict[int, dict[int, Problem]] = {}
    with zipfile.ZipFile(path) as zf, zf.open(info.sheet_path) as fh:
        buf = b""
        prefixed = None
        while True:
            chunk = fh.read(_STREAM)
            if prefixed is None:
                prefixed = b"<worksheet" not in chunk[:4096]
            buf += chunk
            cut = buf.rfind(b"</row>") + 6 if chunk else len(buf)
            if cut < 6:
                continue
            block, buf = buf[:cut], buf[cut:]
            if _may_have_problems(block, prefixed):
                out.update(_problems_in(block, prefixed))
            if not chunk:
                break
    return out


# -- helpers for the stored preview ------------------------------------------------------------


def to_json_cell(value: Any) -> Any:
    """A cell as JSON (the first rows are kept with the upload for previews)."""
    if value is None or isinstance(value, (str, bool, float, int)):
        return value
    if isinstance(value, Problem):
        return {"$p": value.text}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, time):
        return {"$t": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    return str(value)


def from_json_cell(value: Any) -> Any:
    if isinstance(value, dict):
        if "$p" in value:
            return FORMULA if value["$p"] == "formula" else Problem(value["$p"])
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$d" in value:
            return date.fromisoformat(value["$d"])
        if "$t" in value:
            return time.fromisoformat(value["$t"])
        if "$td" in value:
            return timedelta(seconds=value["$td"])
    return value
