"""The documents service: which file to render, its context, rendering, uploads, company.

Routes, the CLI and plugins call these functions; they raise
:mod:`erpkit.core.errors` exceptions and never know HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erpkit.core import entities
from erpkit.core.db import utcnow
from erpkit.core.documents import FORMATS, MEDIA_TYPES, DocumentTemplate
from erpkit.core.documents.engine import environment, image_info
from erpkit.core.documents.models import CompanyProfile, DocumentFile
from erpkit.core.errors import Conflict, ErpError, NotFound, ValidationError
from erpkit.core.i18n import gettext as _

log = logging.getLogger("erpkit.documents")

MANAGE_DOCUMENTS = "core.manage_documents"
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_BYTES = 2 * 1024 * 1024
COMPANY_ID = 1
#: the company profile's text fields and their longest value
COMPANY_FIELDS = {
    "name": 200,
    "address": 300,
    "phone": 50,
    "email": 200,
    "website": 200,
    "credit_code": 18,
    "bank_name": 200,
    "bank_account": 50,
}
IMAGE_KINDS = ("logo", "seal")
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_ok(code: str) -> bool:
    """A unified social credit code (GB 32100-2015): 18 characters, the last a check."""
    if not _CREDIT_CODE.fullmatch(code):
        return False
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(code, _CREDIT_WEIGHTS, strict=False))
    return _CREDIT_CHARS[(31 - total % 31) % 31] == code[17]


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


# -- templates and their files ----------------------------------------------------------------


def templates(erp) -> dict[str, DocumentTemplate]:
    """Every registered document template, by name."""
    return erp.registry.items("document template")


def get_template(erp, name: str) -> DocumentTemplate:
    try:
        return templates(erp)[name]
    except KeyError:
        raise NotFound(_("No such document template.")) from None


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound(_("Documents are made as .xlsx or .docx only."))
    return fmt


def custom_file(session: Session, name: str, fmt: str) -> DocumentFile | None:
    """The administrator's upload for ``name`` and ``fmt``, if any."""
    return session.scalar(
        select(DocumentFile).where(DocumentFile.template == name, DocumentFile.format == fmt)
    )


def template_file(
    erp, session: Session, name: str, fmt: str, which: str = "current"
) -> tuple[bytes, str]:
    """``(content, file name)`` of the file in use (``"current"``) or the default one."""
    tpl = get_template(erp, name)
    _check_format(fmt)
    if which == "current":
        row = custom_file(session, name, fmt)
        if row is not None:
            return row.content, row.filename
    data = tpl.default_bytes(fmt)
    if data is None:
        raise NotFound(_("This document has no default .%(fmt)s file.", fmt=fmt))
    return data, tpl.files[fmt].name


@dataclass
class FormatInfo:
    format: str
    has_default: bool
    filename: str | None = None
    size: int | None = None
    uploaded_at: datetime | None = None
    uploaded_by: str | None = None

    @property
    def custom(self) -> bool:
        return self.filename is not None

    @property
    def available(self) -> bool:
        return self.custom or self.has_default


@dataclass
class TemplateInfo:
    template: DocumentTemplate
    formats: list[FormatInfo]


def listing(erp, session: Session) -> list[TemplateInfo]:
    """Every template with, per format, its default file and the upload (one query)."""
    from erpkit.core.auth.models import User

    rows = session.execute(
        select(
            DocumentFile.template,
            DocumentFile.format,
            DocumentFile.filename,
            DocumentFile.size,
            DocumentFile.uploaded_at,
            User.username,
        ).outerjoin(User, User.id == DocumentFile.uploaded_by_id)
    ).all()
    uploads = {(r[0], r[1]): r for r in rows}
    out = []
    for name, tpl in sorted(templates(erp).items()):
        formats = []
        for fmt in FORMATS:
            r = uploads.get((name, fmt))
            formats.append(FormatInfo(fmt, fmt in tpl.files, *(r[2:] if r else ())))
        out.append(TemplateInfo(tpl, formats))
    return out


def _clean_filename(filename: str) -> str:
    base = PureWindowsPath(PurePosixPath(filename or "").name).name
    return _UNSAFE_NAME.sub("_", base).strip()[:255]


