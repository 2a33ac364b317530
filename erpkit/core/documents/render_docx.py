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

import hashlib
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from io import BytesIO
from typing import Any

import jinja2

from erpkit.core.documents.engine import (
    DocumentEnvironment,
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


# Compiling the document's XML into Jinja templates and cleaning it for Jinja cost more
# than half a render (the default quotation: compiling about 35 ms, docxtpl's ``patch_xml``
# about 12 ms, of the 80 ms a bare docxtpl render takes), and a deployment
# prints the same few files again and again. So both are kept per process, keyed by their
# text (an upload is new text), the templates on one shared environment (read-only once
# made: rendering a compiled template is thread-safe). Every render still opens a Word
# document of its own and writes every part again: only the compiled templates and the
# cleaned text are shared (a compiled template takes about 13 bytes per character).

#: characters of template text kept (compiled, and cleaned), at most
KEEP_CHARS = 4 * 1024 * 1024
_KEEP_ENTRIES = 1024
_kept_lock = threading.Lock()
#: source files (sha256) that opened as Word documents before: not checked again
_known: OrderedDict[bytes, None] = OrderedDict()


class _Kept:
    """A small LRU of ``text -> value``, bounded by the total length of the texts."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, Any] = OrderedDict()
        self.chars = 0

    def get(self, text: str) -> Any:
        with _kept_lock:
            value = self.items.get(text)
            if value is not None:
                self.items.move_to_end(text)
            return value

    def put(self, text: str, value: Any) -> None:
        if len(text) > KEEP_CHARS // 4:
            return
        with _kept_lock:
            if text not in self.items:
                self.chars += len(text)
            self.items[text] = value
            while self.chars > KEEP_CHARS or len(self.items) > _KEEP_ENTRIES:
                old, _value = self.items.popitem(last=False)
                self.chars -= len(old)


_compiled = _Kept()
_patched = _Kept()


class _DocxEnvironment(DocumentEnvironment):
    """The documents' sandbox, keeping the templates it compiled by their text."""

    def from_string(self, source, globals=None, template_class=None):
        if globals is not None or template_class is not None or not isinstance(source, str):
            return super().from_string(source, globals, template_class)
        template = _compiled.get(source)
        if template is None:
            template = super().from_string(source)  # a syntax error is not kept
            _compiled.put(source, template)
        return template


@lru_cache(maxsize=1)
def _shared_env() -> _DocxEnvironment:
    """:func:`~erpkit.core.documents.engine.environment` with ``autoescape``, kept.

    ``image`` comes with each render's context (it places the image in that render's
    document); docxtpl sets ``autoescape`` to True on every render, as it already is.
    """
    return environment(autoescape=True, cls=_DocxEnvironment)


@lru_cache(maxsize=1)
def _template_class():
    """docxtpl's template, keeping the XML it cleaned for Jinja by its text."""
    from docxtpl import DocxTemplate

    class Template(DocxTemplate):
        def patch_xml(self, src_xml):
            patched = _patched.get(src_xml)
            if patched is None:
                patched = super().patch_xml(src_xml)
                _patched.put(src_xml, patched)
            return patched

    return Template


def open_document(source: bytes):
    """A docxtpl template of ``source``, or a 422 that says why it is not a Word document.

    A file that opened before (the same bytes) is not checked again."""
    key = hashlib.sha256(source).digest()
    with _kept_lock:
        known = key in _known
        if known:
            _known.move_to_end(key)
    tpl = _template_class()(BytesIO(source))
    if known:
        tpl.init_docx()
        return tpl
    check_package(source, "docx")
    try:
        tpl.init_docx()
        tpl.get_xml()
    except Exception as exc:
        raise ValidationError(
            {"file": _("This Word document cannot be read: %(why)s", why=describe(exc))}
        ) from None
    with _kept_lock:
        _known[key] = None
        while len(_known) > _KEEP_ENTRIES:
            _known.popitem(last=False)
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

    try:
        tpl.render({**context, "image": image}, jinja_env=_shared_env(), autoescape=True)
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
