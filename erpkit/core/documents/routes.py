"""Routes of the documents service: render a record's document, manage templates, company.

Thin: parse, call :mod:`erpkit.core.documents.service`, answer with the file or a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import ResponseHeader, UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from erpkit.core.documents import FORMATS, MEDIA_TYPES, service
from erpkit.core.documents.engine import image_info
from erpkit.core.documents.service import MANAGE_DOCUMENTS
from erpkit.core.errors import NotFound, ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.params import PathCode
from erpkit.core.web import form_errors, page, submit_form

#: bodies above this are refused by Litestar (413); up to it the service says why (422)
UPLOAD_BODY_LIMIT = 4 * service.MAX_TEMPLATE_BYTES

Format = Annotated[str, PathParameter(pattern="^(xlsx|docx)$", description="xlsx or docx")]
FileName = Annotated[
    str, PathParameter(max_length=30, description="record id and format, e.g. `12.xlsx`")
]
ImageKind = Annotated[str, PathParameter(pattern="^(logo|seal)$", description="logo or seal")]
Which = Annotated[
    Literal["current", "default"],
    QueryParameter(description="`current`: the uploaded file if any; `default`: the shipped one"),
]


# -- the API --------------------------------------------------------------------------------


class TemplateFormatOut(msgspec.Struct):
    format: str
    has_default: bool
    custom: bool
    filename: str | None = None
    size: int | None = None
    uploaded_at: datetime | None = None
    uploaded_by: str | None = None


class TemplateOut(msgspec.Struct):
    name: str
    label: str
    entity_type: str
    formats: list[TemplateFormatOut]


@dataclass
class TemplateUpload:
    """A template file (multipart field ``file``)."""

    file: UploadFile


def _template_out(info: service.TemplateInfo) -> TemplateOut:
    tpl = info.template
    return TemplateOut(
        name=tpl.name,
        label=_(tpl.label),
        entity_type=tpl.entity_type,
        formats=[
            TemplateFormatOut(
                format=f.format,
                has_default=f.has_default,
                custom=f.custom,
                filename=f.filename,
                size=f.size,
                uploaded_at=f.uploaded_at,
                uploaded_by=f.uploaded_by,
            )
            for f in info.formats
        ],
    )


def _one(erp, s, name: str) -> TemplateOut:
    return next(_template_out(i) for i in service.listing(erp, s) if i.template.name == name)


@dataclass
class FileOperation(Operation):
    """An operation answering with a document: either Office type, as binary."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            ok.content = {t: OpenAPIMediaType(schema=binary) for t in MEDIA_TYPES.values()}


FILE_HEADERS = [
    ResponseHeader(
        name="Content-Disposition",
        documentation_only=True,
        description="attachment; the file name in UTF-8 (RFC 5987 `filename*`)",
    ),
]


