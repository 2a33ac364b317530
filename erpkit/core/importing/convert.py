"""Headers to columns, cells to values.

Header names match when they are equal after NFKC (full-width letters, digits and
punctuation become ASCII), case folding and dropping spaces and punctuation; a cell
"客户名称 / Customer name" or "客户名称(Customer name)" matches by either half.

Each column gets a converter built once per import; converting a cell is a call of
a small closure that checks the cell's Python type first (calamine gives numbers as
float, dates as date or datetime, CSV gives text), so that a 100,000-row file costs
about a microsecond per cell.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from math import isfinite
from typing import Any

from erpkit.core.i18n import gettext as _
from erpkit.core.importing import Column, ImportSchema
from erpkit.core.importing.readers import Problem
from erpkit.core.registry import Option

_DROP = re.compile(
    r"[\s_\-*:.#()\[\]<>'\"`~!?,;/\\|+=&%$@^{}。，、；：？！·•【】《》「」『』“”‘’…—]+"
)


def norm(text: Any) -> str:
    """The form header names and choices are compared in."""
    return _DROP.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


def header_keys(text: Any) -> list[str]:
    """The normalized names a header cell may mean, the whole cell first."""
    if text is None:
        return []
    t = unicodedata.normalize("NFKC", str(text)).strip()
    keys = [norm(t)]
    for part in re.split(r"[/|\n]", t):
        keys.append(norm(part))
    m = re.match(r"^(.*?)\((.*)\)\s*\*?$", t)
    if m:
        keys += [norm(m.group(1)), norm(m.group(2))]
    return [k for k in dict.fromkeys(keys) if k]


def zh_label(erp, column: Column) -> str:
    """The column's Chinese name: the catalog's translation, else its first Chinese alias."""
    zh = erp.catalogs.get("zh_CN")
    text = zh.gettext(column.label) if zh is not None else column.label
    if text == column.label:
        for alias in column.aliases:
            if any("\u4e00" <= ch <= "\u9fff" for ch in alias):
                return alias
    return text


def label(erp, column: Column) -> str:
    """The column's name in the current language."""
    from erpkit.core.i18n import current_locale

    return zh_label(erp, column) if current_locale() == "zh_CN" else column.label


def column_names(erp, column: Column) -> list[str]:
    return [column.key, column.label, zh_label(erp, column), *column.aliases]


def header_index(erp, schema: ImportSchema) -> dict[str, str]:
    index: dict[str, str] = {}
    for column in schema.columns:
        for name in column_names(erp, column):
            key = norm(name)
            if key:
                index.setdefault(key, column.key)
    return index


def match_headers(erp, schema: ImportSchema, headers: list[Any]) -> list[str | None]:
    """For each header cell, the key of the column it names (each column once), or None."""
    index = header_index(erp, schema)
    used: set[str] = set()
    targets: list[str | None] = []
    for header in headers:
        target = None
        for key in header_keys(header):
            found = index.get(key)
            if found is not None and found not in used:
                target = found
                break
        if target is not None:
            used.add(target)
        targets.append(target)
    return targets


def find_header_row(erp, schema: ImportSchema, rows: list[tuple[int, list[Any]]], look: int = 10):
    """Among the first non-empty rows, the one naming the most columns (title rows above
    the header are common), as ``(position in rows, targets)``; None if none names any."""
    best = None
    for pos, (_number, cells) in enumerate(rows[:look]):
        targets = match_headers(erp, schema, cells)
        score = sum(t is not None for t in targets)
        if score and (best is None or score > best[2]):
            best = (pos, targets, score)
    return None if best is None else (best[0], best[1])


# -- converters --------------------------------------------------------------------------------


class ConvertError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _required() -> ConvertError:
    return ConvertError(_("Required."))


def _problem(value: Problem) -> ConvertError:
    return ConvertError(value.message())


