"""Core service: documents. Quotations, contracts and delivery notes as .xlsx and .docx.

A plugin registers a :class:`DocumentTemplate` (``register_document_templates``)
with its default files; ``document_context`` hooks give the values; the core
renders with openpyxl or docxtpl (``render_document`` lets a plugin render some
templates itself). Administrators can upload their own file per template and
format. The placeholder conventions are in :mod:`erpkit.core.documents.xlsx`
and :mod:`erpkit.core.documents.docx`; the service in :mod:`.service`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("xlsx", "docx")
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class DocumentTemplate:
    """A kind of document, e.g. the quotation of a quote::

        DocumentTemplate("quotes.quotation", N_("Quotation"), "quotes.quote",
                         files={"xlsx": HERE / "documents" / "quotation.xlsx",
                                "docx": HERE / "documents" / "quotation.docx"})

    ``files`` maps a format (``"xlsx"``, ``"docx"``) to the default file shipped
    with the plugin. ``sample`` returns a context like the real one (without
    ``company``, ``today`` and ``user``, which the core adds): uploads are
    rendered with it once to find mistakes before anyone prints. ``filename`` is a
    Jinja pattern for the downloaded file's name, e.g. ``"报价单-{{ quote.code }}"``;
    by default it is the label and the record's number.

    Renderers receive the template with ``source`` set: the bytes of the file to
    render (the administrator's upload, else the default file).
    """

    name: str
    label: str
    entity_type: str
    files: Mapping[str, Path] = field(default_factory=dict, hash=False)
    sample: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)
    filename: str | None = None
    source: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        from erpkit.core.registry import RegistrationError

        files = {}
        for fmt, path in dict(self.files).items():
            if fmt not in FORMATS:
                raise RegistrationError(
                    f"document template {self.name!r}: format {fmt!r} is not one of "
                    f"{', '.join(FORMATS)}"
                )
            path = Path(path)
            if path.suffix.lower() != f".{fmt}" or not path.is_file():
                raise RegistrationError(
                    f"document template {self.name!r}: default {fmt} file {path} is missing "
                    f"or is not a .{fmt} file"
                )
            files[fmt] = path
        object.__setattr__(self, "files", files)

    def default_bytes(self, fmt: str) -> bytes | None:
        path = self.files.get(fmt)
        return path.read_bytes() if path is not None else None


__all__ = ["FORMATS", "MEDIA_TYPES", "DocumentTemplate"]
