"""The .docx renderer (docxtpl): Jinja placeholders in a Word document.

Conventions for template authors (docxtpl's, see its documentation):

* ``{{ quote.code }}`` anywhere in the text, headers and footers; the run's
  formatting is kept. Values are escaped, so ``A & B <Co.>`` prints as written.
* A table row repeated per item: put ``{%tr for line in quote.lines %}`` alone in
  a row above it and ``{%tr endfor %}`` alone in a row below it (both rows
  disappear). ``{%p if ... %}`` / ``{%p endif %}`` in their own paragraphs keep or
  drop the paragraphs between them.
* ``{{ image(company.logo) }}`` places the logo (at most 60 x 30 mm unless
  ``width=`` / ``height=`` in millimetres say otherwise); ``company.seal`` likewise.
* Filters: ``amount_in_words`` / ``cn_capital`` (人民币大写), ``money``, ``date(...)``.

Mistakes are reported with the text around them:
``document: unexpected '}' (in "Total: {{ quote.total }")``.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

import jinja2

from erpkit.core.documents.engine import (
    TemplateProblem,
    check_package,
    describe,
    environment,
    make_image,
    snippet,
)
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _

_TAGS = re.compile(r"<[^>]+>")
_BOX_MM = (60.0, 30.0)


def open_document(source: bytes):
    """A docxtpl template of ``source``, or a 422 that says why it is not a Word document."""
    from docxtpl import DocxTemplate

    check_package(source, "docx")
    tpl = DocxTemplate(BytesIO(source))
    try:
        tpl.init_docx()
        tpl.get_xml()
    except Exception as exc:
        raise ValidationError(
            {"file": _("This Word document cannot be read: %(why)s", why=describe(exc))}
        ) from None
    return tpl


def _part_label(tpl) -> str:
    part = getattr(tpl, "current_rendering_part", None)
    name = str(getattr(part, "partname", "") or "")
    for kind in ("header", "footer", "footnotes"):
        if kind in name:
            return kind
    return "document"


def _line_text(tpl, lineno: int | None) -> str:
    """The text of line ``lineno`` of the Jinja source docxtpl compiled (one paragraph)."""
    if not lineno:
        return ""
    part = getattr(tpl, "current_rendering_part", None)
    try:
        main = part is None or part is tpl.docx._part
        xml = tpl.get_xml() if main else tpl.get_part_xml(part)
        xml = re.sub(r"<w:p([ >])", r"\n<w:p\1", tpl.patch_xml(xml))
        lines = xml.splitlines()
        return _TAGS.sub("", lines[lineno - 1]) if 0 < lineno <= len(lines) else ""
    except Exception:
        return ""


def _template_lineno(exc: BaseException) -> int | None:
    """The line of the compiled template a runtime error happened on."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def render(source: bytes, context: dict[str, Any]) -> bytes:
    """Render the Word document ``source`` with ``context``; TemplateProblem (422) on mistakes."""
    from docx.shared import Mm
    from docxtpl import InlineImage

    tpl = open_document(source)

    def image(data: Any, width: Any = None, height: Any = None):
        ref = make_image(data, width, height)
        if ref is None:
            return ""
        w, h = ref.size_mm(*_BOX_MM)
        return InlineImage(tpl, BytesIO(ref.data), width=Mm(w), height=Mm(h))

    env = environment(autoescape=True)
    env.globals["image"] = image
    try:
        tpl.render({**context, "image": image}, jinja_env=env, autoescape=True)
    except jinja2.TemplateSyntaxError as exc:
        text = _line_text(tpl, exc.lineno)
        raise TemplateProblem([_problem(tpl, exc, text)]) from None
    except ValidationError:
        raise
    except Exception as exc:
        text = _line_text(tpl, _template_lineno(exc))
        raise TemplateProblem([_problem(tpl, exc, text)]) from None
    out = BytesIO()
    tpl.save(out)
    return out.getvalue()


def _problem(tpl, exc: BaseException, text: str) -> str:
    message = f"{_part_label(tpl)}: {describe(exc)}"
    if text.strip():
        message += f' (in "{snippet(text)}")'
    return message
