"""What both renderers share: the sandboxed Jinja environment, its filters, images, errors.

Template files are uploaded by administrators, so their placeholders run in
Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no underscore
attributes, no changing the context's lists and dicts, and on database records
only their mapped columns and relationships (and Python properties) can be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from io import BytesIO
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from sqlalchemy import inspect as sa_inspect

from erpkit.core.documents.amounts import amount_in_words, to_decimal
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _

#: image formats that both Excel and Word show
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif"}
MAX_PROBLEMS = 5
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
_TAG = re.compile(r"(\{\{|\{%|\{#)(.*?)(\}\}|%\}|#\})", re.S)


class TemplateProblem(ValidationError):
    """A template file that cannot be rendered: each problem names where it is.

    Answered with 422 like every :class:`ValidationError`; the field is ``file``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        text = "; ".join(self.problems[:MAX_PROBLEMS])
        if len(self.problems) > MAX_PROBLEMS:
            text += " " + _("(and %(count)s more)", count=len(self.problems) - MAX_PROBLEMS)
        super().__init__(
            {"file": text}, detail=_("The template has an error: %(problem)s", problem=text)
        )


def describe(exc: BaseException) -> str:
    """A one-line account of a Jinja (or filter) error, without the Python details."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.message or "syntax error"
    if isinstance(exc, jinja2.TemplateError):
        return exc.message or type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


def snippet(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_quotes(text: str) -> str:
    """Word and WPS turn quotes into curly ones; inside ``{{ }}`` they must be plain."""
    return _TAG.sub(lambda m: m.group(1) + m.group(2).translate(_SMART_QUOTES) + m.group(3), text)


# -- images ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    """An image a template asked for with ``{{ image(company.logo, width=30) }}``.

    Sizes are millimetres; with neither given the renderer fits the image into the
    cell (or merged cells) in Excel, and into 60 x 30 mm in Word.
    """

    data: bytes
    px_width: int
    px_height: int
    ext: str
    width_mm: float | None = None
    height_mm: float | None = None

    def __str__(self) -> str:  # an image used inside text is left out of the text
        return ""

    def size_mm(self, box_w: float, box_h: float) -> tuple[float, float]:
        """The size in mm: as asked, else the natural size scaled down into the box."""
        ratio = self.px_height / self.px_width if self.px_width else 1.0
        if self.width_mm and self.height_mm:
            return self.width_mm, self.height_mm
        if self.width_mm:
            return self.width_mm, self.width_mm * ratio
        if self.height_mm:
            return self.height_mm / ratio, self.height_mm
        w, h = self.px_width * 25.4 / 96, self.px_height * 25.4 / 96
        scale = min(1.0, box_w / w if w else 1.0, box_h / h if h else 1.0)
        return w * scale, h * scale


def image_info(data: bytes) -> tuple[int, int, str]:
    """(width px, height px, "png"/"jpeg"/"gif") of an image; ValueError otherwise."""
    from docx.image.exceptions import UnrecognizedImageError
    from docx.image.image import Image as DocxImage

    try:
        img = DocxImage.from_blob(bytes(data))
    except (UnrecognizedImageError, Exception):
        raise ValueError("not an image") from None
    ext = IMAGE_TYPES.get(img.content_type)
    if ext is None or not img.px_width or not img.px_height:
        raise ValueError("not a PNG, JPEG or GIF image")
    return img.px_width, img.px_height, ext


def make_image(data: Any, width: Any = None, height: Any = None) -> ImageRef | None:
    """The ``image()`` function of templates; an empty value gives no image."""
    if isinstance(data, jinja2.Undefined) or not data:
        return None
    if isinstance(data, ImageRef):
        return data
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("image() needs image data, such as company.logo")
    w, h, ext = image_info(bytes(data))

    def mm(v):
        if v is None or isinstance(v, jinja2.Undefined):
            return None
        v = float(v)
        if not 0 < v <= 1000:
            raise ValueError("image() sizes are millimetres between 0 and 1000")
        return v

    return ImageRef(bytes(data), w, h, ext, mm(width), mm(height))


# -- filters -----------------------------------------------------------------------------


def _words(value: Any) -> str:
    if isinstance(value, jinja2.Undefined) or value is None or value == "":
        return ""
    return amount_in_words(value)


def money(value: Any, places: int = 2, sep: str = ",") -> str:
    """``1234.5|money`` -> ``1,234.50`` (half-up); empty for no value."""
    if isinstance(value, jinja2.Undefined) or value is None or value == "":
        return ""
    places = max(0, min(int(places), 6))
    amount = to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{amount:,.{places}f}"
    return text.replace(",", sep) if sep != "," else text


def date_format(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """``today|date("%Y年%m月%d日")``; ISO strings are accepted too."""
    if isinstance(value, jinja2.Undefined) or value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if not isinstance(value, (date, datetime)):
        raise ValueError(f"not a date: {value!r}")
    # strftime cannot take non-ASCII text on every platform: put it back afterwards
    parts = re.split(r"(%[a-zA-Z%])", fmt)
    return "".join(value.strftime(p) if p.startswith("%") and len(p) == 2 else p for p in parts)


FILTERS = {
    "amount_in_words": _words,
    "cn_capital": _words,
    "money": money,
    "date": date_format,
}


# -- the environment ----------------------------------------------------------------------


class Lenient(jinja2.ChainableUndefined):
    """A missing value prints as nothing, also several attributes deep
    (``{{ quote.customer.address }}`` on a quote without customer)."""

    __slots__ = ()


def _is_record(obj: Any) -> bool:
    """A mapped SQLAlchemy instance (not a class, not an Undefined)."""
    return (
        obj is not None
        and not isinstance(obj, (type, jinja2.Undefined))
        and hasattr(type(obj), "_sa_class_manager")
    )


class DocumentEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus: on a database record only its mapped attributes are readable."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, jinja2.Undefined):
            return True
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if _is_record(obj):
            if attr in sa_inspect(obj).mapper.attrs:
                return True
            return isinstance(getattr(type(obj), attr, None), property)
        return True

    def unsafe_undefined(self, obj: Any, attribute: str):
        # refuse loudly: a template that reaches for internals is a mistake to report
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is not allowed"
        )

    def is_safe_callable(self, obj: Any) -> bool:
        # methods of database records could reach the session: only data is offered
        if _is_record(getattr(obj, "__self__", None)):
            return False
        return super().is_safe_callable(obj)


def environment(
    autoescape: bool = False, cls: type[DocumentEnvironment] = DocumentEnvironment
) -> DocumentEnvironment:
    """A fresh environment (docxtpl changes ``autoescape`` on the one it is given);
    ``cls`` a subclass of :class:`DocumentEnvironment` for a renderer's own."""
    env = cls(undefined=Lenient, autoescape=autoescape, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    env.globals["image"] = make_image
    return env


# -- is it really a workbook / a Word document? -------------------------------------------

MAX_UNPACKED = 100 * 1024 * 1024
MAX_MEMBERS = 5000
_MAIN_TYPES = {
    "xlsx": "spreadsheetml.sheet.main+xml",
    "docx": "wordprocessingml.document.main+xml",
}
_OTHER_KINDS = {
    "ms-excel.sheet.macroEnabled": N_("an Excel workbook with macros (.xlsm)"),
    "spreadsheetml.template": N_("an Excel template (.xltx)"),
    "spreadsheetml.sheet.main": N_("an Excel workbook (.xlsx)"),
    "ms-word.document.macroEnabled": N_("a Word document with macros (.docm)"),
    "wordprocessingml.template": N_("a Word template (.dotx)"),
    "wordprocessingml.document.main": N_("a Word document (.docx)"),
    "presentationml": N_("a PowerPoint presentation"),
}
KINDS = {"xlsx": N_("an Excel workbook (.xlsx)"), "docx": N_("a Word document (.docx)")}


def check_package(data: bytes, fmt: str) -> None:
    """Refuse (422) what is not an Office Open XML package of the kind ``fmt``.

    Looks inside before any parser does: the ZIP, its size unpacked (no zip bombs),
    and the content type of the main part, so that a .docx renamed to .xlsx is
    told apart from a broken file.
    """
    import zipfile

    kind = _(KINDS[fmt])
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise ValidationError(
            {
                "file": _(
                    "This file is not %(kind)s: it is an old .xls/.doc file or a "
                    "password-protected one. Save it as %(kind)s without a password.",
                    kind=kind,
                )
            }
        )
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ValidationError(
            {"file": _("This file is not %(kind)s: it is not a ZIP package.", kind=kind)}
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise ValidationError({"file": _("This file is too large when unpacked.")})
        try:
            types = archive.read("[Content_Types].xml").decode("utf-8", "replace")
        except (KeyError, zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
            types = ""
    if _MAIN_TYPES[fmt] in types:
        return
    for marker, other in _OTHER_KINDS.items():
        if marker in types:
            raise ValidationError(
                {"file": _("This file is %(other)s, not %(kind)s.", other=_(other), kind=kind)}
            )
    raise ValidationError(
        {"file": _("This file is not %(kind)s: it is a ZIP package of something else.", kind=kind)}
    )