def upload(
    erp, session: Session, name: str, fmt: str, filename: str, data: bytes, user
) -> DocumentFile:
    """Store an administrator's own file for ``name`` and ``fmt``.

    The file is opened and rendered once with the template's sample context, so
    that a broken placeholder is refused now (422 naming the sheet and cell) and
    not when a salesperson prints.
    """
    tpl = get_template(erp, name)
    _check_format(fmt)
    filename = _clean_filename(filename)
    if not filename.lower().endswith(f".{fmt}"):
        raise ValidationError({"file": _("Choose a .%(fmt)s file.", fmt=fmt)})
    if len(data) > MAX_TEMPLATE_BYTES:
        raise ValidationError(
            {
                "file": _(
                    "The file is larger than %(mb)s MB.", mb=MAX_TEMPLATE_BYTES // (1024 * 1024)
                )
            }
        )
    if not data:
        raise ValidationError({"file": _("The file is empty.")})
    context = sample_context(erp, session, tpl, user, fmt)
    _render_bytes(erp, dataclasses.replace(tpl, source=data), context, fmt)
    row = session.scalar(
        select(DocumentFile)
        .where(DocumentFile.template == name, DocumentFile.format == fmt)
        .with_for_update()
    )
    values = {
        "filename": filename,
        "content": data,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "uploaded_by_id": getattr(user, "id", None),
        "uploaded_at": utcnow(),
    }
    if row is not None:
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
        return row
    row = DocumentFile(template=name, format=fmt, **values)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(
            _("Someone uploaded a file for this document at the same moment. Try again.")
        ) from None
    return row


def revert(erp, session: Session, name: str, fmt: str) -> bool:
    """Go back to the default file; True when there was an upload to remove."""
    get_template(erp, name)
    _check_format(fmt)
    result = session.execute(
        delete(DocumentFile).where(DocumentFile.template == name, DocumentFile.format == fmt)
    )
    return bool(result.rowcount)


# -- the company ------------------------------------------------------------------------------


def company(session: Session) -> CompanyProfile | None:
    return session.get(CompanyProfile, COMPANY_ID)


def company_context(session: Session) -> dict[str, Any]:
    """``company`` as documents see it: the text fields, ``logo`` and ``seal`` (bytes)."""
    row = company(session)
    out: dict[str, Any] = {k: (getattr(row, k) if row else "") or "" for k in COMPANY_FIELDS}
    out["logo"] = row.logo if row else None
    out["seal"] = row.seal if row else None
    return out


def _company_row(session: Session) -> CompanyProfile:
    row = session.get(CompanyProfile, COMPANY_ID, with_for_update=True)
    if row is None:
        row = CompanyProfile(id=COMPANY_ID)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # another worker created it first
            row = session.get(CompanyProfile, COMPANY_ID, with_for_update=True)
    return row


def update_company(session: Session, values: dict[str, Any]) -> CompanyProfile:
    """Change the company's text fields (those given); 422 names a wrong one."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        if key not in COMPANY_FIELDS:
            errors[key] = _("Unknown field.")
            continue
        text = " ".join(str(value or "").split()) if key != "address" else str(value or "").strip()
        if len(text) > COMPANY_FIELDS[key]:
            errors[key] = _("At most %(n)s characters.", n=COMPANY_FIELDS[key])
        clean[key] = text
    code = clean.get("credit_code", "")
    if code:
        clean["credit_code"] = code = code.upper()
        if "credit_code" not in errors and not credit_code_ok(code):
            errors["credit_code"] = _(
                "This is not a unified social credit code (18 letters and digits)."
            )
    email = clean.get("email", "")
    if email and "email" not in errors and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        errors["email"] = _("Enter an e-mail address such as sales@example.com.")
    if errors:
        raise ValidationError(errors)
    row = _company_row(session)
    for key, value in clean.items():
        setattr(row, key, value)
    session.flush()
    return row


def set_company_image(session: Session, kind: str, data: bytes | None) -> CompanyProfile:
    """Set (or with ``None`` remove) the company's logo or seal: PNG, JPEG or GIF."""
    if kind not in IMAGE_KINDS:
        raise NotFound(_("No such image."))
    if data is not None:
        if len(data) > MAX_IMAGE_BYTES:
            raise ValidationError(
                {
                    kind: _(
                        "The image is larger than %(mb)s MB.", mb=MAX_IMAGE_BYTES // (1024 * 1024)
                    )
                }
            )
        try:
            image_info(data)
        except ValueError:
            raise ValidationError({kind: _("Choose a PNG, JPEG or GIF image.")}) from None
    row = _company_row(session)
    setattr(row, kind, data or None)
    session.flush()
    return row


# -- the context ------------------------------------------------------------------------------


def user_context(session: Session, user) -> dict[str, Any]:
    """``user`` as documents see it (who prints): id, name, user name, e-mail, department."""
    from erpkit.core.auth.models import Department, User

    if user is None:
        return {"id": None, "name": "", "username": "", "email": "", "department": ""}
    # columns only: a User record would load its roles and superior too
    row = session.execute(
        select(User.display_name, User.username, User.email, Department.name)
        .outerjoin(Department, Department.id == User.department_id)
        .where(User.id == user.id)
    ).first()
    if row is None:
        return {"id": user.id, "name": "", "username": "", "email": "", "department": ""}
    display_name, username, email, department = row
    return {
        "id": user.id,
        "name": display_name or username,
        "username": username,
        "email": email,
        "department": department or "",
    }


def core_context(session: Session, user) -> dict[str, Any]:
    """What the core gives every document: ``company``, ``today``, ``now``, ``user``."""
    return {
        "company": company_context(session),
        "today": date.today(),
        "now": datetime.now().replace(microsecond=0),
        "user": user_context(session, user),
    }


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``; dicts on both sides are merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _document_info(tpl: DocumentTemplate, fmt: str) -> dict[str, Any]:
    return {"document": {"name": tpl.name, "label": _(tpl.label), "format": fmt}}


