"""Find the translatable strings of a package (templates and Python), for checks and updates.

``python -m erpkit.core.i18n.extract DIR LOCALES_DIR`` lists the messages of DIR
that LOCALES_DIR/zh_CN/LC_MESSAGES/messages.po lacks, and adds them (untranslated)
so that a translator can fill them in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

METHOD_MAP = [
    ("**/templates/**.html", "jinja2"),
    ("**.py", "python"),
]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extract_messages(directory: Path) -> set[str]:
    """Every msgid used in ``directory`` (plural forms give their singular)."""
    found: set[str] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(directory), METHOD_MAP, OPTIONS, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.add(msgid)
    return found


def read_catalog(po_path: Path, locale: str = "zh_CN") -> Catalog:
    with po_path.open("rb") as fh:
        return read_po(fh, locale=locale)


def missing(directory: Path, po_path: Path) -> list[str]:
    """Messages of ``directory`` with no (non-fuzzy, non-empty) translation in ``po_path``."""
    catalog = read_catalog(po_path)
    out = []
    for msgid in sorted(extract_messages(directory)):
        entry = catalog.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            out.append(msgid)
    return out


def untranslated(directory: Path, locale_dirs: list[Path], locale: str = "zh_CN") -> list[str]:
    """Messages of ``directory`` that the merged catalogs of ``locale_dirs`` do not translate."""
    catalogs = []
    for base in locale_dirs:
        po = Path(base) / locale / "LC_MESSAGES" / "messages.po"
        if po.exists():
            catalogs.append(read_catalog(po, locale))
    out = []
    for msgid in sorted(extract_messages(directory)):
        entries = [c.get(msgid) for c in catalogs]
        if not any(e is not None and e.string and not e.fuzzy for e in entries):
            out.append(msgid)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    directory, locales = Path(argv[0]), Path(argv[1])
    po = locales / "zh_CN" / "LC_MESSAGES" / "messages.po"
    catalog = read_catalog(po) if po.exists() else Catalog(locale="zh_CN")
    todo = missing(directory, po) if po.exists() else sorted(extract_messages(directory))
    for msgid in todo:
        if msgid not in catalog:
            catalog.add(msgid, "")
        print(msgid)
    po.parent.mkdir(parents=True, exist_ok=True)
    with po.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, sort_output=True, width=100)
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
