"""The admin's custom fields: define, change, withdraw and delete them.

A field's code and type are fixed once created (stored values depend on them); its
labels, help, required flag, choices, bounds, position and active flag can change.
Deactivating a field hides it from forms, lists and filters of new data but keeps
every stored value; a field can be deleted only while no record holds a value for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from erpkit.core import entities
from erpkit.core.errors import Conflict, NotFound, ValidationError
from erpkit.core.fields import (
    CODE,
    TEXT_MAX,
    TYPES,
    FieldDef,
    _convert,
    _Invalid,
    definitions,
    invalidate,
    plugin_fields,
)
from erpkit.core.fields import options as options_service
from erpkit.core.fields.models import FieldDefinition
from erpkit.core.i18n import gettext as _

LABEL_MAX = 100
HELP_MAX = 200
CHOICES_MAX = 200


def entity_types(erp) -> list[entities.EntityType]:
    """The registered entity types that carry custom fields, by name."""
    return sorted(
        (et for et in erp.registry.items("entity type").values() if et.custom_field_column),
        key=lambda et: et.name,
    )


def require_entity_type(erp, name: str) -> entities.EntityType:
    et = erp.registry.items("entity type").get(name)
    if et is None or not et.custom_field_column:
        raise NotFound(_("No such kind of record."))
    return et


def get_field(erp, session: Session, entity_type: str, code: str) -> FieldDefinition:
    """The admin's field ``code`` of ``entity_type``; a plugin's field is not editable."""
    require_entity_type(erp, entity_type)
    if not CODE.match(code):
        raise NotFound(_("No such field."))
    if any(f.code == code for _p, f in plugin_fields(erp, entity_type)):
        raise Conflict(_("This field is defined by a module and cannot be changed here."))
    row = session.scalar(
        select(FieldDefinition).where(
            FieldDefinition.entity_type == entity_type, FieldDefinition.code == code
        )
    )
    if row is None:
        raise NotFound(_("No such field."))
    return row


def get_field_by_id(erp, session: Session, entity_type: str, field_id: int) -> FieldDefinition:
    require_entity_type(erp, entity_type)
    row = session.get(FieldDefinition, field_id)
    if row is None or row.entity_type != entity_type:
        raise NotFound(_("No such field."))
    return row


def parse_choices(value: Any) -> list[list[str]] | None:
    """Inline choices from a list (``[code, zh, en]`` / ``{"code", "label_zh", "label_en"}``)
    or from text, one per line: ``code | 中文 | English`` (or ``code | label``)."""
    if value is None or value == "" or value == []:
        return None
    items: list[Any]
    if isinstance(value, str):
        items = [
            [part.strip() for part in line.split("|")]
            for line in value.splitlines()
            if line.strip()
        ]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValidationError({"choices": _("One choice per line: code | 中文 | English.")})
    out: list[list[str]] = []
    seen = set()
    for item in items:
        if isinstance(item, Mapping):
            item = [item.get("code"), item.get("label_zh"), item.get("label_en")]
        if isinstance(item, str):
            item = [item]
        if not isinstance(item, (list, tuple)) or not 1 <= len(item) <= 3:
            raise ValidationError({"choices": _("One choice per line: code | 中文 | English.")})
        parts = [p.strip() if isinstance(p, str) else "" for p in item]
        code = parts[0]
        zh = parts[1] if len(parts) > 1 and parts[1] else code
        en = parts[2] if len(parts) > 2 and parts[2] else (parts[1] if len(parts) > 1 else code)
        en = en or code
        if not options_service.OPTION_CODE.match(code):
            raise ValidationError(
                {"choices": _("%(code)s is not a valid code.", code=code or "''")}
            )
        if code in seen:
            raise ValidationError({"choices": _("%(code)s appears twice.", code=code)})
        if "\x00" in zh + en:
            raise ValidationError({"choices": _("Enter text.")})
        if len(zh) > LABEL_MAX or len(en) > LABEL_MAX:
            raise ValidationError({"choices": _("At most %(n)s characters.", n=LABEL_MAX)})
        seen.add(code)
        out.append([code, zh, en])
    if len(out) > CHOICES_MAX:
        raise ValidationError({"choices": _("At most %(n)s choices.", n=CHOICES_MAX)})
    return out or None


def _text(errors, key, value, limit, required=False) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if "\x00" in text:
        errors[key] = _("Enter text.")
    elif required and not text:
        errors[key] = _("Enter a label.")
    elif len(text) > limit:
        errors[key] = _("At most %(n)s characters.", n=limit)
    return text


def _apply(erp, session: Session, row: FieldDefinition, values: Mapping[str, Any]) -> None:
    """Check ``values`` (the changeable attributes) and set them on ``row``."""
    errors: dict[str, str] = {}
    if "label_zh" in values:
        row.label_zh = _text(errors, "label_zh", values["label_zh"], LABEL_MAX, required=True)
    if "label_en" in values:
        row.label_en = _text(errors, "label_en", values["label_en"], LABEL_MAX, required=True)
    for key in ("help_zh", "help_en"):
        if key in values:
            setattr(row, key, _text(errors, key, values[key] or "", HELP_MAX))
    if "required" in values:
        row.required = bool(values["required"])
    if "active" in values:
        row.active = bool(values["active"])
    if values.get("sort") not in (None, ""):
        try:
            row.sort = int(values["sort"])
        except (TypeError, ValueError):
            errors["sort"] = _("Enter a whole number.")
    t = row.type
    if t == "choice":
        # setting one of option list / inline choices replaces the other
        changing = "option_list" in values or "choices" in values
        option_list = (values.get("option_list") if changing else row.option_list) or None
        try:
            choices = parse_choices(values.get("choices") if changing else row.choices)
        except ValidationError as exc:
            errors.update(exc.errors)
            choices = None
        if option_list and choices:
            errors["option_list"] = _("Choose an option list or enter choices, not both.")
        elif option_list:
            if option_list not in erp.registry.option_lists:
                errors["option_list"] = _("No such option list.")
        elif not choices and "choices" not in errors:
            errors["option_list"] = _("Choose an option list or enter choices.")
        row.option_list, row.choices = option_list, None if option_list else choices
    else:
        if values.get("option_list") or parse_choices(values.get("choices")):
            errors["option_list"] = _("Only choice fields have options.")
        row.option_list, row.choices = None, None
    if "max_length" in values:
        ml = values["max_length"]
        if ml in (None, ""):
            row.max_length = None
        elif t != "text":
            errors["max_length"] = _("Only text fields have a maximum length.")
        else:
            try:
                n = int(ml)
            except (TypeError, ValueError):
                n = 0
            if isinstance(ml, bool) or not 1 <= n <= TEXT_MAX:
                errors["max_length"] = _("Enter a whole number from 1 to %(n)s.", n=TEXT_MAX)
            else:
                row.max_length = n
    bounds = {}
    for key, attr in (("min", "min_value"), ("max", "max_value")):
        if key not in values:
            bounds[key] = getattr(row, attr)
            continue
        raw = values[key]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            setattr(row, attr, None)
            bounds[key] = None
        elif t not in ("number", "decimal"):
            errors[key] = _("Only number and decimal fields have bounds.")
        else:
            probe = FieldDef(code=row.code, type=t, label_en="")
            try:
                converted = _convert(probe, raw)
            except _Invalid as exc:
                errors[key] = exc.message
                continue
            setattr(row, attr, str(converted))
            bounds[key] = str(converted)
    if (
        "min" not in errors
        and "max" not in errors
        and bounds.get("min") is not None
        and bounds.get("max") is not None
        and Decimal(bounds["min"]) > Decimal(bounds["max"])
    ):
        errors["max"] = _("The maximum is below the minimum.")
    if errors:
        raise ValidationError(errors)


def create_field(erp, session: Session, entity_type: str, values: Mapping[str, Any]):
    """Define a new custom field for ``entity_type`` (code and type fixed from now on)."""
    require_entity_type(erp, entity_type)
    errors: dict[str, str] = {}
    code = values.get("code")
    code = code.strip() if isinstance(code, str) else ""
    if not CODE.match(code):
        errors["code"] = _(
            "Use lower-case letters, digits and single '_', starting with a letter (at most 50)."
        )
    elif any(d.code == code for d in definitions(erp, session, entity_type)) or session.scalar(
        select(FieldDefinition.id).where(
            FieldDefinition.entity_type == entity_type, FieldDefinition.code == code
        )
    ):
        errors["code"] = _("This kind of record already has a field with this code.")
    t = values.get("type")
    if t not in TYPES:
        errors["type"] = _("Choose a type.")
    last = session.scalar(
        select(func.max(FieldDefinition.sort)).where(FieldDefinition.entity_type == entity_type)
    )
    row = FieldDefinition(
        entity_type=entity_type,
        code=code,
        type=t if t in TYPES else "text",
        label_zh="",
        label_en="",
        required=False,
        help_zh="",
        help_en="",
        sort=(last or 0) + 10,
        active=True,
    )
    try:
        _apply(erp, session, row, {"label_zh": "", "label_en": "", **values})
    except ValidationError as exc:
        errors = {**exc.errors, **errors}
    if errors:
        raise ValidationError(errors)
    session.add(row)
    session.flush()
    invalidate(session)
    return row


def update_field(erp, session: Session, row: FieldDefinition, values: Mapping[str, Any]):
    """Change a field's labels, help, required flag, choices, bounds, position or state."""
    fixed = {k for k in ("code", "type", "entity_type") if k in values}
    for key in fixed:
        if values[key] != getattr(row, key):
            raise ValidationError({key: _("This cannot be changed once the field exists.")})
    _apply(erp, session, row, {k: v for k, v in values.items() if k not in fixed})
    session.flush()
    invalidate(session)
    return row


def values_in_use(erp, session: Session, row: FieldDefinition) -> int:
    """How many records hold a value for the field."""
    et = require_entity_type(erp, row.entity_type)
    column = getattr(et.model, et.custom_field_column)
    return (
        session.scalar(
            select(func.count())
            .select_from(et.model)
            .where(column[row.code].as_string().is_not(None))
        )
        or 0
    )


def delete_field(erp, session: Session, row: FieldDefinition) -> None:
    """Delete a field no record uses; otherwise deactivate it instead (409)."""
    used = values_in_use(erp, session, row)
    if used:
        raise Conflict(
            _(
                "%(n)s records hold a value for this field: deactivate it instead.",
                n=used,
            )
        )
    session.delete(row)
    session.flush()
    invalidate(session)
