"""Option lists: admin-editable choices labelled in Chinese and English.

Plugins register lists with default options (``register_option_lists``); the first
time a database sees a list, :func:`sync_defaults` inserts those defaults. From then
on the options are the admin's data: a plugin upgrade never overwrites an edited
label, and a deactivated option stays deactivated.

Other modules use :func:`choices` (for a select), :func:`check` (before storing a
code), :func:`label` / :func:`labels` (for display). Each reads a list with one query
and keeps it in ``session.info`` for the rest of the session (one request, usually);
the admin services here clear that cache when they change a list.

Deactivated options stay readable (their labels still show on old records) but
:func:`check` refuses them for new values, and :func:`choices` leaves them out unless
they are the value the record already holds (``keep=``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erpkit.core import generations, i18n
from erpkit.core.errors import NotFound, ValidationError
from erpkit.core.fields.models import KnownOptionList, OptionItem
from erpkit.core.i18n import gettext as _
from erpkit.core.registry import OptionList

_CACHE = "erpkit.options"
_GEN = "erpkit.options.generation"
OPTION_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}$")
LABEL_MAX = 100


# -- defaults, once per database -----------------------------------------------------------


def sync_defaults(session: Session, option_lists: Iterable[OptionList]) -> list[str]:
    """Insert the default options of lists this database sees for the first time.

    Returns the codes of the lists that were new. Lists seen before are left alone,
    whatever their options are now.
    """
    lists = {ol.code: ol for ol in option_lists}
    if not lists:
        return []
    seen = set(session.scalars(select(KnownOptionList.code)))
    new = [code for code in lists if code not in seen]
    if not new:
        return []
    # options may exist without the list being known (an admin or a script added them)
    existing = set(
        session.execute(
            select(OptionItem.list_code, OptionItem.code).where(OptionItem.list_code.in_(new))
        )
    )
    for code in new:
        session.add(KnownOptionList(code=code))
        for i, opt in enumerate(lists[code].options):
            if (code, opt.code) not in existing:
                session.add(
                    OptionItem(
                        list_code=code,
                        code=opt.code,
                        label_zh=opt.label_zh,
                        label_en=opt.label_en,
                        sort=(i + 1) * 10,
                        active=True,
                    )
                )
    session.flush()
    invalidate(session)
    return new


def sync(erp) -> list[str]:
    """:func:`sync_defaults` for every registered list, safe against concurrent workers."""
    for attempt in range(3):
        try:
            with erp.sessionmaker.begin() as s:
                return sync_defaults(s, erp.registry.option_lists.values())
        except IntegrityError:  # another worker starting at the same moment did it first
            if attempt == 2:
                raise
    return []


# -- reading, one query per list ------------------------------------------------------------


def invalidate(session: Session) -> None:
    """Forget the lists read in this session (after a change)."""
    session.info.pop(_CACHE, None)
    session.info.pop(_GEN, None)


def seed_generation(session: Session, gen: int) -> None:
    """The options counter as ``session``'s transaction saw it, read together with other
    counters (erpkit.core.fields.definitions): :func:`load` then reads it no more."""
    if not generations.bumped_here(session, GENERATION):
        session.info.setdefault(_GEN, gen)


@dataclass(frozen=True, slots=True)
class Option:
    """One option as read (not an ORM object: shared between requests, never changed)."""

    id: int
    list_code: str
    code: str
    label_zh: str
    label_en: str
    sort: int
    active: bool

    def label(self, locale: str) -> str:
        return self.label_zh if locale == "zh_CN" else self.label_en


GENERATION = "options"
generations.watch(
    GENERATION, changed=(OptionItem, KnownOptionList), inserted=(OptionItem, KnownOptionList)
)
#: lists read, per database (the engine's pool), while the "options" counter stands still
_SHARED: WeakKeyDictionary[Any, generations.GenerationCache] = WeakKeyDictionary()
_COLUMNS = (
    OptionItem.id,
    OptionItem.list_code,
    OptionItem.code,
    OptionItem.label_zh,
    OptionItem.label_en,
    OptionItem.sort,
    OptionItem.active,
)


def load(session: Session, list_codes: Iterable[str]) -> dict[str, list[Option]]:
    """Every option (active or not) of each list, in order.

    Lists are kept for the session, and across sessions of this process until any
    process changes an option list (the "options" generation counter, read once per
    session). Uncached lists cost one query together."""
    cache: dict[str, list[Option]] = session.info.setdefault(_CACHE, {})
    wanted = list(dict.fromkeys(list_codes))
    missing = [c for c in wanted if c not in cache]
    if missing:
        bind = session.get_bind()  # an Engine, or a Connection the session was bound to
        pool = bind.engine.pool
        shared = _SHARED.get(pool)
        if shared is None:
            shared = _SHARED.setdefault(pool, generations.GenerationCache(1000))
        own = generations.bumped_here(session, GENERATION)
        gen = None
        if not own:
            gen = session.info.get(_GEN)
            if gen is None:
                (gen,) = generations.current_in(session, GENERATION)
                session.info[_GEN] = gen
            for code in missing:
                hit = shared.get(code, gen)
                if hit is not None:
                    cache[code] = hit
            missing = [c for c in missing if c not in cache]
    if missing:
        found: dict[str, list[Option]] = {c: [] for c in missing}
        rows = session.execute(
            select(*_COLUMNS)
            .where(OptionItem.list_code.in_(missing))
            .order_by(OptionItem.list_code, OptionItem.sort, OptionItem.id)
        )
        for row in rows:
            found[row.list_code].append(Option(*row))
        cache.update(found)
        if gen is not None and not generations.bumped_here(session, GENERATION):
            for code, opts in found.items():
                shared.put(code, gen, opts)
    return {c: cache[c] for c in wanted}


def options(session: Session, list_code: str) -> list[Option]:
    """The options of one list, active and inactive, in the admin's order."""
    return load(session, [list_code])[list_code]


