"""The .xlsx renderer (openpyxl): placeholders in cells, one row repeated per line item.

Conventions for template authors
--------------------------------

* **Placeholders.** Any text cell holding ``{{ ... }}`` (or ``{% ... %}``) is a Jinja
  template, evaluated against the document's context: ``{{ quote.code }}``,
  ``合计：{{ quote.amount_total|money }}``. A cell that holds *only* one
  ``{{ expression }}`` receives the value itself, so numbers stay numbers (and keep
  the cell's number format, and formulas can add them up) and dates stay dates.
  Everything else becomes text; text from the data never becomes a formula.
* **Repeated rows.** A row with a cell starting with ``{%row for line in quote.lines %}``
  is written once per item; the rest of that cell is its content
  (``{%row for line in quote.lines %}{{ loop.index }}``), and the other cells of the
  row use ``line`` too. ``loop.index``, ``loop.first``, ``loop.last`` and
  ``loop.length`` are there as in Jinja, and so are ``if`` filters and unpacking
  (``{%row for no, line in rows if line.qty %}``). One marker per row; a sheet may
  have several repeated rows. With no items the row stays, empty.
* **What moves along.** Rows below a repeated row move down. Their styles, heights,
  merged cells, pictures, conditional formats, data validations, print area and
  defined names move with them, and every formula in the workbook that refers to
  them is corrected. A range that includes the repeated row grows to cover all
  the written rows: a ``=SUM(E5:E5)`` below a repeated row 5 becomes
  ``=SUM(E5:E7)`` for three items. Formulas inside the repeated row are copied as
  Excel copies them (``=C5*D5`` becomes ``=C6*D6`` on the next row).
* **Pictures.** A cell holding ``{{ image(company.logo) }}`` (or ``company.seal``, or
  any image data) shows the picture at that cell, fitted into the cell or into
  the merged cells it starts; ``image(company.seal, width=40)`` sets the width in
  millimetres (``height=`` too). An empty logo leaves the cell empty.
* **Filters.** ``amount_in_words`` / ``cn_capital`` (人民币大写), ``money`` (1,234.50),
  ``date("%Y年%m月%d日")``, and Jinja's own.

Mistakes are reported with the sheet and cell: ``Sheet1!B4: unexpected '}'``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import pickle
import re
import threading
import zipfile
from bisect import bisect_left
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from itertools import accumulate
from typing import Any

import jinja2
from jinja2 import nodes
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.drawing.image import Image as _XLImage
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.formula.translate import Translator
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet.cell_range import CellRange, MultiCellRange
from openpyxl.worksheet.merge import MergedCellRange

from erpkit.core.documents.engine import (
    ImageRef,
    TemplateProblem,
    check_package,
    clean_quotes,
    describe,
    environment,
    image_info,
    snippet,
)
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _

MAX_ROWS = 10_000  # items of one repeated row
MAX_CELL_TEXT = 32_767  # Excel's limit
_MAX_PROBLEMS = 50
_MARKER = re.compile(r"^\s*\{%-?\s*row\s+for\s+(?P<rest>.*?)\s*-?%\}", re.S)
_MARKER_START = re.compile(r"^\s*\{%-?\s*row\b")
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%|\{#).)*)\}\}\s*$", re.S)
_CELL = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)([0-9]+)")
_ROWREF = re.compile(r"(\$?)([0-9]+)")
_PLAIN_SHEET = re.compile(r"[A-Za-z_\u4e00-\u9fff][\w\u4e00-\u9fff.]*")
_COLLECT = "erpkit_row_item"


class _Picture(_XLImage):
    """A picture from bytes, without Pillow (openpyxl needs Pillow only to measure)."""

    def __init__(self, data: bytes, width: int, height: int, fmt: str) -> None:
        self.ref = data
        self.width = width
        self.height = height
        self.format = fmt
        self.anchor = "A1"

    def _data(self) -> bytes:
        return self.ref


def sheet_ref(title: str) -> str:
    """The sheet as a formula names it: ``Sheet1``, ``'My sheet'``."""
    if _PLAIN_SHEET.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


class _Problems:
    def __init__(self) -> None:
        self.items: dict[str, None] = {}

    def add(self, ws, coordinate: str, exc: BaseException | str, source: str = "") -> None:
        if len(self.items) >= _MAX_PROBLEMS:
            return
        why = exc if isinstance(exc, str) else describe(exc)
        text = f"{sheet_ref(ws.title)}!{coordinate}: {why}"
        if source:
            text += f' (in "{snippet(source)}")'
        self.items[text] = None

    def check(self) -> None:
        if self.items:
            raise TemplateProblem(list(self.items))


# -- opening ---------------------------------------------------------------------------


def open_workbook(source: bytes):
    """The workbook in ``source``, or a 422 that says why it is not one."""
    check_package(source, "xlsx")
    try:
        wb = load_workbook(BytesIO(source), rich_text=False)
    except Exception as exc:
        raise ValidationError(
            {"file": _("This Excel workbook cannot be read: %(why)s", why=describe(exc))}
        ) from None
    _keep_pictures(source, wb)
    return wb


def _keep_pictures(source: bytes, wb) -> None:
    """Without Pillow openpyxl drops a template's pictures (a logo pasted into the
    header rows): read them again here, as raw bytes."""
    from openpyxl.drawing.image import PILImage

    if PILImage:
        return
    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.packaging.relationship import get_dependents, get_rels_path
    from openpyxl.reader.excel import _find_workbook_part
    from openpyxl.reader.workbook import WorkbookParser
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, IMAGE_NS
    from openpyxl.xml.functions import fromstring

    try:
        with zipfile.ZipFile(BytesIO(source)) as archive:
            names = set(archive.namelist())
            package = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES)))
            parser = WorkbookParser(archive, _find_workbook_part(package).PartName[1:])
            parser.parse()
            for sheet, rel in parser.find_sheets():
                rels_path = get_rels_path(rel.target)
                if sheet.name not in wb.sheetnames or rels_path not in names:
                    continue
                ws = wb[sheet.name]
                for drel in get_dependents(archive, rels_path).find(SpreadsheetDrawing._rel_type):
                    drawing = SpreadsheetDrawing.from_tree(fromstring(archive.read(drel.target)))
                    deps_path = get_rels_path(drel.target)
                    if deps_path not in names:
                        continue
                    deps = get_dependents(archive, deps_path)
                    for blip in drawing._blip_rels:
                        dep = deps.get(blip.embed)
                        if dep is None or dep.Type != IMAGE_NS:
                            continue
                        data = archive.read(dep.target)
                        try:
                            w, h, ext = image_info(data)
                        except ValueError:
                            continue
                        ws.add_image(_Picture(data, w, h, ext), blip.anchor)
    except Exception:  # pictures are a nicety: a drawing openpyxl cannot read is left out
        return


# -- the parsed template, kept per process ---------------------------------------------------
# Parsing a template costs as much as filling it in (a 30-line quotation: 23 of 65 ms), and a
# deployment prints the same few files again and again. So the parsed workbook is kept per
# process, pickled, keyed by the hash of the file's bytes (an upload is a new key), and every
# render unpickles a workbook of its own (2 ms), the first one too: every render works on a copy.


#: pickled workbooks kept (bytes), at most
KEEP_BYTES = 64 * 1024 * 1024
#: a workbook with more cells is parsed on every render (pickling it would take seconds)
KEEP_CELLS = 20_000
_KEEP_ONE = KEEP_BYTES // 4
_kept: OrderedDict[bytes, bytes] = OrderedDict()
_kept_lock = threading.Lock()


def _new(cls):
    return cls.__new__(cls)


def _restore(obj, state) -> None:
    items, attrs, factory = state
    if isinstance(obj, list):
        list.extend(obj, items)
    else:
        dict.update(obj, items)
    if factory is not None:
        obj.default_factory = factory
    if attrs:
        obj.__dict__.update(attrs)


class _WorkbookPickler(pickle.Pickler):
    """Pickles openpyxl's own list and dict classes by their items and attributes.

    Pickle rebuilds a list or dict subclass through its ``append`` / ``__setitem__``
    before its attributes are back, and a ``defaultdict`` without them: openpyxl's
    ``IndexedList`` (the style tables) would then skip items and write into a dict its
    class shares, and a ``DimensionHolder`` (row heights) lose its worksheet.
    """

    def reducer_override(self, obj):
        cls = type(obj)
        if not isinstance(obj, (list, dict)) or not cls.__module__.startswith("openpyxl."):
            return NotImplemented
        items = list(obj) if isinstance(obj, list) else list(dict.items(obj))
        factory = obj.default_factory if isinstance(obj, defaultdict) else None
        return _new, (cls,), (items, getattr(obj, "__dict__", None), factory), None, None, _restore


def _pickled(wb) -> bytes:
    out = BytesIO()
    _WorkbookPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(wb)
    return out.getvalue()


def _unpickled(kept: bytes):
    # only ever bytes this process pickled itself (never from a file, a client or the database)
    return pickle.loads(kept)  # noqa: S301


def template_workbook(source: bytes):
    """A workbook of its own for one render of ``source``: a copy of the one parsed
    before, else :func:`open_workbook` (a 422 for what is not a workbook)."""
    key = hashlib.sha256(source).digest()
    with _kept_lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept:
        return _unpickled(kept)
    wb = open_workbook(source)
    if kept is not None:  # b"": cannot be kept
        return wb
    kept = b""
    if sum(len(ws._cells) for ws in wb.worksheets) <= KEEP_CELLS:
        with contextlib.suppress(Exception):  # something that does not pickle: parse every time
            kept = _pickled(wb)
    if len(kept) > _KEEP_ONE:
        kept = b""
    with _kept_lock:
        _kept[key] = kept
        total = sum(len(v) for v in _kept.values())
        while total > KEEP_BYTES or len(_kept) > 256:
            total -= len(_kept.popitem(last=False)[1])
    return _unpickled(kept) if kept else wb


# -- repeated rows ------------------------------------------------------------------------


@dataclass
class _Block:
    """A repeated row: its (original) row number and one dict of bindings per item."""

    row: int
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def extra(self) -> int:
        return max(len(self.items), 1) - 1


@dataclass(frozen=True)
class RowLoop:
    """``loop`` inside a repeated row, like Jinja's."""

    index0: int
    length: int

    @property
    def index(self) -> int:
        return self.index0 + 1

    @property
    def first(self) -> bool:
        return self.index0 == 0

    @property
    def last(self) -> bool:
        return self.index0 == self.length - 1

    @property
    def revindex(self) -> int:
        return self.length - self.index0

    @property
    def revindex0(self) -> int:
        return self.length - self.index0 - 1


