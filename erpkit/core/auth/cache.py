"""Who is asking, without two joined queries per request.

Every request resolves its bearer token or session cookie to a :class:`CurrentUser`
(the user, roles, permissions, data scope). That snapshot is cached per process,
keyed by the token's hash or the session id, and stamped with the ``auth``
generation counter (:mod:`erpkit.core.generations`). Any change that could alter an
existing snapshot raises the counter in its own transaction: a user, role, grant or
role assignment inserted, updated or deleted, a session or token deleted (sign-out,
deactivation, new password, revoked token). A request then costs one primary-key
read of the counter, started after the request came in (on PostgreSQL awaited, not
holding the event loop: :func:`generation`); after a change in any process, the next
request of every process loads afresh. New sessions and tokens need no bump (nobody
has cached them), nor do the housekeeping statements run with the execution option
``erpkit_auth_neutral`` (expired sessions removed, a token's last use recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from erpkit.core import generations
from erpkit.core.auth import models, service
from erpkit.core.db import utcnow

if TYPE_CHECKING:
    from erpkit.core.app import Erp

GENERATION = models.GENERATION
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Entry:
    user: service.CurrentUser
    expires_at: datetime | None


def _cache(erp: Erp) -> generations.GenerationCache:
    cache = getattr(erp, "_auth_cache", None)
    if cache is None:
        cache = erp._auth_cache = generations.GenerationCache()
        erp._auth_touched = {}
    return cache


async def generation(erp: Erp) -> int:
    """The ``auth`` counter now, read without holding the event loop
    (:func:`erpkit.core.generations.current_async`): the middleware reads it and passes it
    to :func:`user_for_token` or :func:`user_for_session` for the same request."""
    (gen,) = await generations.current_async(erp.engine, GENERATION)
    return gen


class NeedsDatabase(Exception):
    """Raised instead of reading or writing the database when the caller said it must not
    wait for it (``database=False``: the event loop on PostgreSQL); the caller asks again
    in a thread."""


def user_for_token(
    erp: Erp, token: str, gen: int | None = None, *, database: bool = True
) -> service.CurrentUser | None:
    """The user of a valid bearer token; records its use at most once a minute. ``gen``
    is the ``auth`` counter read for this request (:func:`generation`); read here when
    not given. ``database=False``: answer from the cache or raise :class:`NeedsDatabase`."""
    if not token.startswith(service.TOKEN_PREFIX) or len(token) > 200:
        return None
    key = ("token", service.token_hash(token))
    cache = _cache(erp)
    if gen is None:
        (gen,) = generations.current(erp.engine, GENERATION)
    now = utcnow()
    entry = cache.get(key, gen)
    if entry is None or (entry.expires_at is not None and entry.expires_at <= now):
        if not database:
            raise NeedsDatabase
        with erp.read_sessionmaker() as s, s.begin():
            found = service.token_row(s, token)
            if found is None:
                cache.discard(key)
                return None
            user, expires_at, last_used_at = found
            if expires_at is not None and expires_at <= now:
                return None
            entry = _Entry(service.current_user_from(s, user), expires_at)
        cache.put(key, gen, entry)
        if last_used_at is not None:
            erp._auth_touched.setdefault(key, last_used_at)
    last = erp._auth_touched.get(key)
    if last is None or now - last > TOUCH_EVERY:
        if not database:
            raise NeedsDatabase
        erp._auth_touched[key] = now
        if len(erp._auth_touched) > 2 * cache.size:
            erp._auth_touched.clear()
        with erp.sessionmaker.begin() as s:
            service.touch_token(s, token)
    return entry.user


def user_for_session(
    erp: Erp, sid: str, gen: int | None = None, *, database: bool = True
) -> service.CurrentUser | None:
    """The user of a live browser session (``sid`` from the signed cookie); ``gen`` and
    ``database`` as for :func:`user_for_token`."""
    key = ("session", sid)
    cache = _cache(erp)
    if gen is None:
        (gen,) = generations.current(erp.engine, GENERATION)
    now = utcnow()
    entry = cache.get(key, gen)
    if entry is None or entry.expires_at <= now:
        if not database:
            raise NeedsDatabase
        with erp.read_sessionmaker() as s, s.begin():
            found = service.session_row(s, sid)
            if found is None:
                cache.discard(key)
                return None
            user, expires_at = found
            entry = _Entry(service.current_user_from(s, user), expires_at)
        cache.put(key, gen, entry)
    return entry.user