def build_context(
    erp, session: Session, tpl: DocumentTemplate, obj: Any, user, fmt: str
) -> dict[str, Any]:
    """The context of ``tpl`` for ``obj``: every ``document_context`` answer merged,
    in plugin order (the core's ``company``/``today``/``user`` first, so a plugin
    may add to them), plus ``document`` (name, label, format)."""
    context = _document_info(tpl, fmt)
    for _plugin, extra in erp.pm.call_each(
        "document_context", template=tpl, obj=obj, user=user, session=session
    ):
        if not isinstance(extra, dict):
            raise TypeError(f"document_context of plugin {_plugin!r} returned {type(extra)}")
        context = merge(context, extra)
    return context


def sample_context(erp, session: Session, tpl: DocumentTemplate, user, fmt: str) -> dict:
    """The context a trial render of an upload uses: the core's, plus ``tpl.sample()``."""
    context = merge(_document_info(tpl, fmt), core_context(session, user))
    if tpl.sample is not None:
        try:
            context = merge(context, tpl.sample())
        except Exception:
            log.exception("sample() of document template %s failed", tpl.name)
    return context


# -- rendering --------------------------------------------------------------------------------


def _render_bytes(erp, tpl: DocumentTemplate, context: dict, fmt: str) -> bytes:
    result = erp.pm.hook.render_document(template=tpl, context=context, fmt=fmt)
    if not isinstance(result, (bytes, bytearray)):
        raise ErpError(_("No renderer made this document."))
    return bytes(result)


def render(erp, session: Session, template_name: str, obj: Any, user, fmt: str) -> bytes:
    """The document ``template_name`` for ``obj`` as ``fmt`` bytes.

    Renders the administrator's upload if there is one, else the default file.
    A template mistake is a :class:`~erpkit.core.documents.engine.TemplateProblem` (422).
    """
    return _render(erp, session, get_template(erp, template_name), obj, user, fmt)[0]


def _render(erp, session, tpl: DocumentTemplate, obj, user, fmt: str) -> tuple[bytes, dict]:
    _check_format(fmt)
    row = custom_file(session, tpl.name, fmt)
    source = row.content if row is not None else tpl.default_bytes(fmt)
    if source is None:
        raise NotFound(_("This document has no .%(fmt)s template.", fmt=fmt))
    context = build_context(erp, session, tpl, obj, user, fmt)
    return _render_bytes(erp, dataclasses.replace(tpl, source=source), context, fmt), context


@dataclass(frozen=True)
class RenderedDocument:
    content: bytes
    filename: str
    media_type: str

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.filename)


_FILE = re.compile(r"([1-9][0-9]{0,9})\.(xlsx|docx)")


def parse_file(file: str) -> tuple[int, str]:
    """``"12.xlsx"`` -> ``(12, "xlsx")``; NotFound for anything else."""
    m = _FILE.fullmatch(file)
    if m is None or int(m.group(1)) > 2**31 - 1:
        raise NotFound(_("Not found."))
    return int(m.group(1)), m.group(2)


def render_record(
    erp, session: Session, template_name: str, entity_id: int, user, fmt: str
) -> RenderedDocument:
    """Render the document for record ``entity_id`` if ``user`` may see it (else 404)."""
    tpl = get_template(erp, template_name)
    _check_format(fmt)
    et = entities.entity_type(erp, tpl.entity_type)
    obj = entities.visible(erp, session, et, entity_id, user)
    content, context = _render(erp, session, tpl, obj, user, fmt)
    number = getattr(obj, et.number_field, None) if et.number_field else None
    name = download_name(tpl, context, f"{_(tpl.label)}-{number or entity_id}")
    return RenderedDocument(content, f"{name}.{fmt}", MEDIA_TYPES[fmt])


@lru_cache(maxsize=256)
def _filename_template(pattern: str):
    """``tpl.filename`` compiled once per process (1.4 ms a render otherwise), on an
    environment of its own (read-only once made)."""
    return _filename_env().from_string(pattern)


@lru_cache(maxsize=1)
def _filename_env():
    return environment()


def download_name(tpl: DocumentTemplate, context: dict, fallback: str) -> str:
    """The file name (without extension) from ``tpl.filename``, made safe for every OS."""
    name = ""
    if tpl.filename:
        try:
            name = _filename_template(tpl.filename).render(context)
        except Exception:
            log.warning("file name pattern of %s failed", tpl.name, exc_info=True)
    name = " ".join(_UNSAFE_NAME.sub("_", name or "").split()).strip(" .")[:120]
    return name or " ".join(_UNSAFE_NAME.sub("_", fallback).split()).strip(" .")[:120] or "document"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266/5987: an ASCII ``filename`` for old clients and ``filename*`` in UTF-8."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