def _loop_items(env, rest: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``{% for <rest> %}`` as Jinja would and collect each item's bindings."""
    loop = env.parse("{% for " + rest + " %}{% endfor %}").body[0]
    if not isinstance(loop, nodes.For) or loop.recursive:
        raise ValueError("a row marker reads {%row for line in quote.lines %}")
    if isinstance(loop.target, nodes.Name):
        names = [loop.target.name]
    else:
        names = [n.name for n in loop.target.find_all(nodes.Name)]
    items: list[dict[str, Any]] = []

    def collect(*values):
        if len(items) >= MAX_ROWS:
            raise ValueError(f"more than {MAX_ROWS} rows")
        items.append(dict(zip(names, values, strict=True)))
        return ""

    source = "{% for " + rest + " %}{{ " + _COLLECT + "(" + ", ".join(names) + ") }}{% endfor %}"
    template = _loop_template(source) if env is _shared_env() else env.from_string(source)
    template.render({**context, _COLLECT: collect})
    return items


# Compiling a placeholder costs more than rendering it (a 30-line quotation: 15 of 54 ms),
# and a deployment prints the same few templates again and again: compiled placeholders
# are kept per process, keyed by their text, on one shared environment (read-only once
# made; rendering compiled templates is thread-safe).


@lru_cache(maxsize=1)
def _shared_env():
    return environment()


def _compile(env, text: str):
    """``(kind, compiled, path)``: a cell holding one ``{{ expression }}`` is an "expr",
    anything else a "text" template; ``path`` is set for a plain lookup such as
    ``{{ line.qty }}`` (``("line", "qty")``), which :func:`_lookup` may answer alone."""
    m = _SINGLE.match(text)
    if m:
        expr = m.group("expr")
        return "expr", env.compile_expression(expr, undefined_to_none=False), _path(env, expr)
    return "text", env.from_string(text), None


@lru_cache(maxsize=4096)
def _compiled(source: str):
    return _compile(_shared_env(), clean_quotes(source))


def _path(env, expr: str) -> tuple[str, ...] | None:
    """``quote.customer.name`` -> ``("quote", "customer", "name")``; None for anything else."""
    try:
        body = env.parse("{{" + expr + "}}").body
    except jinja2.TemplateError:
        return None
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    node, names = body[0].nodes[0], []
    while isinstance(node, nodes.Getattr):
        names.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load":
        return None
    return (node.name, *reversed(names))


# Calling a compiled expression makes a new Jinja context (a 30-line quotation: 390 cells,
# most of them ``{{ line.x }}``). A lookup through plain dicts (and ``loop``) is answered
# here with what the sandbox would answer: a dict's item when the name is not an attribute
# of dict (the sandbox reads items without a check). Anything else - a record, a missing
# key, ``line.items``, a filter - goes to Jinja, so its checks and errors stay the same.

_MISSING = object()
_DICT_NAMES = frozenset(dir(dict))
_LOOP_NAMES = frozenset(("index", "index0", "first", "last", "length", "revindex", "revindex0"))


def _lookup(context: dict[str, Any], path: tuple[str, ...]) -> Any:
    value = context.get(path[0], _MISSING)
    for name in path[1:]:
        if type(value) is dict and name not in _DICT_NAMES:
            value = value.get(name, _MISSING)
        elif type(value) is RowLoop and name in _LOOP_NAMES:
            value = getattr(value, name)
        else:
            return _MISSING
    return value


@lru_cache(maxsize=512)
def _loop_template(source: str):
    return _shared_env().from_string(source)


def _find_blocks(env, ws, context, problems: _Problems) -> dict[int, _Block]:
    blocks: dict[int, _Block] = {}
    for cell in list(ws._cells.values()):
        value = cell.value
        if type(cell) is not Cell or not isinstance(value, str) or not _MARKER_START.match(value):
            continue
        m = _MARKER.match(clean_quotes(value))
        if m is None:
            problems.add(
                ws, cell.coordinate, _("a row marker reads {%row for line in quote.lines %}"), value
            )
            continue
        if cell.row in blocks:
            problems.add(ws, cell.coordinate, _("only one {%row ... %} marker per row"), value)
            continue
        cell.value = clean_quotes(value)[m.end() :]
        try:
            blocks[cell.row] = _Block(cell.row, _loop_items(env, m.group("rest"), context))
        except Exception as exc:
            problems.add(ws, cell.coordinate, exc, value)
    return blocks


class RowMap:
    """Where an original row ends up once the repeated rows are written."""

    def __init__(self, extra: dict[int, int]) -> None:
        self.extra = {r: e for r, e in extra.items() if e}
        self.markers = sorted(self.extra)
        self.before = [0, *accumulate(self.extra[m] for m in self.markers)]

    def __bool__(self) -> bool:
        return bool(self.extra)

    def row(self, r: int) -> int:
        """The new number of row ``r`` (a repeated row: of its first copy)."""
        return r + self.before[bisect_left(self.markers, r)]

    def end(self, r: int, home: int | None = None) -> int:
        """The new last row of a range ending at ``r``: a repeated row's range covers
        all its copies, except for formulas inside that row (``home``)."""
        return self.row(r) + (self.extra.get(r, 0) if r != home else 0)


# -- references and formulas ------------------------------------------------------------


def _row_of(part: str) -> int | None:
    m = _CELL.fullmatch(part)
    if m:
        return int(m.group(4))
    m = _ROWREF.fullmatch(part)
    return int(m.group(2)) if m else None


def _with_row(part: str, row: int) -> str:
    m = _CELL.fullmatch(part)
    if m:
        return f"{m.group(1)}{m.group(2)}{m.group(3)}{row}"
    m = _ROWREF.fullmatch(part)
    return f"{m.group(1)}{row}" if m else part


def remap_ref(ref: str, rmap: RowMap, home: int | None = None) -> str:
    """``E5:E5`` -> ``E5:E7`` and so on; whole columns and names stay as they are."""
    parts = ref.split(":")
    if len(parts) == 1:
        m = _CELL.fullmatch(ref)
        return _with_row(ref, rmap.row(int(m.group(4)))) if m else ref
    if len(parts) != 2:
        return ref
    a, b = parts
    ra, rb = _row_of(a), _row_of(b)
    if ra is None or rb is None:
        return ref
    if ra <= rb:
        return f"{_with_row(a, rmap.row(ra))}:{_with_row(b, rmap.end(rb, home))}"
    return f"{_with_row(a, rmap.end(ra, home))}:{_with_row(b, rmap.row(rb))}"


def _split_sheet(value: str) -> tuple[str | None, str]:
    if "!" not in value:
        return None, value
    prefix, _sep, ref = value.rpartition("!")
    return prefix, ref


def _sheet_name(prefix: str) -> str | None:
    if prefix.startswith("[") or ":" in prefix.strip("'"):
        return None  # another workbook, or a 3-D reference
    if len(prefix) >= 2 and prefix[0] == prefix[-1] == "'":
        return prefix[1:-1].replace("''", "'")
    return prefix


def remap_formula(
    formula: str, sheet: str | None, maps: dict[str, RowMap], home: int | None = None
) -> str:
    """``formula`` (``=...``) with its references to moved rows corrected.

    ``sheet`` is the sheet the formula is on (its unqualified references point
    there); ``home`` the repeated row it is in, if any.
    """
    try:
        tokens = Tokenizer(formula).items
    except Exception:
        return formula
    out = ["="]
    changed = False
    for token in tokens:
        value = token.value
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            prefix, ref = _split_sheet(value)
            target = sheet if prefix is None else _sheet_name(prefix)
            rmap = maps.get(target) if target is not None else None
            if rmap:
                new = remap_ref(ref, rmap, home if target == sheet else None)
                if new != ref:
                    value = new if prefix is None else f"{prefix}!{new}"
                    changed = True
        out.append(value)
    return "".join(out) if changed else formula


def _remap_ranges(text: str, rmap: RowMap) -> str:
    """Areas (``"B3 D3:E4"``): a lone cell on a repeated row covers all its copies too."""
    out = []
    for ref in str(text).split():
        area = f"{ref}:{ref}" if _CELL.fullmatch(ref.replace("$", "")) else ref
        new = remap_ref(area, rmap)
        out.append(ref if new == area else new)
    return " ".join(out)


def _remap_workbook(wb, maps: dict[str, RowMap], blocks: dict[str, dict[int, _Block]]) -> None:
    """Correct every formula and named reference of the workbook before rows move."""
    from openpyxl.worksheet.formula import ArrayFormula

    for ws in wb.worksheets:
        own = blocks.get(ws.title, {})
        for cell in ws._cells.values():
            value = cell.value
            home = cell.row if cell.row in own else None
            if isinstance(value, str) and cell.data_type == "f":
                cell.value = remap_formula(value, ws.title, maps, home)
            elif isinstance(value, ArrayFormula):
                value.text = remap_formula(value.text, ws.title, maps, home)
                if ws.title in maps:
                    value.ref = remap_ref(value.ref, maps[ws.title])
        for dv in ws.data_validations.dataValidation:
            for attr in ("formula1", "formula2"):
                f = getattr(dv, attr, None)
                if f:
                    setattr(dv, attr, remap_formula("=" + f, ws.title, maps)[1:])
        for name in list(ws.defined_names.values()):
            if name.attr_text:
                name.attr_text = remap_formula("=" + name.attr_text, ws.title, maps)[1:]
    for name in list(wb.defined_names.values()):
        if name.attr_text:
            name.attr_text = remap_formula("=" + name.attr_text, None, maps)[1:]


def _move_sheet(ws, rmap: RowMap, blocks: dict[int, _Block]) -> None:
    """Move the cells and everything anchored to rows; write the copies of repeated rows."""
    cells = ws._cells
    ws._cells = {}
    for (_r, c), cell in sorted(cells.items()):
        cell.row = rmap.row(cell.row)
        ws._cells[(cell.row, c)] = cell
    for orig, block in blocks.items():
        base = rmap.row(orig)
        row_cells = [cell for (r, _c), cell in sorted(ws._cells.items()) if r == base]
        for i in range(1, block.extra + 1):
            for cell in row_cells:
                _copy_cell(ws, cell, base + i)
    # row heights and formats
    dims = ws.row_dimensions
    old = sorted(dims.items())
    dims.clear()
    for r, dim in old:
        dim.index = rmap.row(r)
        dims[dim.index] = dim
        for i in range(1, blocks[r].extra + 1 if r in blocks else 1):
            twin = copy.copy(dim)
            twin.index = dim.index + i
            dims[twin.index] = twin
    # merged cells: within a repeated row they repeat; across one they grow
    merged = list(ws.merged_cells.ranges)
    ws.merged_cells = MultiCellRange()
    for mcr in merged:
        lo, hi = mcr.min_row, mcr.max_row
        mcr.min_row, mcr.max_row = rmap.row(lo), rmap.end(hi)
        ws.merged_cells.add(mcr)
        if lo == hi and lo in blocks:
            for i in range(1, blocks[lo].extra + 1):
                twin = CellRange(
                    min_col=mcr.min_col,
                    max_col=mcr.max_col,
                    min_row=mcr.min_row + i,
                    max_row=mcr.min_row + i,
                )
                ws.merged_cells.add(MergedCellRange(ws, twin.coord))
    for mcr in ws.merged_cells.ranges:
        _fill_merged(ws, mcr)
    _move_anchored(ws, rmap)


def _copy_cell(ws, cell, row: int) -> None:
    if isinstance(cell, MergedCell):
        twin = MergedCell(ws, row=row, column=cell.column)
    else:
        twin = Cell(ws, row=row, column=cell.column)
        value = cell.value
        if isinstance(value, str) and cell.data_type == "f":
            # a formula openpyxl cannot parse is copied as it is
            with contextlib.suppress(Exception):
                value = Translator(value, origin=cell.coordinate).translate_formula(twin.coordinate)
        twin.value = value
        if cell.hyperlink is not None:
            link = copy.copy(cell.hyperlink)
            twin.hyperlink = link
    twin._style = copy.copy(cell._style)
    ws._cells[(row, cell.column)] = twin


def _fill_merged(ws, mcr) -> None:
    """Every cell of a merged range but the first is a placeholder, styled as before."""
    for row, col in list(mcr.cells)[1:]:
        cell = ws._cells.get((row, col))
        if cell is None or not isinstance(cell, MergedCell):
            placeholder = MergedCell(ws, row=row, column=col)
            if cell is not None:
                placeholder._style = copy.copy(cell._style)
            ws._cells[(row, col)] = placeholder


def _move_anchored(ws, rmap: RowMap) -> None:
    """Pictures, charts, conditional formats, validations, print settings, tables."""
    from openpyxl.formatting.formatting import ConditionalFormattingList

    for obj in [*ws._images, *ws._charts]:
        anchor = obj.anchor
        if isinstance(anchor, str):
            r, c = coordinate_to_tuple(anchor)
            obj.anchor = f"{get_column_letter(c)}{rmap.row(r)}"
        elif getattr(anchor, "_from", None) is not None:
            delta = rmap.row(anchor._from.row + 1) - 1 - anchor._from.row
            anchor._from.row += delta
            if getattr(anchor, "to", None) is not None:
                anchor.to.row += delta
    rules = list(ws.conditional_formatting)
    ws.conditional_formatting = ConditionalFormattingList()
    for cf in rules:
        ranges = _remap_ranges(cf.sqref, rmap)
        for rule in cf.rules:
            rule.formula = [
                remap_formula("=" + f, ws.title, {ws.title: rmap})[1:] for f in (rule.formula or [])
            ]
            ws.conditional_formatting.add(ranges, rule)
    for dv in ws.data_validations.dataValidation:
        dv.sqref = MultiCellRange(_remap_ranges(dv.sqref, rmap))
    for table in ws.tables.values():
        table.ref = remap_ref(table.ref, rmap)
        if table.autoFilter is not None and table.autoFilter.ref:
            table.autoFilter.ref = table.ref
    if ws.auto_filter.ref:
        ws.auto_filter.ref = remap_ref(ws.auto_filter.ref, rmap)
    if ws.freeze_panes:
        ws.freeze_panes = remap_ref(ws.freeze_panes, rmap)
    area = ws.print_area
    if area:
        areas = area if isinstance(area, (list, tuple)) else str(area).split(",")
        ws.print_area = [remap_ref(_split_sheet(a)[1].replace("$", ""), rmap) for a in areas]
    if ws.print_title_rows:
        ws.print_title_rows = remap_ref(ws.print_title_rows, rmap)
    for brk in ws.row_breaks.brk:
        brk.id = rmap.row(brk.id)
    for cell in ws._cells.values():
        link = getattr(cell, "hyperlink", None)
        if link is not None:
            link.ref = cell.coordinate


# -- values --------------------------------------------------------------------------------


def _set_text(cell, text: str) -> None:
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_TEXT]
    cell.value = text
    if text.startswith("="):  # data never turns into a formula
        cell.data_type = "s"


