"""Simplified Chinese and English: catalogs, the current language, negotiation.

The catalogs are the ``messages.po`` files of the core and of every plugin
(``register_translations``), compiled in memory at start-up (no build step, no
committed binaries). The language of the current request lives in a context
variable, so services, templates and error messages all speak it.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from erpkit.core.settings import SUPPORTED_LOCALES

CORE_LOCALES = Path(__file__).parent / "locales"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}

_current: ContextVar[tuple[str, _gettext.NullTranslations] | None] = ContextVar(
    "erpkit_locale", default=None
)


def load_catalogs(dirs: Iterable[Path]) -> dict[str, _gettext.NullTranslations]:
    """One merged translations object per supported locale (English is the source)."""
    out: dict[str, _gettext.NullTranslations] = {"en": _gettext.NullTranslations()}
    for locale in SUPPORTED_LOCALES:
        if locale == "en":
            continue
        merged: Translations | None = None
        for base in dirs:
            po = Path(base) / locale / "LC_MESSAGES" / "messages.po"
            if not po.exists():
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            trans = Translations(buf)
            if merged is None:
                merged = trans
            else:
                merged.merge(trans)
        out[locale] = merged or _gettext.NullTranslations()
    return out


def negotiate(accept_language: str | None, default: str) -> str:
    """The best supported locale for an ``Accept-Language`` header."""
    if not accept_language:
        return default
    choices = []
    for i, part in enumerate(accept_language.split(",")):
        lang, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        choices.append((-q, i, lang.strip().lower().replace("_", "-")))
    for _q, _i, lang in sorted(choices):
        if lang.startswith("zh"):
            # zh-TW/zh-HK readers still read Simplified better than English here
            return "zh_CN"
        if lang.startswith("en"):
            return "en"
    return default


def activate(locale: str, catalogs: dict[str, _gettext.NullTranslations]):
    """Make ``locale`` current for this context; returns a token for :func:`deactivate`."""
    return _current.set((locale, catalogs.get(locale) or _gettext.NullTranslations()))


def deactivate(token) -> None:
    _current.reset(token)


@contextmanager
def using(locale: str, catalogs: dict[str, _gettext.NullTranslations]) -> Iterator[None]:
    token = activate(locale, catalogs)
    try:
        yield
    finally:
        deactivate(token)


def current_locale() -> str:
    cur = _current.get()
    return cur[0] if cur else "en"


def gettext(message: str, **params: object) -> str:
    """Translate ``message`` into the current language; ``%(name)s`` takes ``params``."""
    cur = _current.get()
    text = cur[1].gettext(message) if cur else message
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    cur = _current.get()
    text = cur[1].ngettext(singular, plural, n) if cur else (singular if n == 1 else plural)
    params.setdefault("num", n)
    return text % params


def N_(message: str) -> str:
    """Mark a string for the catalogs without translating it now (labels, titles)."""
    return message


_ = gettext
