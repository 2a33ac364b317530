"""Import: the JSON API and the wizard (upload -> mapping -> preview -> run -> result)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy import select

from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.importing import MODES, ImportSchema, service
from erpkit.core.importing import convert as cv
from erpkit.core.jobs.models import Job
from erpkit.core.jobs.routes import STATUS_LABELS
from erpkit.core.params import PathCode, PathId
from erpkit.core.web import in_thread, page

Mode = Literal["all_or_nothing", "valid_rows"]
MappingText = Annotated[str, msgspec.Meta(max_length=20_000)]


class ImportForm(msgspec.Struct, forbid_unknown_fields=True):
    """``file``: the .xlsx or CSV; ``mode``: all_or_nothing (default) or valid_rows;
    ``mapping``: optional JSON object {"header in the file": "column key" or null}."""

    file: UploadFile
    mode: Mode = "all_or_nothing"
    mapping: MappingText | None = None


class PreviewForm(msgspec.Struct, forbid_unknown_fields=True):
    file: UploadFile
    mapping: MappingText | None = None


class Started(msgspec.Struct):
    job_id: int
    status_url: str


def start_from_form(request: Request, schema: str, data: ImportForm) -> Started:
    """Save the uploaded file and start importing it with ``schema`` as a background job,
    as the user of ``request`` (their permissions decide; 422 for a bad file, header row
    or mapping). A module's own import route (``POST /api/v1/customers/import``) is this
    one call with its schema."""
    erp = request.app.state.erp
    user = request.scope["user"]
    sch = service.get_schema(erp, schema, user)
    by_header = service.parse_mapping(data.mapping)
    with erp.sessionmaker.begin() as s:
        upload = service.save_upload(erp, s, sch, data.file.file, data.file.filename, user.id)
        job_id = service.start_import(erp, s, sch, upload, data.mode, user, by_header=by_header)
    return Started(job_id=job_id, status_url=f"/api/v1/jobs/{job_id}")


class ColumnOut(msgspec.Struct):
    key: str
    label: str
    label_zh: str
    type: str
    required: bool
    aliases: list[str]


class SchemaOut(msgspec.Struct):
    name: str
    label: str
    description: str
    columns: list[ColumnOut]
    template_url: str


class PreviewRow(msgspec.Struct):
    row: int
    values: dict[str, str]
    errors: dict[str, str]


class PreviewOut(msgspec.Struct):
    schema: str
    header_row: int
    headers: list[str]
    #: the column key each header of the file goes to (null: not imported)
    mapping: dict[str, str | None]
    unmatched: list[str]
    missing_required: list[str]
    rows: list[PreviewRow]
    rows_estimate: int | None


def schema_out(erp, schema: ImportSchema) -> SchemaOut:
    return SchemaOut(
        name=schema.name,
        label=_(schema.label),
        description=_(schema.description) if schema.description else "",
        columns=[
            ColumnOut(
                key=c.key,
                label=cv.label(erp, c),
                label_zh=cv.zh_label(erp, c),
                type=c.type,
                required=c.required,
                aliases=list(c.aliases),
            )
            for c in schema.columns
        ],
        template_url=f"/api/v1/imports/{schema.name}/template.xlsx",
    )


def _preview_out(erp, schema, meta, plan, user) -> PreviewOut:
    mapping: dict[str, str | None] = {}
    for header, target in zip(plan.headers, plan.targets, strict=False):
        if header and header not in mapping:
            mapping[header] = target
    rows = service.preview(erp, schema, meta, plan, user=user)
    return PreviewOut(
        schema=schema.name,
        header_row=plan.header_row,
        headers=plan.headers,
        mapping=mapping,
        unmatched=plan.unmatched,
        missing_required=plan.missing,
        rows=[PreviewRow(row=r["row"], values=r["values"], errors=r["errors"]) for r in rows],
        rows_estimate=meta["info"].get("rows_estimate"),
    )


def _template_response(erp, schema: ImportSchema) -> Response[bytes]:
    from urllib.parse import quote

    name = f"{schema.name}-template.xlsx"
    zh_name = f"{_(schema.label)}-导入模板.xlsx"
    return Response(
        content=service.template_xlsx(erp, schema),
        media_type=service.XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"; '
            f"filename*=UTF-8''{quote(zh_name)}"
        },
    )


class ImportApi(Controller):
    path = "/api/v1/imports"
    tags = ["import"]

    @get("/", sync_to_thread=True)
    def list_schemas(self, request: Request) -> list[SchemaOut]:
        """The imports you may run, with their columns."""
        erp = request.app.state.erp
        return [schema_out(erp, s) for s in service.schemas_for(erp, request.scope["user"])]

    @post(
        "/{schema:str}",
        sync_to_thread=True,
        status_code=202,
        summary="Start an import",
    )
    def start(
        self,
        request: Request,
        schema: PathCode,
        data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Started:
        """Upload an .xlsx or CSV file and import it as a background job. The file,
        the header row and the mapping are checked at once (422 with the reason); the
        rows are checked by the job: follow ``status_url`` (GET /api/v1/jobs/{id})."""
        return start_from_form(request, schema, data)

    @post("/{schema:str}/preview", sync_to_thread=True, status_code=200)
    def preview(
        self,
        request: Request,
        schema: PathCode,
        data: Annotated[PreviewForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> PreviewOut:
        """How the file's columns map, and its first rows converted with their errors
        (nothing is stored)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        sch = service.get_schema(erp, schema, user)
        by_header = service.parse_mapping(data.mapping)
        path, meta = service.read_upload(
            erp, sch, data.file.file, service.clean_name(data.file.filename)
        )
        path.unlink(missing_ok=True)
        plan = service.make_plan(erp, sch, meta, by_header=by_header)
        return _preview_out(erp, sch, meta, plan, user)

    @get("/{schema:str}/template.xlsx", sync_to_thread=True, media_type=service.XLSX)
    def template(self, request: Request, schema: PathCode) -> Response[bytes]:
        """An empty workbook with the import's headers in Chinese and English."""
        erp = request.app.state.erp
        return _template_response(erp, service.get_schema(erp, schema, request.scope["user"]))