def _locale(locale: str | None) -> str:
    return locale or i18n.current_locale()


def choices(
    session: Session, list_code: str, locale: str | None = None, *, keep: str | None = None
) -> list[tuple[str, str]]:
    """``[(code, label)]`` of the active options, in order, for a select.

    ``keep`` is the value a record already holds: it stays in the list even when its
    option was deactivated, so that editing the record does not silently change it.
    """
    loc = _locale(locale)
    return [
        (o.code, o.label(loc))
        for o in options(session, list_code)
        if o.active or (keep is not None and o.code == keep)
    ]


def labels(session: Session, list_code: str, locale: str | None = None) -> dict[str, str]:
    """Code -> label for every option, inactive ones too (for showing stored values)."""
    loc = _locale(locale)
    return {o.code: o.label(loc) for o in options(session, list_code)}


def label(session: Session, list_code: str, code: str | None, locale: str | None = None) -> str:
    """The label of ``code`` (inactive options too); an unknown code shows as itself."""
    if code is None or code == "":
        return ""
    return labels(session, list_code, locale).get(code, code)


def check(
    session: Session,
    list_code: str,
    code: Any,
    *,
    field: str | None = None,
    previous: Any = None,
) -> str:
    """``code`` if it is an active option of the list, else :class:`ValidationError`.

    The error is keyed by ``field`` (default: the list's last part, ``region`` for
    ``customers.region``). ``previous`` is the value the record holds already: it is
    accepted even if its option was deactivated since.
    """
    key = field or list_code.rsplit(".", 1)[-1]
    if not isinstance(code, str):
        raise ValidationError({key: _("Choose one of the options.")})
    by_code = {o.code: o for o in options(session, list_code)}
    opt = by_code.get(code)
    if opt is None:
        raise ValidationError({key: _("Choose one of the options.")})
    if not opt.active and code != previous:
        raise ValidationError({key: _("This option is no longer in use.")})
    return code


# -- the admin's changes -----------------------------------------------------------------------


def require_list(list_code: str, registered: Mapping[str, OptionList]) -> str:
    """``list_code`` if an enabled plugin registered it, else :class:`NotFound`."""
    if list_code not in registered:
        raise NotFound(_("No such option list."))
    return list_code


