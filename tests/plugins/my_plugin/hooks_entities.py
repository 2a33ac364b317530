"""Entity types and lifecycle hooks of the test plugin (star-imported by hooks.py)."""

from litestar import Request, get
from litestar.response import Template

from erpkit import hookimpl
from erpkit.core import entities
from erpkit.core.entities import Action, EntityType, Event, Panel, emit
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import N_
from erpkit.core.params import PathId
from erpkit.core.web import detail_extras, page

from .models import Expense, Note

#: what the lifecycle hooks saw, for the tests
SEEN: list[tuple] = []


@hookimpl
def register_entity_types(erp):
    return [
        EntityType(
            "my_plugin.note",
            Note,
            N_("Note"),
            number_field="code",
            number_pattern="NT-{yyyy}-{seq:04}",
            custom_field_column="custom",
            url="/my-plugin/notes/{id}",
        ),
        EntityType(
            "my_plugin.expense",
            Expense,
            N_("Expense"),
            amount_field="amount",
            approval=True,
            url="/my-plugin/expenses/{id}",
        ),
    ]


@hookimpl
def before_entity_create(entity_type, values, user, session):
    if entity_type == "my_plugin.note":
        if "forbidden" in values.get("title", ""):
            raise ValidationError({"title": "This title is not allowed."})
        values["title"] = values["title"].strip()


@hookimpl
def after_entity_create(entity_type, obj, user, session):
    SEEN.append(("created", entity_type, obj.id))
    if entity_type == "my_plugin.note" and obj.title == "emit":
        emit(session, Event("my_plugin.noted", entity_type, obj.id, data={"title": obj.title}))


@hookimpl
def before_entity_update(entity_type, obj, changes, user, session):
    if changes.get("title") == "forbidden":
        raise ValidationError({"title": "This title is not allowed."})


@hookimpl
def after_entity_update(entity_type, obj, changes, user, session):
    SEEN.append(("updated", entity_type, obj.id, tuple(sorted(changes))))


@hookimpl
def before_entity_delete(entity_type, obj, user, session):
    if obj.title.startswith("keep"):
        raise ValidationError({"title": "Notes whose title starts with keep stay."})


@hookimpl
def on_event(event, erp):
    SEEN.append(("event", event.name, event.entity_type, event.entity_id))


@hookimpl
def entity_actions(entity_type, obj, user, request):
    if entity_type == "my_plugin.note":
        return [
            Action(
                id="my_plugin.copy",
                label=N_("Copy note"),
                href=f"/my-plugin/notes/{obj.id}/copy",
                method="post",
            )
        ]
    return []


@hookimpl
def entity_panels(entity_type, obj, user, request):
    if entity_type == "my_plugin.note":
        return [
            Panel(
                id="my_plugin.words",
                title=N_("Words"),
                src=f"/my-plugin/notes/{obj.id}/words",
                order=10,
            )
        ]
    return []


@get("/my-plugin/notes/{note_id:int}", include_in_schema=False, sync_to_thread=True)
def note_page(request: Request, note_id: PathId) -> Template:
    erp = request.app.state.erp
    et = entities.entity_type(erp, "my_plugin.note")
    with erp.sessionmaker() as s:
        note = entities.visible(erp, s, et, note_id, request.scope["user"])
        return page(
            request,
            "my_plugin/note.html",
            note=note,
            extras=detail_extras(request, "my_plugin.note", note),
        )


@get("/my-plugin/notes/{note_id:int}/words", include_in_schema=False, sync_to_thread=True)
def note_words(request: Request, note_id: PathId) -> str:
    erp = request.app.state.erp
    et = entities.entity_type(erp, "my_plugin.note")
    with erp.sessionmaker() as s:
        note = entities.visible(erp, s, et, note_id, request.scope["user"])
        return f"{len(note.title.split())} words"


@hookimpl
def register_routes(erp):
    return [note_page, note_words]