def _assign(cell, value: Any, pictures: list) -> None:
    if value is None or isinstance(value, jinja2.Undefined):
        cell.value = None
    elif isinstance(value, ImageRef):
        cell.value = None
        pictures.append((cell, value))
    elif isinstance(value, (bool, int, float, Decimal)):
        cell.value = value
    elif isinstance(value, datetime):
        cell.value = value.astimezone().replace(tzinfo=None) if value.tzinfo else value
    elif isinstance(value, (date, time)):
        cell.value = value
    else:
        _set_text(cell, str(value))


def _render_sheet(env, ws, context, blocks, rmap, problems: _Problems) -> list:
    contexts: dict[int, dict[str, Any]] = {}
    for orig, block in blocks.items():
        base = rmap.row(orig) if rmap else orig
        for i, bindings in enumerate(block.items):
            contexts[base + i] = {**context, **bindings, "loop": RowLoop(i, len(block.items))}
    pictures: list = []
    for cell in list(ws._cells.values()):
        source = cell.value
        if (
            type(cell) is not Cell
            or cell.data_type != "s"
            or not isinstance(source, str)
            or not ("{{" in source or "{%" in source or "{#" in source)
        ):
            continue
        ctx = contexts.get(cell.row, context)
        try:
            if env is _shared_env():
                kind, fn, path = _compiled(source)
            else:
                kind, fn, path = _compile(env, clean_quotes(source))
            if kind == "text":
                value = fn.render(ctx)
            else:
                value = _lookup(ctx, path) if path else _MISSING
                if value is _MISSING:
                    value = fn(**ctx)
            _assign(cell, value, pictures)
        except Exception as exc:
            problems.add(ws, cell.coordinate, exc, source)
    return pictures