# -- the wizard ------------------------------------------------------------------------------------


def _columns(erp, schema: ImportSchema) -> list[dict[str, Any]]:
    return [
        {
            "key": c.key,
            "label": cv.label(erp, c),
            "zh": cv.zh_label(erp, c),
            "en": c.label,
            "type": _(service.TYPE_LABELS[c.type]),
            "required": c.required,
        }
        for c in schema.columns
    ]


def _plan_context(erp, schema, meta, plan, user) -> dict[str, Any]:
    rows = service.preview(erp, schema, meta, plan, user=user)
    columns = [c for c in _columns(erp, schema) if c["key"] in plan.targets]
    bad = sum(1 for r in rows if r["errors"])
    return {
        "plan": plan,
        "preview_rows": rows,
        "preview_columns": columns,
        "bad_rows": bad,
        "missing_labels": [cv.label(erp, schema.column(k)) for k in plan.missing],
    }


def _recent_imports(erp, user) -> list[dict[str, Any]]:
    from erpkit.core.jobs.routes import job_label

    with erp.sessionmaker() as s:
        jobs = s.scalars(
            select(Job)
            .where(Job.kind == service.JOB_KIND, Job.created_by == user.id)
            .order_by(Job.id.desc())
            .limit(10)
        ).all()
        return [
            {
                "id": j.id,
                "label": job_label(erp, j.kind),
                "name": (j.params or {}).get("name", ""),
                "schema": _(service.all_schemas(erp)[j.params["schema"]].label)
                if (j.params or {}).get("schema") in service.all_schemas(erp)
                else (j.params or {}).get("schema", ""),
                "status": j.status,
                "status_label": _(STATUS_LABELS.get(j.status, j.status)),
                "result": j.result if isinstance(j.result, dict) else {},
                "created_at": j.created_at,
            }
            for j in jobs
        ]