def _clean_labels(label_zh: Any, label_en: Any) -> tuple[str, str]:
    errors = {}
    out = []
    for key, value in (("label_zh", label_zh), ("label_en", label_en)):
        text = value.strip() if isinstance(value, str) else ""
        if not text or "\x00" in text:
            errors[key] = _("Enter a label.")
        elif len(text) > LABEL_MAX:
            errors[key] = _("At most %(n)s characters.", n=LABEL_MAX)
        out.append(text)
    if errors:
        raise ValidationError(errors)
    return out[0], out[1]


def get_option(session: Session, list_code: str, code: str) -> OptionItem:
    if not OPTION_CODE.match(code):
        raise NotFound(_("No such option."))
    opt = session.scalar(
        select(OptionItem).where(OptionItem.list_code == list_code, OptionItem.code == code)
    )
    if opt is None:
        raise NotFound(_("No such option."))
    return opt


def add_option(
    session: Session,
    list_code: str,
    code: str,
    label_zh: str,
    label_en: str,
    *,
    active: bool = True,
) -> OptionItem:
    """Add an option at the end of a list; codes are unique within the list."""
    code = code.strip() if isinstance(code, str) else ""
    errors = {}
    if not OPTION_CODE.match(code):
        errors["code"] = _(
            "Use up to 50 letters, digits, '_', '-' or '.', starting with a letter or digit."
        )
    try:
        label_zh, label_en = _clean_labels(label_zh, label_en)
    except ValidationError as exc:
        errors.update(exc.errors)
    if "code" not in errors and session.scalar(
        select(OptionItem.id).where(OptionItem.list_code == list_code, OptionItem.code == code)
    ):
        errors["code"] = _("This code is already in the list.")
    if errors:
        raise ValidationError(errors)
    last = session.scalar(
        select(func.max(OptionItem.sort)).where(OptionItem.list_code == list_code)
    )
    opt = OptionItem(
        list_code=list_code,
        code=code,
        label_zh=label_zh,
        label_en=label_en,
        sort=(last or 0) + 10,
        active=active,
    )
    session.add(opt)
    session.flush()
    invalidate(session)
    return opt


def update_option(
    session: Session,
    list_code: str,
    code: str,
    *,
    label_zh: str | None = None,
    label_en: str | None = None,
    sort: int | None = None,
    active: bool | None = None,
) -> OptionItem:
    """Change labels, position or the active flag of an option (its code is fixed)."""
    opt = get_option(session, list_code, code)
    if label_zh is not None or label_en is not None:
        opt.label_zh, opt.label_en = _clean_labels(
            opt.label_zh if label_zh is None else label_zh,
            opt.label_en if label_en is None else label_en,
        )
    if sort is not None:
        opt.sort = sort
    if active is not None:
        opt.active = active
    session.flush()
    invalidate(session)
    return opt


def reorder(session: Session, list_code: str, codes: list[str]) -> list[Option]:
    """Put the options in the order of ``codes`` (which must name each option once)."""
    rows = session.scalars(select(OptionItem).where(OptionItem.list_code == list_code))
    by_code = {o.code: o for o in rows}
    if sorted(codes) != sorted(by_code) or len(set(codes)) != len(codes):
        raise ValidationError({"codes": _("List every option of the list exactly once.")})
    for i, code in enumerate(codes):
        by_code[code].sort = (i + 1) * 10
    session.flush()
    invalidate(session)
    return options(session, list_code)


def move(session: Session, list_code: str, code: str, direction: str) -> list[Option]:
    """Move an option one place ``"up"`` or ``"down"``."""
    codes = [o.code for o in options(session, list_code)]
    if code not in codes:
        raise NotFound(_("No such option."))
    if direction not in ("up", "down"):
        raise ValidationError({"direction": _("Move up or down.")})
    i = codes.index(code)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(codes):
        codes[i], codes[j] = codes[j], codes[i]
    return reorder(session, list_code, codes)