# -- pictures -------------------------------------------------------------------------------


def _col_px(ws, col: int) -> float:
    for dim in ws.column_dimensions.values():
        if dim.min and dim.max and dim.min <= col <= dim.max and dim.width:
            return dim.width * 7 + 5
    default = ws.sheet_format.defaultColWidth or ws.sheet_format.baseColWidth or 8.43
    return float(default) * 7 + 5


def _row_px(ws, row: int) -> float:
    dim = ws.row_dimensions.get(row)
    height = (dim.ht if dim is not None and dim.ht else None) or ws.sheet_format.defaultRowHeight
    return float(height or 15) * 96 / 72


def _place(ws, cell, ref: ImageRef) -> None:
    box = CellRange(cell.coordinate)
    for mcr in ws.merged_cells.ranges:
        if mcr.min_row == cell.row and mcr.min_col == cell.column:
            box = mcr
            break
    w_px = sum(_col_px(ws, c) for c in range(box.min_col, box.max_col + 1))
    h_px = sum(_row_px(ws, r) for r in range(box.min_row, box.max_row + 1))
    w_mm, h_mm = ref.size_mm(w_px * 25.4 / 96 * 0.95, h_px * 25.4 / 96 * 0.95)
    picture = _Picture(
        ref.data, max(1, round(w_mm * 96 / 25.4)), max(1, round(h_mm * 96 / 25.4)), ref.ext
    )
    ws.add_image(picture, cell.coordinate)


# -- the renderer ---------------------------------------------------------------------------


def render(source: bytes, context: dict[str, Any]) -> bytes:
    """Render the workbook ``source`` with ``context``; TemplateProblem (422) names the cell."""
    wb = template_workbook(source)
    env = _shared_env()
    problems = _Problems()
    blocks = {ws.title: _find_blocks(env, ws, context, problems) for ws in wb.worksheets}
    problems.check()
    maps = {t: RowMap({r: b.extra for r, b in bl.items()}) for t, bl in blocks.items()}
    maps = {t: m for t, m in maps.items() if m}
    if maps:
        _remap_workbook(wb, maps, blocks)
    placed = []
    for ws in wb.worksheets:
        rmap = maps.get(ws.title)
        if rmap:
            _move_sheet(ws, rmap, blocks[ws.title])
        for cell, ref in _render_sheet(env, ws, context, blocks[ws.title], rmap, problems):
            placed.append((ws, cell, ref))
    problems.check()
    for ws, cell, ref in placed:
        _place(ws, cell, ref)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
