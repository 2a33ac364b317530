"""JSON API of option lists and custom fields.

Any signed-in user reads option lists (active options, in order, both labels) and
field definitions; changing them needs ``core.manage_options`` /
``core.manage_custom_fields``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Body, QueryParameter

from erpkit.core import i18n
from erpkit.core.errors import PermissionDenied
from erpkit.core.fields import FieldDef, definitions, service
from erpkit.core.fields import options as opts
from erpkit.core.i18n import gettext as _
from erpkit.core.params import PathCode

MANAGE_OPTIONS = "core.manage_options"
MANAGE_FIELDS = "core.manage_custom_fields"

Code50 = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Help = Annotated[str, msgspec.Meta(max_length=200)]
Sort = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Bound = (
    Annotated[str, msgspec.Meta(max_length=40)]
    | Annotated[int, msgspec.Meta(ge=-(2**53 - 1), le=2**53 - 1)]
)
IncludeInactive = Annotated[bool, QueryParameter(description="Include deactivated entries")]


# -- option lists --------------------------------------------------------------------------


class OptionOut(msgspec.Struct):
    code: str
    label_zh: str
    label_en: str
    sort: int
    active: bool


class OptionListOut(msgspec.Struct):
    code: str
    label: str
    plugin: str
    options: list[OptionOut]


class OptionIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code50
    label_zh: Label
    label_en: Label
    active: bool = True


class OptionPatch(msgspec.Struct, forbid_unknown_fields=True):
    label_zh: Label | msgspec.UnsetType = msgspec.UNSET
    label_en: Label | msgspec.UnsetType = msgspec.UNSET
    sort: Sort | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class OptionOrder(msgspec.Struct, forbid_unknown_fields=True):
    codes: Annotated[list[Code50], msgspec.Meta(max_length=1000)]


def _option_out(o) -> OptionOut:
    return OptionOut(
        code=o.code, label_zh=o.label_zh, label_en=o.label_en, sort=o.sort, active=o.active
    )


def _list_out(erp, code: str, rows, include_inactive: bool) -> OptionListOut:
    return OptionListOut(
        code=code,
        label=_(erp.registry.option_lists[code].label),
        plugin=erp.registry.owner("option list", code) or "",
        options=[_option_out(o) for o in rows if include_inactive or o.active],
    )


def _check_inactive(request: Request, include_inactive: bool) -> None:
    if include_inactive and not request.scope["user"].can(MANAGE_OPTIONS):
        raise PermissionDenied(_("Only administrators of option lists see deactivated options."))


class OptionListController(Controller):
    path = "/api/v1/option-lists"
    tags = ["option lists"]

    @get("/", sync_to_thread=True)
    def list_lists(
        self, request: Request, include_inactive: IncludeInactive = False
    ) -> list[OptionListOut]:
        """Every option list of the enabled modules with its active options, in order."""
        _check_inactive(request, include_inactive)
        erp = request.app.state.erp
        codes = sorted(erp.registry.option_lists)
        with erp.sessionmaker.begin() as s:
            loaded = opts.load(s, codes)
            return [_list_out(erp, c, loaded[c], include_inactive) for c in codes]

    @get("/{code:str}", sync_to_thread=True)
    def get_list(
        self, request: Request, code: PathCode, include_inactive: IncludeInactive = False
    ) -> OptionListOut:
        """One option list: its active options in order, with Chinese and English labels."""
        _check_inactive(request, include_inactive)
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        with erp.sessionmaker.begin() as s:
            return _list_out(erp, code, opts.options(s, code), include_inactive)

    @post(
        "/{code:str}/options",
        opt={"permission": MANAGE_OPTIONS},
        sync_to_thread=True,
        status_code=201,
    )
    def add_option(
        self, request: Request, code: PathCode, data: Annotated[OptionIn, Body()]
    ) -> OptionOut:
        """Add an option at the end of a list."""
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        with erp.sessionmaker.begin() as s:
            return _option_out(
                opts.add_option(
                    s, code, data.code, data.label_zh, data.label_en, active=data.active
                )
            )

    @patch(
        "/{code:str}/options/{option:str}", opt={"permission": MANAGE_OPTIONS}, sync_to_thread=True
    )
    def update_option(
        self,
        request: Request,
        code: PathCode,
        option: PathCode,
        data: Annotated[OptionPatch, Body()],
    ) -> OptionOut:
        """Change an option's labels, position or active flag (deactivate: ``active: false``)."""
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        with erp.sessionmaker.begin() as s:
            return _option_out(opts.update_option(s, code, option, **changes))

    @put("/{code:str}/order", opt={"permission": MANAGE_OPTIONS}, sync_to_thread=True)
    def set_order(
        self, request: Request, code: PathCode, data: Annotated[OptionOrder, Body()]
    ) -> OptionListOut:
        """Put the options in the given order (every code of the list, once)."""
        erp = request.app.state.erp
        opts.require_list(code, erp.registry.option_lists)
        with erp.sessionmaker.begin() as s:
            return _list_out(erp, code, opts.reorder(s, code, data.codes), True)


# -- custom fields ----------------------------------------------------------------------------


class ChoiceOut(msgspec.Struct):
    code: str
    label_zh: str
    label_en: str
    active: bool


