"""Admin pages: option lists (Administration → Option lists) and custom fields.

Thin: each handler reads the form, calls :mod:`erpkit.core.fields.options` or
:mod:`erpkit.core.fields.service`, and shows the form again with the field errors
when the service refuses.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy import func, select

from erpkit.core.fields import TYPES, definitions, service
from erpkit.core.fields import options as opts
from erpkit.core.fields.api import MANAGE_FIELDS, MANAGE_OPTIONS
from erpkit.core.fields.models import FieldDefinition
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import PathCode, PathId
from erpkit.core.web import form_errors, page, submit_form

TYPE_LABELS = {
    "text": N_("Text"),
    "number": N_("Whole number"),
    "decimal": N_("Decimal number"),
    "date": N_("Date"),
    "choice": N_("Choice"),
    "bool": N_("Yes / no"),
}


# -- option lists -------------------------------------------------------------------------------


class OptionListAdmin(Controller):
    path = "/admin/option-lists"
    opt = {"permission": MANAGE_OPTIONS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        erp = request.app.state.erp
        registered = erp.registry.option_lists
        codes = sorted(registered)
        with erp.sessionmaker() as s:
            loaded = opts.load(s, codes)
            rows = [
                {
                    "code": c,
                    "label": _(registered[c].label),
                    "plugin": erp.registry.owner("option list", c) or "",
                    "active": [o for o in loaded[c] if o.active],
                    "inactive": sum(1 for o in loaded[c] if not o.active),
                }
                for c in codes
            ]
        return page(request, "fields/option_lists.html", rows=rows)

    def _list_page(
        self, request, s, code, *, values=None, errors=None, edit=None, status_code=200
    ) -> Template:
        erp = request.app.state.erp
        return page(
            request,
            "fields/option_list.html",
            status_code=status_code,
            code=code,
            label=_(erp.registry.option_lists[code].label),
            plugin=erp.registry.owner("option list", code) or "",
            options=opts.options(s, code),
            values=values or {},
            errors=errors or {},
            edit=edit,
        )

    @get("/{code:str}", sync_to_thread=True)
    def edit(self, request: Request, code: PathCode) -> Template:
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        with erp.sessionmaker() as s:
            return self._list_page(request, s, code)

    @post("/{code:str}")
    async def add(self, request: Request, code: PathCode) -> Template | Redirect:
        """Add an option at the end of the list."""
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("code", "label_zh", "label_en")}
        return await submit_form(
            request,
            lambda s: opts.add_option(s, code, **values),
            lambda s, exc: self._list_page(
                request,
                s,
                code,
                values=values,
                errors=form_errors(exc, "code"),
                status_code=exc.status,
            ),
            f"/admin/option-lists/{code}",
        )

    @post("/{code:str}/{option:str}")
    async def save(self, request: Request, code: PathCode, option: PathCode) -> Template | Redirect:
        """Change an option's labels and whether it can still be chosen."""
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        form = await request.form()
        changes = {
            "label_zh": str(form.get("label_zh", "")),
            "label_en": str(form.get("label_en", "")),
            "active": form.get("active") == "on",
        }
        return await submit_form(
            request,
            lambda s: opts.update_option(s, code, option, **changes),
            lambda s, exc: self._list_page(
                request,
                s,
                code,
                values=changes,
                errors=form_errors(exc, "label_zh"),
                edit=option,
                status_code=exc.status,
            ),
            f"/admin/option-lists/{code}",
        )

    @post("/{code:str}/{option:str}/move")
    async def move(self, request: Request, code: PathCode, option: PathCode) -> Template | Redirect:
        """Move an option one place up or down."""
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        form = await request.form()
        direction = str(form.get("direction", ""))
        return await submit_form(
            request,
            lambda s: opts.move(s, code, option, direction),
            lambda s, exc: self._list_page(
                request,
                s,
                code,
                errors=form_errors(exc, "direction"),
                edit=option,
                status_code=exc.status,
            ),
            f"/admin/option-lists/{code}#opt-{option}",
        )


# -- custom fields ------------------------------------------------------------------------------


def _field_values(form) -> dict[str, Any]:
    keys = (
        "code",
        "type",
        "label_zh",
        "label_en",
        "option_list",
        "choices",
        "max_length",
        "min",
        "max",
        "help_zh",
        "help_en",
        "sort",
    )
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in keys}
    values["required"] = form.get("required") == "on"
    values["active"] = form.get("active") == "on" if "active_shown" in form else True
    return values


def _row_values(row: FieldDefinition) -> dict[str, Any]:
    return {
        "label_zh": row.label_zh,
        "label_en": row.label_en,
        "required": row.required,
        "option_list": row.option_list or "",
        "choices": "\n".join(" | ".join(c) for c in row.choices or []),
        "max_length": row.max_length or "",
        "min": row.min_value or "",
        "max": row.max_value or "",
        "help_zh": row.help_zh,
        "help_en": row.help_en,
        "sort": row.sort,
        "active": row.active,
    }


