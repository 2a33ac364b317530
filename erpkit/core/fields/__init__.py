"""Custom fields: typed extra fields of an entity type, kept in its JSON column.

Fields come from two places: plugins declare them with the ``custom_fields(entity_type)``
hook (a list of :class:`CustomField`), and an admin defines more per entity type
(table ``core_custom_field``, Administration → Custom fields). Both kinds are
resolved into :class:`FieldDef` s by :func:`definitions`.

Values are stored JSON-native and exact: text and choice codes as strings, numbers as
integers, decimals as decimal *strings* (``"12.50"``, never a float), dates as ISO
strings (``"2026-03-01"``), booleans as ``true``/``false``.

- :func:`clean` validates and converts a dict of values (called by
  :func:`erpkit.core.entities.create` / ``update``), with field errors keyed by code;
- :func:`from_form` reads the inputs the ``custom_inputs`` macro of ``_fields.html``
  rendered;
- :func:`filters` turns ``?cf_<code>=value`` query parameters into SQL conditions
  that work on SQLite and PostgreSQL;
- :func:`list_columns` and the ``custom_headers``/``custom_cells`` macros show them
  in lists, :func:`detail_rows` and ``custom_details`` on a detail page;
  :func:`export` gives headers and values for an .xlsx export.

A deactivated field (or option) keeps the values records already hold: they are shown
and exported, may be cleared, but cannot be set to anything new.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Numeric, and_, cast, false, func, or_, select, true
from sqlalchemy.orm import Session

from erpkit.core import generations, i18n
from erpkit.core.errors import ValidationError
from erpkit.core.fields import options
from erpkit.core.fields.models import FieldDefinition
from erpkit.core.i18n import gettext as _
from erpkit.core.registry import Option

__all__ = [
    "TYPES",
    "CustomField",
    "FieldDef",
    "clean",
    "definitions",
    "detail_rows",
    "export",
    "export_columns",
    "filter_values",
    "filters",
    "from_form",
    "list_columns",
    "options",
]

TYPES = ("text", "number", "decimal", "date", "choice", "bool")
#: field codes: lower-case identifiers without "__" (that separates filter suffixes)
CODE = re.compile(r"^[a-z](?!.*__)[a-z0-9_]{0,49}$")
TEXT_MAX = 2000
#: numbers stay within what JavaScript and JSON readers hold exactly
INT_LIMIT = 2**53 - 1
DECIMAL_DIGITS = 15  # before the point
DECIMAL_PLACES = 6
FORM_PREFIX = "cf_"
#: hidden input the form macro renders: its presence means the custom inputs were shown
FORM_MARKER = "_cf"
_INT_RE = re.compile(r"^[+-]?\d{1,20}$")
_DEC_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}
_CACHE = "erpkit.fields"


@dataclass(frozen=True)
class CustomField:
    """A field a plugin declares for an entity type (``custom_fields`` hook).

    ``label`` and ``help`` are English and go through the translation catalogs.
    ``type`` is one of text, number (an integer), decimal (exact, stored as a string),
    date, choice, bool. A choice field names an option list in ``choices``
    (``"customers.region"``) or gives the choices inline: a tuple of
    :class:`erpkit.Option`, of ``(code, label_zh, label_en)`` or of plain codes.
    ``max_length`` bounds text; ``min``/``max`` bound number and decimal fields.
    """

    code: str
    label: str
    type: str
    required: bool = False
    choices: str | tuple = ()
    max_length: int | None = None
    min: int | Decimal | str | None = None
    max: int | Decimal | str | None = None
    help: str = ""


@dataclass(frozen=True)
class Choice:
    code: str
    label_zh: str
    label_en: str
    active: bool = True

    def label(self, locale: str) -> str:
        return self.label_zh if locale == "zh_CN" else self.label_en


@dataclass
class FieldDef:
    """A custom field as forms, validation, lists, filters and exports use it."""

    code: str
    type: str
    label_en: str
    #: None for a plugin's field: its English label goes through the catalogs
    label_zh: str | None = None
    required: bool = False
    option_list: str | None = None
    max_length: int | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    help_en: str = ""
    help_zh: str | None = None
    #: the plugin that declared it, or "admin"
    source: str = "admin"
    id: int | None = None
    sort: int = 0
    active: bool = True
    #: every choice, inactive ones too (option list or inline), in order
    choice_rows: list[Choice] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.label_zh is None:
            return _(self.label_en)
        return self.label_zh if i18n.current_locale() == "zh_CN" else self.label_en

    @property
    def help(self) -> str:
        if self.help_zh is None:
            return _(self.help_en) if self.help_en else ""
        return self.help_zh if i18n.current_locale() == "zh_CN" else self.help_en

    @property
    def input_name(self) -> str:
        return FORM_PREFIX + self.code

    @property
    def is_admin(self) -> bool:
        return self.source == "admin"

    def choices(self, keep: Any = None) -> list[tuple[str, str]]:
        """``(code, label)`` of the active choices, plus ``keep`` (the current value)."""
        loc = i18n.current_locale()
        return [
            (c.code, c.label(loc) + ("" if c.active else " " + _("(no longer in use)")))
            for c in self.choice_rows
            if c.active or c.code == keep
        ]

    def all_choices(self) -> list[tuple[str, str]]:
        """``(code, label)`` of every choice, deactivated ones marked (for filters)."""
        loc = i18n.current_locale()
        return [
            (c.code, c.label(loc) + ("" if c.active else " " + _("(no longer in use)")))
            for c in self.choice_rows
        ]

    def display(self, value: Any) -> str:
        """The value as a list or detail page shows it."""
        if value is None or value == "":
            return ""
        if self.type == "bool":
            return _("Yes") if value is True else _("No") if value is False else str(value)
        if self.type == "choice":
            loc = i18n.current_locale()
            for c in self.choice_rows:
                if c.code == value:
                    return c.label(loc)
        return str(value)

    def input_value(self, value: Any) -> str:
        """The value as a form input holds it (stored or as submitted)."""
        if value is None:
            return ""
        if self.type == "bool":
            return "on" if _to_bool(value) else ""
        return str(value)

    def export_value(self, value: Any) -> Any:
        """The value for a spreadsheet cell: int, Decimal, date, or text."""
        if value is None or value == "":
            return None
        try:
            if self.type == "number":
                return int(value)
            if self.type == "decimal":
                return Decimal(str(value))
            if self.type == "date":
                return date.fromisoformat(str(value))
        except (ValueError, InvalidOperation):
            return str(value)
        if self.type in ("bool", "choice"):
            return self.display(value)
        return value


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    return None


# -- definitions ---------------------------------------------------------------------------


def _bound(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise ValueError("a bound must be an int, a Decimal or a decimal string, not a float")
    return Decimal(str(value))


def _inline_choices(spec: Iterable[Any]) -> list[Choice]:
    out = []
    for item in spec:
        if isinstance(item, Option):
            out.append(Choice(item.code, item.label_zh, item.label_en))
        elif isinstance(item, str):
            out.append(Choice(item, item, item))
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            out.append(Choice(str(item[0]), str(item[1]), str(item[2])))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append(Choice(str(item[0]), str(item[1]), str(item[1])))
        else:
            raise ValueError(f"choice {item!r} is not an Option, (code, zh, en) or a code")
    return out


def plugin_fields(erp, entity_type: str) -> list[tuple[str, CustomField]]:
    """``(plugin, CustomField)`` for each field the plugins declare for ``entity_type``."""
    out = []
    for plugin, fields_ in erp.pm.call_each("custom_fields", entity_type=entity_type):
        out.extend((plugin, f) for f in fields_)
    return out


def check_plugin_fields(erp) -> None:
    """Refuse malformed or duplicate plugin fields (at start-up), naming the plugin."""
    for name, et in erp.registry.items("entity type").items():
        seen: dict[str, str] = {}
        for plugin, f in plugin_fields(erp, name):
            where = f"plugin {plugin!r}: custom field {getattr(f, 'code', f)!r} of {name}"
            if not isinstance(f, CustomField):
                raise ValueError(f"plugin {plugin!r}: {f!r} is not a CustomField")
            if not et.custom_field_column:
                raise ValueError(f"{where}: the entity type has no custom_field_column")
            if not CODE.match(f.code):
                raise ValueError(f"{where}: the code must be a lower-case identifier")
            if f.code in seen:
                raise ValueError(f"{where} is also declared by plugin {seen[f.code]!r}")
            seen[f.code] = plugin
            if f.type not in TYPES:
                raise ValueError(f"{where}: type must be one of {', '.join(TYPES)}")
            if f.type == "choice":
                if isinstance(f.choices, str):
                    if f.choices not in erp.registry.option_lists:
                        raise ValueError(f"{where}: unknown option list {f.choices!r}")
                elif not f.choices:
                    raise ValueError(f"{where}: a choice field needs choices")
                else:
                    _inline_choices(f.choices)
            _bound(f.min)
            _bound(f.max)


def definitions(
    erp, session: Session, entity_type: str, *, active_only: bool = False
) -> list[FieldDef]:
    """The custom fields of ``entity_type``: the plugins' first, then the admin's.

    Kept for the session, and across sessions of this app until any process changes
    a field definition or an option list (one counter read per session); otherwise two
    queries (the admin's fields, and every option list they use).
    """
    cache: dict[str, list[FieldDef]] = session.info.setdefault(_CACHE, {})
    defs = cache.get(entity_type)
    if defs is None:
        # shared between sessions of this app while neither the admin's fields nor an
        # option list changed (erpkit.core.generations), unless this session changed them
        own = generations.bumped_here(session, GENERATION) or generations.bumped_here(
            session, options.GENERATION
        )
        shared = _shared(erp)
        gen = None if own else generations.current_in(session, GENERATION, options.GENERATION)
        if gen is not None:
            # the same transaction's option counter: options.load need not read it again
            options.seed_generation(session, gen[1])
        defs = shared.get(entity_type, gen) if gen is not None else None
        if defs is None:
            defs = _resolve(erp, session, entity_type)
            if gen is not None and not (
                generations.bumped_here(session, GENERATION)
                or generations.bumped_here(session, options.GENERATION)
            ):
                shared.put(entity_type, gen, defs)
        cache[entity_type] = defs
    return [d for d in defs if d.active] if active_only else list(defs)


GENERATION = "fields"
generations.watch(GENERATION, changed=(FieldDefinition,), inserted=(FieldDefinition,))


def _shared(erp) -> generations.GenerationCache:
    # per app: plugin fields depend on the enabled plugins
    shared = getattr(erp, "_fields_cache", None)
    if shared is None:
        shared = erp._fields_cache = generations.GenerationCache(1000)
    return shared


def invalidate(session: Session) -> None:
    """Forget the definitions read in this session (after a change)."""
    session.info.pop(_CACHE, None)


def _resolve(erp, session: Session, entity_type: str) -> list[FieldDef]:
    defs: list[FieldDef] = []
    codes: set[str] = set()
    for i, (plugin, f) in enumerate(plugin_fields(erp, entity_type)):
        if f.code in codes:
            continue
        codes.add(f.code)
        defs.append(
            FieldDef(
                code=f.code,
                type=f.type,
                label_en=f.label,
                required=f.required,
                option_list=f.choices if isinstance(f.choices, str) and f.choices else None,
                max_length=f.max_length,
                min=_bound(f.min),
                max=_bound(f.max),
                help_en=f.help,
                source=plugin,
                sort=i,
                choice_rows=[] if isinstance(f.choices, str) else _inline_choices(f.choices or ()),
            )
        )
    rows = session.scalars(
        select(FieldDefinition)
        .where(FieldDefinition.entity_type == entity_type)
        .order_by(FieldDefinition.sort, FieldDefinition.id)
    )
    for row in rows:
        if row.code in codes:  # a plugin declared it since: the plugin's definition wins
            continue
        codes.add(row.code)
        defs.append(
            FieldDef(
                code=row.code,
                type=row.type,
                label_en=row.label_en,
                label_zh=row.label_zh,
                required=row.required,
                option_list=row.option_list,
                max_length=row.max_length,
                min=_bound(row.min_value),
                max=_bound(row.max_value),
                help_en=row.help_en or "",
                help_zh=row.help_zh or "",
                source="admin",
                id=row.id,
                sort=row.sort,
                active=row.active,
                choice_rows=_inline_choices(row.choices or ()),
            )
        )
    lists = {d.option_list for d in defs if d.type == "choice" and d.option_list}
    if lists:
        loaded = options.load(session, lists)
        for d in defs:
            if d.type == "choice" and d.option_list:
                d.choice_rows = [
                    Choice(o.code, o.label_zh, o.label_en, o.active) for o in loaded[d.option_list]
                ]
    return defs


# -- validation -------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _convert(d: FieldDef, value: Any, previous: Any = None) -> Any:
    """``value`` as stored for field ``d``, or :class:`_Invalid`."""
    t = d.type
    if t == "text":
        if not isinstance(value, str):
            raise _Invalid(_("Enter text."))
        text = value.strip()
        limit = min(d.max_length or TEXT_MAX, TEXT_MAX)
        if len(text) > limit:
            raise _Invalid(_("At most %(n)s characters.", n=limit))
        if "\x00" in text:
            raise _Invalid(_("Enter text."))
        return text
    if t == "number":
        if isinstance(value, bool):
            raise _Invalid(_("Enter a whole number."))
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise _Invalid(_("Enter a whole number."))
        if abs(value) > INT_LIMIT:
            raise _Invalid(_("This number is too large."))
        _check_range(d, Decimal(value))
        return value
    if t == "decimal":
        if isinstance(value, (bool, float)):
            raise _Invalid(_('Enter the number as text, e.g. "12.50".'))
        if isinstance(value, int):
            value = Decimal(value)
        elif isinstance(value, str):
            v = value.strip().replace(",", "")
            if not _DEC_RE.match(v):
                raise _Invalid(_("Enter a number, e.g. 12.50."))
            value = Decimal(v)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise _Invalid(_("Enter a number, e.g. 12.50."))
        _sign, digits, exp = value.as_tuple()
        places = max(0, -int(exp))
        if places > DECIMAL_PLACES:
            raise _Invalid(_("At most %(n)s decimal places.", n=DECIMAL_PLACES))
        if len(digits) + int(exp) > DECIMAL_DIGITS:
            raise _Invalid(_("This number is too large."))
        _check_range(d, value)
        return format(value, "f")
    if t == "date":
        if isinstance(value, datetime):
            value = value.date() if value.time() == datetime.min.time() else None
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and _DATE_RE.match(value.strip()):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise _Invalid(_("Enter a date as YYYY-MM-DD."))
    if t == "bool":
        b = _to_bool(value)
        if b is None:
            raise _Invalid(_("Enter yes or no."))
        return b
    if t == "choice":
        if isinstance(value, str):
            value = value.strip()
            for c in d.choice_rows:
                if c.code == value:
                    if not c.active and value != previous:
                        raise _Invalid(_("This option is no longer in use."))
                    return value
        raise _Invalid(_("Choose one of the options."))
    raise _Invalid(_("Unknown field."))


def _check_range(d: FieldDef, value: Decimal) -> None:
    if d.min is not None and value < d.min:
        raise _Invalid(_("At least %(n)s.", n=_fmt(d.min)))
    if d.max is not None and value > d.max:
        raise _Invalid(_("At most %(n)s.", n=_fmt(d.max)))


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def clean(
    erp,
    session: Session,
    entity_type: str,
    data: Any,
    *,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and convert custom field values; return what to store.

    ``data`` maps field codes to values: JSON values, or strings from a form (converted).
    Empty values (None, "") are left out; a required active field must have one.
    Unknown keys are refused, except keys the record already holds with the same
    value (``previous``: the stored values on an update), so that the values of a
    deactivated or withdrawn field are kept. An inactive option is accepted only when
    it is the value the record already holds. Raises :class:`ValidationError` with the
    errors keyed by field code.
    """
    from erpkit.core.entities import entity_type as lookup

    et = lookup(erp, entity_type)
    prev: Mapping[str, Any] = previous or {}
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValidationError({et.custom_field_column or "custom": _("Expected an object.")})
    defs = {d.code: d for d in definitions(erp, session, entity_type)}
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in data.items():
        d = defs.get(key)
        if d is not None and d.active:
            continue
        if _empty(value):
            continue  # clearing a withdrawn field is fine
        if key in prev and prev[key] == value:
            out[key] = value
        elif d is None:
            errors[str(key)] = _("Unknown field.")
        else:
            errors[key] = _("This field is no longer in use.")
    for d in defs.values():
        if not d.active:
            continue
        value = data.get(d.code)
        if _empty(value) and not (d.type == "bool" and value is False):
            if d.required:
                errors[d.code] = _("This field is required.")
            continue
        try:
            out[d.code] = _convert(d, value, prev.get(d.code))
        except _Invalid as exc:
            errors[d.code] = exc.message
    if errors:
        raise ValidationError(errors)
    order = {code: i for i, code in enumerate(defs)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


# -- forms ------------------------------------------------------------------------------------


def from_form(erp, session: Session, entity_type: str, form: Any) -> dict[str, Any] | None:
    """The custom values a submitted form holds, for :func:`clean` (strings as typed).

    ``None`` when the form did not render the custom inputs (no ``_cf`` marker), so
    that a partial form leaves the stored values as they are. An unticked checkbox
    sends nothing: it reads as False.
    """
    if form.get(FORM_MARKER) is None:
        return None
    out: dict[str, Any] = {}
    for d in definitions(erp, session, entity_type, active_only=True):
        raw = form.get(d.input_name)
        if d.type == "bool":
            out[d.code] = _to_bool(raw) is True if raw is not None else False
        else:
            out[d.code] = raw if isinstance(raw, str) else None
    return out


# -- lists, filters, exports --------------------------------------------------------------


def list_columns(erp, session: Session, entity_type: str) -> list[FieldDef]:
    """The fields a list shows as columns: the active ones, in order."""
    return definitions(erp, session, entity_type, active_only=True)


def detail_rows(
    erp, session: Session, entity_type: str, custom: Mapping[str, Any] | None
) -> list[tuple[FieldDef, str]]:
    """``(field, shown value)`` for a detail page: the active fields, and the deactivated
    ones that still hold a value for this record (for the ``custom_details`` macro)."""
    custom = custom or {}
    return [
        (d, d.display(custom.get(d.code)))
        for d in definitions(erp, session, entity_type)
        if d.active or not _empty(custom.get(d.code))
    ]


def _getall(params: Any, key: str) -> list[str]:
    if hasattr(params, "getall"):
        values = params.getall(key, [])
    else:
        value = params.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in values if isinstance(v, str) and v.strip() != ""]


def filter_values(params: Any) -> dict[str, str]:
    """The ``cf_*`` parameters of a request, to fill the filter inputs again."""
    keys = params.keys() if hasattr(params, "keys") else []
    return {k: (_getall(params, k) or [""])[-1] for k in keys if k.startswith(FORM_PREFIX)}


def filters(erp, session: Session, entity_type: str, params: Any) -> list[ColumnElement[bool]]:
    """SQL conditions for the ``cf_<code>`` query parameters, for ``select().where(*...)``.

    - text: contains (case-insensitive); choice: one of the values given
      (``?cf_color=red&cf_color=blue``); number, decimal, date: equal, or a range with
      ``cf_<code>__min`` / ``cf_<code>__max``; bool: ``true`` / ``false`` (no value
      counts as false).

    Works on SQLite (``JSON_EXTRACT``) and PostgreSQL (``->>``). A parameter naming no
    field, or a value of the wrong type, is a :class:`ValidationError` keyed by the
    parameter's name.
    """
    from erpkit.core.entities import entity_type as lookup

    et = lookup(erp, entity_type)
    if not et.custom_field_column:
        return []
    column = getattr(et.model, et.custom_field_column)
    defs = {d.code: d for d in definitions(erp, session, entity_type)}
    conditions: list[ColumnElement[bool]] = []
    errors: dict[str, str] = {}
    keys = list(params.keys()) if hasattr(params, "keys") else []
    for key in keys:
        if not key.startswith(FORM_PREFIX):
            continue
        values = _getall(params, key)
        if not values:
            continue
        code, _sep, op = key[len(FORM_PREFIX) :].partition("__")
        d = defs.get(code)
        if (
            d is None
            or op not in ("", "min", "max")
            or (op and d.type not in ("number", "decimal", "date"))
        ):
            errors[key] = _("Unknown field.")
            continue
        try:
            conditions.append(_condition(d, column[d.code], op, values))
        except _Invalid as exc:
            errors[key] = exc.message
    if errors:
        raise ValidationError(errors)
    return conditions


def _condition(d: FieldDef, element: Any, op: str, values: list[str]) -> ColumnElement[bool]:
    probe = FieldDef(code=d.code, type=d.type, label_en=d.label_en, choice_rows=d.choice_rows)
    if any("\x00" in v for v in values):
        raise _Invalid(_("Enter text."))
    if d.type == "text":
        return func.lower(element.as_string()).contains(values[-1].strip().lower(), autoescape=True)
    if d.type == "choice":
        codes = [v.strip() for v in values]
        known = {c.code for c in d.choice_rows}
        if not set(codes) <= known:
            raise _Invalid(_("Choose one of the options."))
        return element.as_string().in_(codes)
    if d.type == "bool":
        b = _to_bool(values[-1])
        if b is None:
            raise _Invalid(_("Enter yes or no."))
        expr = element.as_boolean()
        return expr == true() if b else or_(expr == false(), expr.is_(None))
    value = _convert(probe, values[-1])
    if d.type == "number":
        expr, bound = element.as_integer(), value
    elif d.type == "decimal":
        expr, bound = cast(element.as_string(), Numeric(30, DECIMAL_PLACES)), Decimal(value)
    else:  # date: ISO strings order as dates do
        expr, bound = element.as_string(), value
    if op == "min":
        return and_(expr.is_not(None), expr >= bound)
    if op == "max":
        return and_(expr.is_not(None), expr <= bound)
    return expr == bound


def export_columns(
    erp, session: Session, entity_type: str
) -> tuple[list[str], Callable[[Mapping[str, Any] | None], list[Any]]]:
    """Headers of the custom columns, and a function giving one record's cells.

    Cells are typed for openpyxl: int, Decimal, date; choices and booleans as their
    labels in the current language. Deactivated fields are exported too (their
    values are still data).
    """
    defs = definitions(erp, session, entity_type)
    headers = [d.label for d in defs]

    def values(custom: Mapping[str, Any] | None) -> list[Any]:
        custom = custom or {}
        return [d.export_value(custom.get(d.code)) for d in defs]

    return headers, values


def export(
    erp, session: Session, entity_type: str, customs: Iterable[Mapping[str, Any] | None]
) -> tuple[list[str], Iterator[list[Any]]]:
    """``(headers, rows)`` of the custom columns for records' custom dicts (streamed)."""
    headers, values = export_columns(erp, session, entity_type)
    return headers, (values(c) for c in customs)