class FieldOut(msgspec.Struct):
    code: str
    label: str
    label_zh: str
    label_en: str
    type: str
    required: bool
    option_list: str | None
    choices: list[ChoiceOut]
    max_length: int | None
    min: str | None
    max: str | None
    help: str
    #: the module that declared the field, or "admin"
    source: str
    sort: int
    active: bool


class ChoiceIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code50
    label_zh: Label
    label_en: Label


class FieldIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code50
    label_zh: Label
    label_en: Label
    type: Literal["text", "number", "decimal", "date", "choice", "bool"]
    required: bool = False
    option_list: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    choices: Annotated[list[ChoiceIn], msgspec.Meta(max_length=200)] | None = None
    max_length: Annotated[int, msgspec.Meta(ge=1, le=2000)] | None = None
    min: Bound | None = None
    max: Bound | None = None
    help_zh: Help = ""
    help_en: Help = ""
    sort: Sort | None = None
    active: bool = True


class FieldPatch(msgspec.Struct, forbid_unknown_fields=True):
    label_zh: Label | msgspec.UnsetType = msgspec.UNSET
    label_en: Label | msgspec.UnsetType = msgspec.UNSET
    required: bool | msgspec.UnsetType = msgspec.UNSET
    option_list: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    choices: Annotated[list[ChoiceIn], msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    max_length: Annotated[int, msgspec.Meta(ge=1, le=2000)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    min: Bound | msgspec.UnsetType | None = msgspec.UNSET
    max: Bound | msgspec.UnsetType | None = msgspec.UNSET
    help_zh: Help | msgspec.UnsetType = msgspec.UNSET
    help_en: Help | msgspec.UnsetType = msgspec.UNSET
    sort: Sort | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


def _bound_str(value) -> str | None:
    return None if value is None else format(value, "f")


def field_out(erp, d: FieldDef) -> FieldOut:
    if d.label_zh is None:  # a module's field: its English label through the catalogs
        with i18n.using("zh_CN", erp.catalogs):
            label_zh = _(d.label_en)
            help_zh = _(d.help_en) if d.help_en else ""
    else:
        label_zh, help_zh = d.label_zh, d.help_zh or ""
    help_text = help_zh if i18n.current_locale() == "zh_CN" else d.help_en
    return FieldOut(
        code=d.code,
        label=d.label,
        label_zh=label_zh,
        label_en=d.label_en,
        type=d.type,
        required=d.required,
        option_list=d.option_list,
        choices=[ChoiceOut(c.code, c.label_zh, c.label_en, c.active) for c in d.choice_rows],
        max_length=d.max_length,
        min=_bound_str(d.min),
        max=_bound_str(d.max),
        help=help_text,
        source=d.source,
        sort=d.sort,
        active=d.active,
    )


def _values(data: msgspec.Struct) -> dict:
    out = {}
    for key, value in msgspec.structs.asdict(data).items():
        if value is msgspec.UNSET:
            continue
        if key == "choices" and value is not None:
            value = [[c.code, c.label_zh, c.label_en] for c in value]
        out[key] = value
    return out


def _field_by_code(erp, s, entity_type: str, code: str) -> FieldOut:
    for d in definitions(erp, s, entity_type):
        if d.code == code:
            return field_out(erp, d)
    raise AssertionError(code)  # just written in this transaction


class CustomFieldController(Controller):
    path = "/api/v1/custom-fields"
    tags = ["custom fields"]

    @get("/{entity_type:str}", sync_to_thread=True)
    def list_fields(
        self, request: Request, entity_type: PathCode, include_inactive: IncludeInactive = False
    ) -> list[FieldOut]:
        """The custom fields of a kind of record (the modules' first, then the admin's)."""
        erp = request.app.state.erp
        service.require_entity_type(erp, entity_type)
        with erp.sessionmaker.begin() as s:
            return [
                field_out(erp, d)
                for d in definitions(erp, s, entity_type, active_only=not include_inactive)
            ]

    @post(
        "/{entity_type:str}",
        opt={"permission": MANAGE_FIELDS},
        sync_to_thread=True,
        status_code=201,
    )
    def create_field(
        self, request: Request, entity_type: PathCode, data: Annotated[FieldIn, Body()]
    ) -> FieldOut:
        """Define a custom field; its code and type cannot change afterwards."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            row = service.create_field(erp, s, entity_type, _values(data))
            return _field_by_code(erp, s, entity_type, row.code)

    @patch("/{entity_type:str}/{code:str}", opt={"permission": MANAGE_FIELDS}, sync_to_thread=True)
    def update_field(
        self,
        request: Request,
        entity_type: PathCode,
        code: PathCode,
        data: Annotated[FieldPatch, Body()],
    ) -> FieldOut:
        """Change an admin-defined field; ``active: false`` withdraws it, keeping values."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            row = service.get_field(erp, s, entity_type, code)
            service.update_field(erp, s, row, _values(data))
            return _field_by_code(erp, s, entity_type, code)

    @delete(
        "/{entity_type:str}/{code:str}",
        opt={"permission": MANAGE_FIELDS},
        sync_to_thread=True,
        status_code=204,
    )
    def delete_field(self, request: Request, entity_type: PathCode, code: PathCode) -> None:
        """Delete an admin-defined field that no record holds a value for (else 409)."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            service.delete_field(erp, s, service.get_field(erp, s, entity_type, code))


ROUTES = [OptionListController, CustomFieldController]