def _clean_number(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip()
    for ch in (",", " ", "_", "¥", "$", "元", "'"):
        s = s.replace(ch, "")
    return s


def choices_of(erp, column: Column) -> list[Option]:
    """The options a choice column accepts: its own, or its option list's."""
    out: list[Option] = []
    for c in column.choices:
        if isinstance(c, Option):
            out.append(c)
        elif isinstance(c, str):
            out.append(Option(c, c, c))
        else:
            out.append(Option(*c))
    if not out and column.option_list:
        olist = erp.registry.option_lists.get(column.option_list)
        if olist is not None:
            out = list(olist.options)
    return out


def make_converter(erp, column: Column) -> Callable[[Any], Any]:
    """A function cell -> value for ``column``; raises :class:`ConvertError` with the
    reason (already translated) when the cell cannot be that column's value."""
    return {
        "text": _text,
        "int": _int,
        "decimal": _decimal,
        "date": _date,
        "bool": _bool,
        "choice": _choice,
    }[column.type](erp, column)


def _text(erp, column: Column):
    required, maxlen = column.required, column.max_length

    def convert(v):
        t = type(v)
        if t is str:
            s = v.strip()
        elif v is None:
            s = ""
        elif t is float:
            s = str(int(v)) if v.is_integer() else repr(v)
        elif t is int:
            s = str(v)
        elif t is bool:
            s = "TRUE" if v else "FALSE"
        elif t is datetime:
            s = v.isoformat(sep=" ")
        elif t is date or t is time:
            s = v.isoformat()
        elif t is Problem:
            raise _problem(v)
        else:
            s = str(v).strip()
        if not s:
            if required:
                raise _required()
            return None
        if maxlen is not None and len(s) > maxlen:
            raise ConvertError(_("At most %(n)s characters.", n=maxlen))
        return s

    return convert


def _bounds(column: Column, value):
    if column.min is not None and value < column.min:
        raise ConvertError(_("At least %(n)s.", n=column.min))
    if column.max is not None and value > column.max:
        raise ConvertError(_("At most %(n)s.", n=column.max))
    return value


def _int(erp, column: Column):
    required = column.required
    bounded = column.min is not None or column.max is not None

    def not_whole():
        return ConvertError(_("Enter a whole number."))

    def convert(v):
        t = type(v)
        if t is float:
            if not v.is_integer():
                raise not_whole()
            n = int(v)
        elif t is str:
            s = v.strip()
            if not s:
                if required:
                    raise _required()
                return None
            try:
                n = int(s)
            except ValueError:
                s = _clean_number(s)
                try:
                    n = int(s)
                except ValueError:
                    try:
                        d = Decimal(s)
                    except InvalidOperation:
                        raise not_whole() from None
                    if not d.is_finite() or d != d.to_integral_value():
                        raise not_whole() from None
                    n = int(d)
        elif v is None:
            if required:
                raise _required()
            return None
        elif t is int:
            n = v
        elif t is Problem:
            raise _problem(v)
        else:
            raise not_whole()
        return _bounds(column, n) if bounded else n

    return convert


def _decimal(erp, column: Column):
    required = column.required
    bounded = column.min is not None or column.max is not None
    quantum = Decimal(1).scaleb(-column.places) if column.places is not None else None

    def not_number():
        return ConvertError(_("Enter a number."))

    def convert(v):
        t = type(v)
        if t is float:
            if v != v or v in (float("inf"), float("-inf")):
                raise not_number()
            d = Decimal(repr(v))
        elif t is str:
            s = v.strip()
            if not s:
                if required:
                    raise _required()
                return None
            try:
                d = Decimal(s)
            except InvalidOperation:
                s = _clean_number(s)
                percent = s.endswith("%")
                try:
                    d = Decimal(s[:-1] if percent else s)
                except InvalidOperation:
                    raise not_number() from None
                if percent:
                    d = d / 100
            if not d.is_finite():
                raise not_number()
        elif v is None:
            if required:
                raise _required()
            return None
        elif t is int:
            d = Decimal(v)
        elif t is Problem:
            raise _problem(v)
        else:
            raise not_number()
        if quantum is not None:
            try:
                q = d.quantize(quantum)
            except InvalidOperation:  # more digits than a decimal holds
                raise ConvertError(_("The number is too large.")) from None
            if q != d:
                raise ConvertError(_("At most %(n)s decimal places.", n=column.places))
            d = q
        return _bounds(column, d) if bounded else d

    return convert


_DATE_TEXT = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[\sT]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DATE_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EXCEL_EPOCH = date(1899, 12, 30)


def parse_date(text: str) -> date | None:
    s = unicodedata.normalize("NFKC", text).strip()
    m = _DATE_TEXT.match(s) or _DATE_DIGITS.match(s)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _number_to_date(n: float) -> date | None:
    if n.is_integer() and 19000101 <= n <= 29991231:
        return parse_date(str(int(n)))
    if 1 <= n < 109575:  # an Excel serial up to 2199-12-31
        return _EXCEL_EPOCH + timedelta(days=int(n))
    return None


def _date(erp, column: Column):
    required = column.required
    bounded = column.min is not None or column.max is not None

    def bad():
        return ConvertError(_("Enter a date such as 2024-03-31."))

    def convert(v):
        t = type(v)
        if t is date:
            d = v
        elif t is datetime:
            d = v.date()
        elif t is str:
            if not v.strip():
                if required:
                    raise _required()
                return None
            d = parse_date(v)
            if d is None:
                raise bad()
        elif v is None:
            if required:
                raise _required()
            return None
        elif t is float or t is int:
            d = _number_to_date(float(v))
            if d is None:
                raise bad()
        elif t is Problem:
            raise _problem(v)
        else:
            raise bad()
        return _bounds(column, d) if bounded else d

    return convert


_TRUE = {"1", "true", "t", "yes", "y", "是", "对", "有", "真", "√", "✓", "✔", "on"}
_FALSE = {"0", "false", "f", "no", "n", "否", "错", "无", "假", "×", "✗", "✘", "off"}


def _bool(erp, column: Column):
    required = column.required

    def bad():
        return ConvertError(_("Enter yes or no (是 or 否)."))

    def convert(v):
        t = type(v)
        if t is bool:
            return v
        if v is None or (t is str and not v.strip()):
            if required:
                raise _required()
            return None
        if t is float or t is int:
            if v in (0, 1):
                return bool(v)
            raise bad()
        if t is Problem:
            raise _problem(v)
        key = norm(v)
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
        raise bad()

    return convert


def _choice(erp, column: Column):
    required = column.required
    options = choices_of(erp, column)
    lookup: dict[str, str] = {}
    exact: dict[Any, str] = {}
    for o in options:
        for name in (o.code, o.label_zh, o.label_en):
            lookup.setdefault(norm(name), o.code)
            exact.setdefault(name, o.code)

    def bad():
        from erpkit.core.i18n import current_locale

        zh = current_locale() == "zh_CN"
        names = [o.label_zh if zh else o.label_en for o in options[:12]]
        return ConvertError(_("Choose one of: %(choices)s.", choices=", ".join(names)))

    def convert(v):
        code = exact.get(v) if type(v) is str else None
        if code is not None:
            return code
        if v is None or (type(v) is str and not v.strip()):
            if required:
                raise _required()
            return None
        if type(v) is Problem:
            raise _problem(v)
        if type(v) is float and v.is_integer():
            v = int(v)
        code = lookup.get(norm(v))
        if code is None:
            raise bad()
        return code

    return convert


# -- showing values ----------------------------------------------------------------------------


def display(erp, column: Column, value: Any) -> str:
    """A converted value as text for the preview, in the current language."""
    if value is None:
        return ""
    if column.type == "bool":
        return _("Yes") if value else _("No")
    if column.type == "choice":
        from erpkit.core.i18n import current_locale

        for o in choices_of(erp, column):
            if o.code == value:
                return o.label_zh if current_locale() == "zh_CN" else o.label_en
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def display_raw(value: Any) -> str:
    """A cell as read from the file, as text."""
    if value is None:
        return ""
    if isinstance(value, Problem):
        return "#" + value.text if value.text == "formula" else value.text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


# -- converting a column at once -----------------------------------------------------------------
#
# A batch of cells is converted column by column where the column's cells are all of the
# usual type (text in a text column, numbers in a number column...): C loops (``map``
# over built-in functions) instead of a Python call per cell, about a third of the cost.
# Each bulk function gives exactly what the column's converter gives cell by cell, or
# None when it cannot be sure (an empty cell, a value out of bounds, text in a number
# column...): the caller then converts that column cell by cell, which also says what is
# wrong with which cell. tests/test_import_convert.py checks the two agree.


def _in_bounds(column: Column, values: list[Any]) -> bool:
    if column.min is not None and min(values) < column.min:
        return False
    return column.max is None or max(values) <= column.max


def make_bulk(erp, column: Column) -> Callable[[list[Any]], list[Any] | None]:
    """A function cells -> values for a whole column of a batch, or None when the
    cells need the cell-by-cell converter (see above)."""
    kind = column.type
    bounded = column.min is not None or column.max is not None
    if kind == "text":
        maxlen = column.max_length

        def text(cells):
            if set(map(type, cells)) != {str}:
                return None
            out = list(map(str.strip, cells))
            if "" in out:
                if column.required:
                    return None
                out = [s or None for s in out]
                if maxlen is not None and max((len(s) for s in out if s), default=0) > maxlen:
                    return None
            elif maxlen is not None and max(map(len, out)) > maxlen:
                return None
            return out

        return text
    if kind == "int":

        def whole(cells):
            kinds = set(map(type, cells))
            if kinds == {float}:
                try:
                    out = list(map(int, cells))
                except (ValueError, OverflowError):  # NaN, infinity
                    return None
                if out != cells:  # a fraction somewhere
                    return None
            elif kinds == {int}:
                out = cells
            else:
                return None
            return out if not bounded or _in_bounds(column, out) else None

        return whole
    if kind == "decimal":
        quantum = Decimal(1).scaleb(-column.places) if column.places is not None else None

        def number(cells):
            kinds = set(map(type, cells))
            if kinds == {float}:
                if not all(map(isfinite, cells)):
                    return None
                out = list(map(Decimal, map(repr, cells)))
            elif kinds == {int}:
                out = list(map(Decimal, cells))
            else:
                return None
            if quantum is not None:
                try:
                    q = list(map(Decimal.quantize, out, [quantum] * len(out)))
                except InvalidOperation:
                    return None
                if q != out:  # more decimal places than the column keeps
                    return None
                out = q
            return out if not bounded or _in_bounds(column, out) else None

        return number
    if kind == "date":

        def day(cells):
            kinds = set(map(type, cells))
            if kinds == {date}:
                out = cells
            elif kinds == {datetime}:
                out = list(map(datetime.date, cells))
            else:
                return None
            return out if not bounded or _in_bounds(column, out) else None

        return day
    if kind == "bool":
        return lambda cells: cells if set(map(type, cells)) == {bool} else None
    if kind == "choice":
        exact: dict[Any, str] = {}
        for o in choices_of(erp, column):
            for name in (o.code, o.label_zh, o.label_en):
                exact.setdefault(name, o.code)

        def choice(cells):
            if set(map(type, cells)) != {str}:
                return None
            out = list(map(exact.get, cells))
            return None if None in out else out

        return choice
    return lambda cells: None
