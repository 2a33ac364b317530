"""The test plugin's custom fields: a vendor plugin declaring fields on its notes.

Also a note API and pages that go through :mod:`erpkit.core.entities` with custom
fields (form inputs, list columns, filters), registered with ``specname`` because
``hooks.py`` owns the plain ``register_routes``.
"""

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy import select

from erpkit import hookimpl
from erpkit.core import entities, fields
from erpkit.core.auth.service import scope_clause
from erpkit.core.errors import ValidationError
from erpkit.core.fields import CustomField
from erpkit.core.i18n import gettext as _
from erpkit.core.params import PathId
from erpkit.core.web import form_errors, page_context, submit_form

from .models import Note

NOTE = "my_plugin.note"


@hookimpl
def custom_fields(entity_type):
    if entity_type != NOTE:
        return []
    return [
        CustomField("color", "Color", "choice", choices="my_plugin.color"),
        CustomField("pages", "Page count", "number", min=1, max=10_000),
        CustomField("price", "Price", "decimal", min="0", help="In yuan"),
        CustomField("due", "Due date", "date"),
        CustomField("urgent", "Urgent", "bool"),
        CustomField("size", "Size", "choice", choices=("s", ("m", "中", "Medium"))),
    ]


class NoteFieldsIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    custom: dict[str, Any] | None = None


class NoteFieldsPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    custom: dict[str, Any] | None = None


class NoteFieldsOut(msgspec.Struct):
    id: int
    code: str | None
    title: str
    owner_id: int
    custom: dict[str, Any]


def _check_title(title: str | None) -> None:
    if title is not None and (not title.strip() or "\x00" in title):
        raise ValidationError({"title": _("Enter a title.")})


def _out(n: Note) -> NoteFieldsOut:
    return NoteFieldsOut(
        id=n.id, code=n.code, title=n.title, owner_id=n.owner_id, custom=dict(n.custom or {})
    )


class NotesWithFieldsApi(Controller):
    path = "/api/v1/my-plugin/notes-with-fields"

    @post("/", opt={"permission": "my_plugin.write"}, sync_to_thread=True)
    def create(self, request: Request, data: Annotated[NoteFieldsIn, Body()]) -> NoteFieldsOut:
        erp = request.app.state.erp
        user = request.scope["user"]
        _check_title(data.title)
        with erp.sessionmaker.begin() as s:
            note = entities.create(
                erp,
                s,
                NOTE,
                {"title": data.title, "owner_id": user.id, "custom": data.custom or {}},
                user,
            )
            return _out(note)

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> list[NoteFieldsOut]:
        """Notes the user may see, filtered by ``cf_<code>`` parameters."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            conditions = fields.filters(erp, s, NOTE, request.query_params)
            rows = s.scalars(
                select(Note).where(scope_clause(user, Note.owner_id), *conditions).order_by(Note.id)
            )
            return [_out(n) for n in rows]

    @patch("/{note_id:int}", opt={"permission": "my_plugin.write"}, sync_to_thread=True)
    def change(
        self, request: Request, note_id: PathId, data: Annotated[NoteFieldsPatch, Body()]
    ) -> NoteFieldsOut:
        erp = request.app.state.erp
        user = request.scope["user"]
        et = entities.entity_type(erp, NOTE)
        _check_title(data.title)
        changes = {
            k: v for k, v in (("title", data.title), ("custom", data.custom)) if v is not None
        }
        with erp.sessionmaker.begin() as s:
            note = entities.visible(erp, s, et, note_id, user)
            entities.update(erp, s, NOTE, note, changes, user)
            return _out(note)


LIST_PAGE = """{% extends "base.html" %}
{% from "_fields.html" import custom_headers, custom_cells, custom_filters %}
{% block content %}
<h1 id="notes-with-fields">Notes</h1>
<form method="get" class="row g-2 align-items-end mb-3" id="note-filters">
  {{ custom_filters(defs, params) }}
  <div class="col-auto"><button class="btn btn-sm btn-secondary" type="submit">Filter</button></div>
</form>
<a href="/my-plugin/notes-with-fields/new" id="new-note">New</a>
<table class="table" id="notes"><thead><tr><th>Title</th>{{ custom_headers(defs) }}</tr></thead>
<tbody>{% for n in notes %}<tr data-note-id="{{ n.id }}"><td>{{ n.title }}</td>
{{ custom_cells(defs, n.custom) }}</tr>{% endfor %}</tbody></table>
{% endblock %}"""

FORM_PAGE = """{% extends "base.html" %}
{% from "_macros.html" import field %}
{% from "_fields.html" import custom_inputs %}
{% block content %}
<h1>New note</h1>
<form method="post" novalidate id="note-form">
  <input type="hidden" name="{{ csrf_field }}" value="{{ csrf_token }}">
  {{ field("title", "Title", values.get("title", ""), errors, required=true) }}
  {{ custom_inputs(defs, custom, errors) }}
  <button class="btn btn-primary" type="submit" id="save-note">Save</button>
</form>
{% endblock %}"""


def _render(request: Request, source: str, status_code: int = 200, **context) -> Template:
    return Template(
        template_str=source,
        context=page_context(request, "inline", **context),
        status_code=status_code,
    )


class NotesWithFieldsPages(Controller):
    path = "/my-plugin/notes-with-fields"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker() as s:
            conditions = fields.filters(erp, s, NOTE, request.query_params)
            notes = list(
                s.scalars(
                    select(Note)
                    .where(scope_clause(user, Note.owner_id), *conditions)
                    .order_by(Note.id)
                )
            )
            return _render(
                request,
                LIST_PAGE,
                notes=notes,
                defs=fields.list_columns(erp, s, NOTE),
                params=fields.filter_values(request.query_params),
            )

    @get("/new", sync_to_thread=True)
    def new(self, request: Request) -> Template:
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            return _render(
                request,
                FORM_PAGE,
                values={},
                custom={},
                errors={},
                defs=fields.definitions(erp, s, NOTE, active_only=True),
            )

    @post("/new", opt={"permission": "my_plugin.write"})
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        title = str(form.get("title", ""))

        def action(s):
            _check_title(title)
            custom = fields.from_form(erp, s, NOTE, form)
            return entities.create(
                erp, s, NOTE, {"title": title, "owner_id": user.id, "custom": custom}, user
            )

        def on_error(s, exc):
            return _render(
                request,
                FORM_PAGE,
                status_code=exc.status,
                values={"title": title},
                custom=fields.from_form(erp, s, NOTE, form) or {},
                errors=form_errors(exc, "title"),
                defs=fields.definitions(erp, s, NOTE, active_only=True),
            )

        return await submit_form(request, action, on_error, "/my-plugin/notes-with-fields")


@hookimpl(specname="register_routes")
def register_fields_routes(erp):
    return [NotesWithFieldsApi, NotesWithFieldsPages]