def _type_choices() -> list[tuple[str, str]]:
    return [(t, _(TYPE_LABELS[t])) for t in TYPES]


def _list_choices(erp) -> list[tuple[str, str]]:
    return [
        (code, f"{_(ol.label)} ({code})") for code, ol in sorted(erp.registry.option_lists.items())
    ]


class CustomFieldAdmin(Controller):
    path = "/admin/custom-fields"
    opt = {"permission": MANAGE_FIELDS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        erp = request.app.state.erp
        types = service.entity_types(erp)
        with erp.sessionmaker() as s:
            counts = dict(
                s.execute(
                    select(FieldDefinition.entity_type, func.count())
                    .where(FieldDefinition.active)
                    .group_by(FieldDefinition.entity_type)
                ).all()
            )
        rows = [
            {
                "name": et.name,
                "label": _(et.label),
                "plugin": erp.registry.owner("entity type", et.name) or "",
                "module_fields": len(service.plugin_fields(erp, et.name)),
                "admin_fields": counts.get(et.name, 0),
            }
            for et in types
        ]
        return page(request, "fields/entity_types.html", rows=rows)

    def _fields_page(
        self, request, s, entity_type, *, values=None, errors=None, status_code=200
    ) -> Template:
        erp = request.app.state.erp
        et = service.require_entity_type(erp, entity_type)
        return page(
            request,
            "fields/fields.html",
            status_code=status_code,
            et=et,
            et_label=_(et.label),
            defs=definitions(erp, s, entity_type),
            type_labels={t: _(label) for t, label in TYPE_LABELS.items()},
            types=_type_choices(),
            lists=_list_choices(erp),
            values=values or {"type": "text"},
            errors=errors or {},
        )

    @get("/{entity_type:str}", sync_to_thread=True)
    def fields(self, request: Request, entity_type: PathCode) -> Template:
        with request.app.state.erp.sessionmaker() as s:
            return self._fields_page(request, s, entity_type)

    @post("/{entity_type:str}")
    async def create(self, request: Request, entity_type: PathCode) -> Template | Redirect:
        """Define a new field."""
        erp = request.app.state.erp
        service.require_entity_type(erp, entity_type)
        values = _field_values(await request.form())
        return await submit_form(
            request,
            lambda s: service.create_field(erp, s, entity_type, values),
            lambda s, exc: self._fields_page(
                request,
                s,
                entity_type,
                values=values,
                errors=form_errors(exc, "code"),
                status_code=exc.status,
            ),
            f"/admin/custom-fields/{entity_type}",
        )

    def _form_page(self, request, row, *, values, errors, in_use=0, status_code=200):
        erp = request.app.state.erp
        et = service.require_entity_type(erp, row.entity_type)
        return page(
            request,
            "fields/field_form.html",
            status_code=status_code,
            et=et,
            et_label=_(et.label),
            row=row,
            type_label=_(TYPE_LABELS.get(row.type, row.type)),
            lists=_list_choices(erp),
            values=values,
            errors=errors,
            in_use=in_use,
        )

    @get("/{entity_type:str}/{field_id:int}", sync_to_thread=True)
    def edit(self, request: Request, entity_type: PathCode, field_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            row = service.get_field_by_id(erp, s, entity_type, field_id)
            return self._form_page(
                request,
                row,
                values=_row_values(row),
                errors={},
                in_use=service.values_in_use(erp, s, row),
            )

    @post("/{entity_type:str}/{field_id:int}")
    async def update(
        self, request: Request, entity_type: PathCode, field_id: PathId
    ) -> Template | Redirect:
        """Save a field's changes (its code and type stay)."""
        erp = request.app.state.erp
        values = _field_values(await request.form())
        values.pop("code", None)
        values.pop("type", None)

        def on_error(s, exc):
            row = service.get_field_by_id(erp, s, entity_type, field_id)
            return self._form_page(
                request,
                row,
                values=values,
                errors=form_errors(exc, "label_zh"),
                status_code=exc.status,
            )

        return await submit_form(
            request,
            lambda s: service.update_field(
                erp, s, service.get_field_by_id(erp, s, entity_type, field_id), values
            ),
            on_error,
            f"/admin/custom-fields/{entity_type}",
        )

    @post("/{entity_type:str}/{field_id:int}/delete")
    async def remove(
        self, request: Request, entity_type: PathCode, field_id: PathId
    ) -> Template | Redirect:
        """Delete a field no record uses."""
        erp = request.app.state.erp

        def on_error(s, exc):
            row = service.get_field_by_id(erp, s, entity_type, field_id)
            return self._form_page(
                request,
                row,
                values=_row_values(row),
                errors={"delete": exc.detail},
                in_use=service.values_in_use(erp, s, row),
                status_code=exc.status,
            )

        def work(s):
            service.delete_field(erp, s, service.get_field_by_id(erp, s, entity_type, field_id))

        return await submit_form(request, work, on_error, f"/admin/custom-fields/{entity_type}")


ROUTES = [OptionListAdmin, CustomFieldAdmin]