class ImportPages(Controller):
    path = "/import"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        schemas = [
            {
                "name": s.name,
                "label": _(s.label),
                "description": _(s.description) if s.description else "",
                "columns": len(s.columns),
            }
            for s in service.schemas_for(erp, user)
        ]
        return page(
            request, "importing/index.html", schemas=schemas, recent=_recent_imports(erp, user)
        )

    def _upload_page(
        self, request: Request, schema: ImportSchema, errors=None, status_code: int = 200
    ) -> Template:
        erp = request.app.state.erp
        return page(
            request,
            "importing/upload.html",
            status_code=status_code,
            schema=schema,
            schema_label=_(schema.label),
            columns=_columns(erp, schema),
            errors=errors or {},
            max_mb=service.limits(erp).max_bytes // (1024 * 1024),
        )

    @get("/{schema:str}", sync_to_thread=True)
    def upload_page(self, request: Request, schema: PathCode) -> Template:
        erp = request.app.state.erp
        return self._upload_page(request, service.get_schema(erp, schema, request.scope["user"]))

    @post("/{schema:str}")
    async def upload(self, request: Request, schema: PathCode) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        sch = service.get_schema(erp, schema, user)
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return self._upload_page(request, sch, {"file": _("Choose a file.")}, 422)

        def work() -> int:
            with erp.sessionmaker.begin() as s:
                return service.save_upload(erp, s, sch, upload.file, upload.filename, user.id).id

        try:
            file_id = await in_thread(erp, work)
        except ValidationError as exc:
            return self._upload_page(request, sch, exc.errors or {"file": exc.detail}, 422)
        return Redirect(f"/import/{sch.name}/{file_id}", status_code=303)

    def _mapping_page(
        self,
        request: Request,
        sch: ImportSchema,
        file_id: int,
        by_index=None,
        mode: str = "all_or_nothing",
        errors=None,
        status_code: int = 200,
    ) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker() as s:
            upload = service.get_upload(s, file_id, user, sch)
            meta, name, size = dict(upload.meta), upload.name, upload.size
        errors = dict(errors or {})
        try:
            plan = service.make_plan(erp, sch, meta, by_index=by_index)
        except ValidationError as exc:
            errors.update(exc.errors)
            plan = service.make_plan(erp, sch, meta)
        return page(
            request,
            "importing/mapping.html",
            status_code=status_code,
            schema=sch,
            schema_label=_(sch.label),
            file_id=file_id,
            file_name=name,
            file_size=f"{size / 1024:,.0f} KB",
            rows_estimate=meta["info"].get("rows_estimate"),
            columns=_columns(erp, sch),
            mode=mode,
            modes=[(m, _(service.MODE_LABELS[m])) for m in MODES],
            errors=errors,
            **_plan_context(erp, sch, meta, plan, user),
        )

    @get("/{schema:str}/{file_id:int}", sync_to_thread=True)
    def mapping_page(self, request: Request, schema: PathCode, file_id: PathId) -> Template:
        erp = request.app.state.erp
        sch = service.get_schema(erp, schema, request.scope["user"])
        return self._mapping_page(request, sch, file_id)

    @post("/{schema:str}/{file_id:int}/preview")
    async def preview_partial(
        self, request: Request, schema: PathCode, file_id: PathId
    ) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        sch = service.get_schema(erp, schema, user)
        by_index = _form_mapping(await request.form())

        def work():
            with erp.sessionmaker() as s:
                meta = dict(service.get_upload(s, file_id, user, sch).meta)
            errors = {}
            try:
                plan = service.make_plan(erp, sch, meta, by_index=by_index)
            except ValidationError as exc:
                errors = exc.errors
                plan = service.make_plan(erp, sch, meta)
            return page(
                request,
                "importing/_plan.html",
                schema=sch,
                file_id=file_id,
                errors=errors,
                **_plan_context(erp, sch, meta, plan, user),
            )

        return await in_thread(erp, work)

    @post("/{schema:str}/{file_id:int}")
    async def run(self, request: Request, schema: PathCode, file_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        sch = service.get_schema(erp, schema, user)
        form = await request.form()
        by_index = _form_mapping(form)
        mode = str(form.get("mode", "all_or_nothing"))

        def work() -> int:
            with erp.sessionmaker.begin() as s:
                upload = service.get_upload(s, file_id, user, sch)
                return service.start_import(erp, s, sch, upload, mode, user, by_index=by_index)

        try:
            job_id = await in_thread(erp, work)
        except ValidationError as exc:
            errors = exc.errors or {"file": exc.detail}
            return await in_thread(
                erp, lambda: self._mapping_page(request, sch, file_id, by_index, mode, errors, 422)
            )
        return Redirect(f"/jobs/{job_id}", status_code=303)


def _form_mapping(form) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for key, value in form.items():
        if (
            isinstance(key, str)
            and key.startswith("map-")
            and key[4:].isdigit()
            and isinstance(value, str)
            and len(value) <= 100
        ):
            out[int(key[4:])] = value or None
    return out


ROUTES = [ImportApi, ImportPages]
