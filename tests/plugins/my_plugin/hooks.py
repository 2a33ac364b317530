"""Every hook, implemented once; tests observe each through the app or the CLI."""

from pathlib import Path
from typing import Annotated

import click
import msgspec
from litestar import Request, get, post
from litestar.params import Body
from litestar.response import Template
from sqlalchemy import select

from erpkit import MenuItem, Option, OptionList, Permission, hookimpl
from erpkit.core import entities
from erpkit.core.auth.service import scope_clause
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.web import page

from . import specs
from .models import Expense, Note

HERE = Path(__file__).parent
CALLS: list[str] = []  # startup/shutdown record themselves here


class NoteIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(max_length=200)]


class NoteOut(msgspec.Struct):
    id: int
    title: str
    owner_id: int
    code: str | None = None


@post("/api/v1/my-plugin/notes", opt={"permission": "my_plugin.write"}, sync_to_thread=True)
def create_note(request: Request, data: Annotated[NoteIn, Body()]) -> NoteOut:
    erp = request.app.state.erp
    if not data.title.strip():
        raise ValidationError({"title": _("Enter a title.")})
    prefix = "".join(erp.pm.hook.my_plugin_note_prefix(title=data.title))
    user = request.scope["user"]
    with erp.sessionmaker.begin() as s:
        note = entities.create(
            erp, s, "my_plugin.note", {"title": prefix + data.title, "owner_id": user.id}, user
        )
        return NoteOut(id=note.id, title=note.title, owner_id=note.owner_id, code=note.code)


@get("/api/v1/my-plugin/notes", sync_to_thread=True)
def list_notes(request: Request) -> list[NoteOut]:
    erp = request.app.state.erp
    user = request.scope["user"]
    with erp.sessionmaker.begin() as s:
        rows = s.scalars(select(Note).where(scope_clause(user, Note.owner_id)).order_by(Note.id))
        return [NoteOut(id=n.id, title=n.title, owner_id=n.owner_id, code=n.code) for n in rows]


@get("/my-plugin/notes", include_in_schema=False, sync_to_thread=False)
def notes_page(request: Request) -> Template:
    return page(request, "my_plugin/notes.html")


@hookimpl
def add_hookspecs(plugin_manager):
    plugin_manager.add_hookspecs(specs)


@hookimpl
def my_plugin_note_prefix(title):
    return "[n] "


@hookimpl
def register_models(erp):
    return [Note, Expense]


@hookimpl
def register_migrations(erp):
    return HERE / "migrations"


@hookimpl
def register_routes(erp):
    return [create_note, list_notes, notes_page]


@hookimpl
def register_templates(erp):
    return HERE / "templates"


@hookimpl
def register_translations(erp):
    return HERE / "locales"


@hookimpl
def register_permissions(erp):
    return [Permission("my_plugin.write", "Write notes", default_roles=("salesperson",))]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(id="my_plugin", label="Notes", href="/my-plugin/notes", order=50),
        MenuItem(
            id="my_plugin.new",
            label="New note",
            href="/my-plugin/notes#new",
            parent="my_plugin",
            permission="my_plugin.write",
        ),
    ]


@hookimpl
def register_option_lists(erp):
    return [
        OptionList(
            "my_plugin.color",
            "Note color",
            (
                Option("red", "红色", "Red"),
                Option("blue", "蓝色", "Blue"),
            ),
        )
    ]


@hookimpl
def register_cli_commands(cli):
    @cli.command(name="my-plugin-hello")
    @click.argument("name")
    def hello(name):
        """Say hello (a command added by the test plugin)."""
        click.echo(f"hello {name} from my_plugin")


@hookimpl
def prepare_jinja2_environment(env, erp):
    env.filters["shout"] = lambda s: f"{s.upper()}!"


@hookimpl
def extra_template_vars(template, request, erp):
    return {"my_plugin_template": template}


@hookimpl
def startup(erp):
    CALLS.append("startup")


@hookimpl
def shutdown(erp):
    CALLS.append("shutdown")