def _file_response(content: bytes, filename: str, media_type: str) -> Response[bytes]:
    return Response(
        content=content,
        media_type=media_type,
        headers={
            "Content-Disposition": service.content_disposition(filename),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _read_upload(upload: Any, limit: int) -> tuple[str, bytes] | None:
    """(file name, content) of a multipart file (at most ``limit`` + 1 bytes read)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    upload.file.seek(0)
    return upload.filename, upload.file.read(limit + 1)


class DocumentTemplateController(Controller):
    path = "/api/v1/documents/templates"
    tags = ["documents"]
    opt = {"permission": MANAGE_DOCUMENTS}

    @get("/", sync_to_thread=True)
    def list_templates(self, request: Request) -> list[TemplateOut]:
        """Every document template: per format its default file and the uploaded one."""
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            return [_template_out(i) for i in service.listing(erp, s)]

    @get(
        "/{name:str}/{fmt:str}",
        sync_to_thread=True,
        operation_class=FileOperation,
        response_headers=FILE_HEADERS,
    )
    def download_template(
        self, request: Request, name: PathCode, fmt: Format, which: Which = "current"
    ) -> Response[bytes]:
        """The template file in use (the upload, else the default), or the default one."""
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            content, filename = service.template_file(erp, s, name, fmt, which)
        return _file_response(content, filename, MEDIA_TYPES[fmt])

    @post(
        "/{name:str}/{fmt:str}",
        sync_to_thread=True,
        status_code=201,
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    def upload_template(
        self,
        request: Request,
        name: PathCode,
        fmt: Format,
        data: Annotated[TemplateUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> TemplateOut:
        """Upload your own file for a template and format (multipart field `file`).

        The file is opened and rendered with sample values first: what is not a
        workbook or Word document, or has a broken placeholder, is refused (422)
        with the sheet and cell named.
        """
        erp = request.app.state.erp
        got = _read_upload(data.file, service.MAX_TEMPLATE_BYTES)
        if got is None:
            raise ValidationError({"file": _("Choose a file to upload.")})
        with erp.sessionmaker.begin() as s:
            service.upload(erp, s, name, fmt, got[0], got[1], request.scope["user"])
            return _one(erp, s, name)

    @delete("/{name:str}/{fmt:str}", sync_to_thread=True, status_code=204)
    def revert_template(self, request: Request, name: PathCode, fmt: Format) -> None:
        """Go back to the default file (removes the upload; nothing to remove is fine)."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            service.revert(erp, s, name, fmt)


def _render_file(request: Request, template: str, file: str) -> Response[bytes]:
    erp = request.app.state.erp
    entity_id, fmt = service.parse_file(file)
    with erp.sessionmaker() as s:
        doc = service.render_record(erp, s, template, entity_id, request.scope["user"], fmt)
    return _file_response(doc.content, doc.filename, doc.media_type)


@get(
    "/api/v1/documents/{template:str}/{file:str}",
    tags=["documents"],
    sync_to_thread=True,
    operation_class=FileOperation,
    response_headers=FILE_HEADERS,
)
def render_api(request: Request, template: PathCode, file: FileName) -> Response[bytes]:
    """A record's document, e.g. `GET /api/v1/documents/quotes.quotation/12.xlsx`.

    404 when the record is not visible to you (data scope); 422 names the cell of
    a broken template.
    """
    return _render_file(request, template, file)


@get("/documents/{template:str}/{file:str}", include_in_schema=False, sync_to_thread=True)
def render_page(request: Request, template: PathCode, file: FileName) -> Response[bytes]:
    """The same for browsers: mistakes are shown on an error page."""
    return _render_file(request, template, file)


class CompanyIn(msgspec.Struct, forbid_unknown_fields=True):
    """The company's text fields; those left out stay as they are."""

    name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    address: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    website: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    credit_code: Annotated[str, msgspec.Meta(max_length=18)] | msgspec.UnsetType = msgspec.UNSET
    bank_name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    bank_account: Annotated[str, msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET


class CompanyOut(msgspec.Struct):
    name: str
    address: str
    phone: str
    email: str
    website: str
    credit_code: str
    bank_name: str
    bank_account: str
    has_logo: bool
    has_seal: bool


@dataclass
class ImageUpload:
    """A PNG, JPEG or GIF image (multipart field ``file``)."""

    file: UploadFile


def _company_out(s) -> CompanyOut:
    ctx = service.company_context(s)
    return CompanyOut(
        **{k: ctx[k] for k in service.COMPANY_FIELDS},
        has_logo=ctx["logo"] is not None,
        has_seal=ctx["seal"] is not None,
    )


class CompanyController(Controller):
    path = "/api/v1/documents/company"
    tags = ["documents"]
    opt = {"permission": MANAGE_DOCUMENTS}

    @get("/", sync_to_thread=True)
    def get_company(self, request: Request) -> CompanyOut:
        """The company profile every document shows as `company`."""
        with request.app.state.erp.sessionmaker() as s:
            return _company_out(s)

    @patch("/", sync_to_thread=True)
    def update_company(self, request: Request, data: Annotated[CompanyIn, Body()]) -> CompanyOut:
        """Change the company profile; fields left out stay as they are."""
        values = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        with request.app.state.erp.sessionmaker.begin() as s:
            service.update_company(s, values)
            return _company_out(s)

    @put("/{kind:str}", sync_to_thread=True, request_max_body_size=UPLOAD_BODY_LIMIT)
    def set_image(
        self,
        request: Request,
        kind: ImageKind,
        data: Annotated[ImageUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> CompanyOut:
        """Set the company's logo or seal (`{{ image(company.logo) }}` in templates)."""
        got = _read_upload(data.file, service.MAX_IMAGE_BYTES)
        if got is None:
            raise ValidationError({"file": _("Choose a file to upload.")})
        with request.app.state.erp.sessionmaker.begin() as s:
            service.set_company_image(s, kind, got[1])
            return _company_out(s)

    @delete("/{kind:str}", sync_to_thread=True, status_code=204)
    def remove_image(self, request: Request, kind: ImageKind) -> None:
        """Remove the company's logo or seal."""
        with request.app.state.erp.sessionmaker.begin() as s:
            service.set_company_image(s, kind, None)


# -- administration pages -------------------------------------------------------------------


def _templates_page(
    request: Request, s, errors: dict[str, str] | None = None, status_code: int = 200
) -> Template:
    erp = request.app.state.erp
    infos = service.listing(erp, s)
    labels = {n: _(et.label) for n, et in erp.registry.items("entity type").items()}
    return page(
        request,
        "documents/templates.html",
        status_code=status_code,
        infos=infos,
        errors=errors or {},
        entity_labels=labels,
        formats=FORMATS,
        done=request.query_params.get("done", ""),
    )


class DocumentAdmin(Controller):
    path = "/admin/documents"
    opt = {"permission": MANAGE_DOCUMENTS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker() as s:
            return _templates_page(request, s)

    @post("/{name:str}/{fmt:str}", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload(self, request: Request, name: PathCode, fmt: Format) -> Template | Redirect:
        form = await request.form()
        upload = form.get("file")
        got = await anyio.to_thread.run_sync(_read_upload, upload, service.MAX_TEMPLATE_BYTES)
        erp = request.app.state.erp
        key = f"{name}.{fmt}"

        def action(s):
            if got is None:
                raise ValidationError({"file": _("Choose a file to upload.")})
            return service.upload(erp, s, name, fmt, got[0], got[1], request.scope["user"])

        return await submit_form(
            request,
            action,
            lambda s, exc: _templates_page(
                request, s, {key: form_errors(exc, "file").get("file", exc.detail)}, exc.status
            ),
            f"/admin/documents?done=uploaded#{key}",
        )

    @post("/{name:str}/{fmt:str}/revert", sync_to_thread=True)
    def revert(self, request: Request, name: PathCode, fmt: Format) -> Redirect:
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            service.revert(erp, s, name, fmt)
        return Redirect(f"/admin/documents?done=reverted#{name}.{fmt}", status_code=303)

    @get("/try", sync_to_thread=False)
    def try_record(
        self,
        request: Request,
        template: Annotated[str, QueryParameter(max_length=100)],
        record: Annotated[str, QueryParameter(max_length=20)] = "",
        fmt: Annotated[str, QueryParameter(pattern="^(xlsx|docx)$")] = "xlsx",
    ) -> Redirect:
        """The "try with a record" form: on to the record's document."""
        record = record.strip()
        if not record.isdigit():
            raise NotFound(_("Enter the id of a record."))
        target = f"/documents/{quote(template, safe='')}/{int(record)}.{fmt}"
        return Redirect(target, status_code=303)


def _company_page(
    request: Request,
    row,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    saved: bool = False,
) -> Template:
    current = {k: (getattr(row, k) if row else "") or "" for k in service.COMPANY_FIELDS}
    return page(
        request,
        "documents/company.html",
        status_code=status_code,
        values={**current, **values},
        errors=errors,
        saved=saved,
        has_logo=bool(row and row.logo),
        has_seal=bool(row and row.seal),
    )


class CompanyAdmin(Controller):
    path = "/admin/company"
    opt = {"permission": MANAGE_DOCUMENTS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker() as s:
            return _company_page(
                request, service.company(s), {}, {}, saved=request.query_params.get("saved") == "1"
            )

    @post("/", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def save(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = {k: str(form.get(k, "") or "") for k in service.COMPANY_FIELDS}
        images = {}
        for kind in service.IMAGE_KINDS:
            images[kind] = await anyio.to_thread.run_sync(
                _read_upload, form.get(kind), service.MAX_IMAGE_BYTES
            )
        removed = {kind for kind in service.IMAGE_KINDS if form.get(f"remove_{kind}") == "on"}

        def action(s):
            service.update_company(s, values)
            for kind in service.IMAGE_KINDS:
                if images[kind] is not None:
                    service.set_company_image(s, kind, images[kind][1])
                elif kind in removed:
                    service.set_company_image(s, kind, None)

        return await submit_form(
            request,
            action,
            lambda s, exc: _company_page(
                request, service.company(s), values, form_errors(exc, "name"), exc.status
            ),
            "/admin/company?saved=1",
        )

    @get("/{kind:str}", sync_to_thread=True)
    def image(self, request: Request, kind: ImageKind) -> Response[bytes]:
        """The logo or seal, for the preview on the page."""
        with request.app.state.erp.sessionmaker() as s:
            data = service.company_context(s).get(kind)
        if not data:
            raise NotFound(_("No such image."))
        ext = image_info(data)[2]
        return Response(
            content=data, media_type=f"image/{ext}", headers={"Cache-Control": "no-store"}
        )


ROUTES = [
    DocumentTemplateController,
    render_api,
    render_page,
    CompanyController,
    DocumentAdmin,
    CompanyAdmin,
]
