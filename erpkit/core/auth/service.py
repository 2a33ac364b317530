"""Users, roles, permissions, sessions, tokens, throttling and data scope.

The rules live here; the admin pages, the JSON API and the CLI all call these
functions with a SQLAlchemy session inside one transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    event,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from erpkit.core import generations
from erpkit.core.auth.models import (
    DATA_SCOPES,
    GENERATION,
    NEUTRAL,
    ApiToken,
    Department,
    KnownPermission,
    LoginFailure,
    LoginSession,
    Role,
    RolePermission,
    User,
    UserRole,
)
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, NotFound, Throttled, ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.registry import Permission

ADMIN_ROLE = "admin"
_hasher = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile (64 MiB, t=3)
# Verified against when the user does not exist, so that both answers take as long;
# made on first use, not at import (one hash costs ~0.2 s here).
_dummy_hash: str | None = None


def set_password_hasher(hasher: PasswordHasher) -> None:
    """Replace the argon2 parameters (test suites use a cheap profile; never in production)."""
    global _hasher, _dummy_hash
    _hasher = hasher
    _dummy_hash = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("erpkit-not-a-password")
    return _dummy_hash


_USERNAME = re.compile(r"^[\w.@+-]{1,64}$")
MIN_PASSWORD_LENGTH = 8


# -- the signed-in user -----------------------------------------------------------


@dataclass(frozen=True)
class CurrentUser:
    """A snapshot of the signed-in user for one request (not an ORM object)."""

    id: int
    username: str
    display_name: str
    locale: str | None
    department_id: int | None
    superior_id: int | None
    roles: frozenset[str]
    permissions: frozenset[str] = field(default_factory=frozenset)
    data_scope: str = "own"

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def can(self, permission: str) -> bool:
        return self.is_admin or permission in self.permissions

    @property
    def label(self) -> str:
        return self.display_name or self.username


def current_user_from(session: Session, user: User) -> CurrentUser:
    """The request's snapshot of ``user``: roles, permissions and data scope in one query."""
    rows = session.execute(
        select(Role.code, Role.data_scope, RolePermission.permission)
        .join(UserRole, UserRole.role_id == Role.id)
        .outerjoin(RolePermission, RolePermission.role_id == Role.id)
        .where(UserRole.user_id == user.id)
    ).all()
    roles = {code: scope for code, scope, _perm in rows}
    perms = {perm for _code, _scope, perm in rows if perm is not None}
    scope = max(roles.values(), key=DATA_SCOPES.index, default="own")
    return CurrentUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        locale=user.locale,
        department_id=user.department_id,
        superior_id=user.superior_id,
        roles=frozenset(roles),
        permissions=frozenset(perms),
        data_scope="all" if ADMIN_ROLE in roles else scope,
    )


# -- passwords ----------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            {"password": _("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)}
        )


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# -- users --------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    return username.strip().lower()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == normalise_username(username)))


#: The ``auth`` counter the middleware read for the request being handled
#: (:func:`erpkit.core.auth.cache.generation`); None outside requests (jobs, commands).
REQUEST_AUTH_GENERATION: ContextVar[int | None] = ContextVar(
    "erpkit_request_auth_generation", default=None
)
#: per database (the engine's pool): user id -> label, stamped with the ``auth`` counter
_LABELS: WeakKeyDictionary[Any, generations.GenerationCache] = WeakKeyDictionary()


# first among the after_commit listeners: generations forgets the session's bumps in its own
@event.listens_for(Session, "after_commit", insert=True)
def _auth_changed_here(session: Session) -> None:
    # a request that committed a change to users (a rename) reads names afresh from then
    # on: the counter its middleware read is older than that change
    if generations.bumped_here(session, GENERATION):
        REQUEST_AUTH_GENERATION.set(None)


def user_labels(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """User id -> name to show (the display name, else the user name), in one query.

    During a request, names are kept per process under the ``auth`` counter the
    middleware read for it (any change to a user raises that counter): a list page's
    owners cost no query once seen. The session reads after that counter was read, so
    what it loads is never older than the counter it is kept under. A session with
    changes of its own (pending, or raised the counter) reads the database, and so does
    the rest of a request (in its thread) once it committed such a change."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    out: dict[int, str] = {}
    cache = None
    gen = REQUEST_AUTH_GENERATION.get()
    if (
        gen is not None
        and not (session.new or session.dirty or session.deleted)
        and not generations.bumped_here(session, GENERATION)
    ):
        pool = session.get_bind().engine.pool
        cache = _LABELS.get(pool)
        if cache is None:
            cache = _LABELS.setdefault(pool, generations.GenerationCache())
        for uid in wanted:
            hit = cache.get(uid, gen)
            if hit is not None:
                out[uid] = hit
        if len(out) == len(wanted):
            return out
        wanted.difference_update(out)
    rows = session.execute(
        select(User.id, User.display_name, User.username).where(User.id.in_(wanted))
    )
    for uid, display, username in rows:
        out[uid] = display or username
        if cache is not None:
            cache.put(uid, gen, out[uid])
    return out


def search_users(
    session: Session, q: str | None, page: int, per_page: int
) -> tuple[list[User], int]:
    """One page of users (by id) whose user name or name contains ``q``, and the total."""
    stmt = select(User)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(func.lower(User.username).like(like), func.lower(User.display_name).like(like))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    users = list(
        session.scalars(stmt.order_by(User.id).limit(per_page).offset((page - 1) * per_page))
    )
    return users, total


def _roles_by_code(session: Session, codes: Iterable[str]) -> list[Role]:
    codes = list(dict.fromkeys(codes))
    roles = list(session.scalars(select(Role).where(Role.code.in_(codes)))) if codes else []
    missing = sorted(set(codes) - {r.code for r in roles})
    if missing:
        raise ValidationError({"roles": _("Unknown role: %(role)s", role=missing[0])})
    return roles


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    roles: Iterable[str] = (),
    display_name: str = "",
    email: str = "",
    department_id: int | None = None,
    superior_id: int | None = None,
    locale: str | None = None,
) -> User:
    username = normalise_username(username)
    errors: dict[str, str] = {}
    if not _USERNAME.match(username):
        errors["username"] = _("Use 1 to 64 letters, digits or . @ + - _ characters.")
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = _("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    if errors:
        raise ValidationError(errors)
    if find_user(session, username) is not None:
        raise Conflict(_("The user name %(name)s is taken.", name=username))
    user = User(username=username, password_hash=hash_password(password))
    user.roles = _roles_by_code(session, roles)
    _apply_profile(session, user, display_name, email, department_id, superior_id, locale)
    session.add(user)
    session.flush()
    return user


def update_user(
    session: Session,
    user: User,
    *,
    display_name: str | None = None,
    email: str | None = None,
    department_id: int | type[...] | None = ...,
    superior_id: int | type[...] | None = ...,
    locale: str | type[...] | None = ...,
    roles: Iterable[str] | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    if roles is not None:
        user.roles = _roles_by_code(session, roles)
    _apply_profile(
        session,
        user,
        user.display_name if display_name is None else display_name,
        user.email if email is None else email,
        user.department_id if department_id is ... else department_id,
        user.superior_id if superior_id is ... else superior_id,
        user.locale if locale is ... else locale,
    )
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    if password:
        set_password(session, user, password)
    session.flush()
    return user


def _apply_profile(session, user, display_name, email, department_id, superior_id, locale):
    errors: dict[str, str] = {}
    if len(display_name or "") > 100:
        errors["display_name"] = _("At most %(n)s characters.", n=100)
    if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        errors["email"] = _("Enter a valid e-mail address.")
    if department_id is not None and session.get(Department, department_id) is None:
        errors["department_id"] = _("No such department.")
    if superior_id is not None:
        if user.id is not None and superior_id == user.id:
            errors["superior_id"] = _("A user cannot be their own superior.")
        elif session.get(User, superior_id) is None:
            errors["superior_id"] = _("No such user.")
        elif user.id is not None and _is_below(session, superior_id, user.id):
            errors["superior_id"] = _("This would make a circle of superiors.")
    if locale not in (None, "", "zh_CN", "en"):
        errors["locale"] = _("Choose 简体中文 or English.")
    if errors:
        raise ValidationError(errors)
    user.display_name = display_name or ""
    user.email = email or ""
    user.department_id = department_id
    user.superior_id = superior_id
    user.locale = locale or None


def _is_below(session: Session, candidate_id: int, user_id: int) -> bool:
    """True when ``candidate_id`` reports (directly or not) to ``user_id``."""
    seen: set[int] = set()
    current: int | None = candidate_id
    while current is not None and current not in seen:
        if current == user_id:
            return True
        seen.add(current)
        current = session.scalar(select(User.superior_id).where(User.id == current))
    return False


def set_password(session: Session, user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    # a new password signs every browser out
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


def change_own_password(session: Session, user: User, current: str, new: str, confirm: str) -> None:
    """A user changes their own password; the current one must be right."""
    errors: dict[str, str] = {}
    if not _verify(user.password_hash, current or ""):
        errors["current_password"] = _("The current password is wrong.")
    if len(new or "") < MIN_PASSWORD_LENGTH:
        errors["new_password"] = _("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    elif new != confirm:
        errors["confirm_password"] = _("The two new passwords differ.")
    if errors:
        raise ValidationError(errors)
    set_password(session, user, new)


# -- departments --------------------------------------------------------------------


def create_department(session: Session, name: str, parent_id: int | None = None) -> Department:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": _("Enter a name of at most %(n)s characters.", n=100)})
    if session.scalar(select(Department.id).where(Department.name == name)) is not None:
        raise Conflict(_("A department named %(name)s exists already.", name=name))
    if parent_id is not None and session.get(Department, parent_id) is None:
        raise ValidationError({"parent_id": _("No such department.")})
    dept = Department(name=name, parent_id=parent_id)
    session.add(dept)
    session.flush()
    return dept


def find_department(session: Session, name: str) -> Department | None:
    return session.scalar(select(Department).where(Department.name == name.strip()))


def department_subtree(department_id: int):
    """A recursive CTE of ``department_id`` and every department below it."""
    tree = (
        select(Department.id.label("id"))
        .where(Department.id == bindparam("scope_department_id", department_id))
        .cte("dept_tree", recursive=True)
    )
    return tree.union_all(select(Department.id).where(Department.parent_id == tree.c.id))


# -- roles and grants -----------------------------------------------------------------


_ROLE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,49}$")


def create_role(
    session: Session, code: str, name_zh: str, name_en: str, data_scope: str = "own"
) -> Role:
    """A new role (角色) without permissions; grant them with :func:`grant`."""
    code = (code or "").strip()
    errors: dict[str, str] = {}
    if not _ROLE_CODE.match(code):
        errors["code"] = _("Use 2 to 50 lower-case letters, digits or _, starting with a letter.")
    for key, value in (("name_zh", name_zh), ("name_en", name_en)):
        if not (value or "").strip() or len(value) > 100:
            errors[key] = _("Enter a name of at most %(n)s characters.", n=100)
    if data_scope not in DATA_SCOPES:
        errors["data_scope"] = _("Choose own, department or all.")
    if errors:
        raise ValidationError(errors)
    if session.scalar(select(Role.id).where(Role.code == code)) is not None:
        raise Conflict(_("A role with the code %(code)s exists already.", code=code))
    role = Role(
        code=code,
        name_zh=name_zh.strip(),
        name_en=name_en.strip(),
        data_scope=data_scope,
        builtin=False,
    )
    session.add(role)
    session.flush()
    return role


def grant(
    session: Session,
    role_code: str,
    permissions: Iterable[str],
    known: Iterable[str],
    data_scope: str | None = None,
) -> None:
    """Give ``role_code`` exactly ``permissions`` (replacing its grants)."""
    role = session.scalar(select(Role).where(Role.code == role_code))
    if role is None:
        raise NotFound(_("No such role."))
    if data_scope is not None:
        if data_scope not in DATA_SCOPES:
            raise ValidationError({"data_scope": _("Choose own, department or all.")})
        role.data_scope = data_scope
    known = set(known)
    wanted = set(permissions)
    unknown = sorted(wanted - known)
    if unknown:
        raise ValidationError({"permissions": _("Unknown permission: %(p)s", p=unknown[0])})
    session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    session.add_all(RolePermission(role_id=role.id, permission=p) for p in sorted(wanted))
    session.flush()


def role_grants(session: Session) -> dict[int, list[str]]:
    """Role id -> granted permission codes."""
    grants: dict[int, list[str]] = {}
    for rid, perm in session.execute(select(RolePermission.role_id, RolePermission.permission)):
        grants.setdefault(rid, []).append(perm)
    return grants


def check_self_edit(actor: CurrentUser, user_id: int, changes: dict) -> None:
    """An admin cannot deactivate themself or drop their own admin role."""
    if user_id != actor.id:
        return
    if changes.get("is_active") is False:
        raise ValidationError({"is_active": _("You cannot lock yourself out.")})
    if actor.is_admin and "roles" in changes and ADMIN_ROLE not in changes["roles"]:
        raise ValidationError({"roles": _("You cannot remove your own admin role.")})


def sync_permissions(session: Session, permissions: Iterable[Permission]) -> list[str]:
    """Apply default grants of permissions this database sees for the first time."""
    perms = {p.code: p for p in permissions}
    seen = set(session.scalars(select(KnownPermission.code)))
    new = [code for code in perms if code not in seen]
    if not new:
        return []
    roles = {r.code: r.id for r in session.scalars(select(Role))}
    granted = {
        (rid, perm)
        for rid, perm in session.execute(select(RolePermission.role_id, RolePermission.permission))
    }
    for code in new:
        session.add(KnownPermission(code=code))
        for role_code in perms[code].default_roles:
            rid = roles.get(role_code)
            if rid is not None and (rid, code) not in granted:
                session.add(RolePermission(role_id=rid, permission=code))
    session.flush()
    return new


# -- sign-in, sessions, tokens ---------------------------------------------------------


def check_throttle(
    session: Session, username: str, client: str, max_failures: int, window: int
) -> None:
    since = utcnow() - timedelta(seconds=window)
    by_user = session.scalar(
        select(func.count()).where(LoginFailure.username == username, LoginFailure.at >= since)
    )
    by_client = session.scalar(
        select(func.count()).where(LoginFailure.client == client, LoginFailure.at >= since)
    )
    if by_user >= max_failures or by_client >= max_failures * 10:
        raise Throttled(
            _("Too many failed sign-ins. Try again in %(m)s minutes.", m=max(1, window // 60))
        )


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    client: str = "",
    max_failures: int = 5,
    window: int = 900,
) -> User | None:
    """The user when name and password match an active account, else ``None``.

    Unknown user, wrong password and deactivated user are indistinguishable, in
    answer and in time. Too many recent failures raise :class:`Throttled`.
    """
    name = normalise_username(username or "")[:64]
    client = (client or "")[:64]
    check_throttle(session, name, client, max_failures, window)
    user = find_user(session, name) if name else None
    ok = _verify(user.password_hash if user else _dummy(), password or "")
    if not (ok and user is not None and user.is_active):
        session.add(LoginFailure(username=name, client=client))
        session.execute(
            delete(LoginFailure).where(LoginFailure.at < utcnow() - timedelta(seconds=window))
        )
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.execute(delete(LoginFailure).where(LoginFailure.username == name))
    return user


def start_session(session: Session, user: User, max_age: int) -> str:
    sid = secrets.token_urlsafe(32)
    session.add(
        LoginSession(id=sid, user_id=user.id, expires_at=utcnow() + timedelta(seconds=max_age))
    )
    # housekeeping: an expired session is refused anyway, cached or not
    session.execute(
        delete(LoginSession).where(LoginSession.expires_at < utcnow()),
        execution_options=NEUTRAL,
    )
    return sid


def end_session(session: Session, sid: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.id == sid))


def session_row(session: Session, sid: str) -> tuple[User, datetime] | None:
    """The active user of a live browser session and when the session ends."""
    row = session.execute(
        select(User, LoginSession.expires_at)
        .options(lazyload("*"))
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == sid, LoginSession.expires_at > utcnow(), User.is_active)
    ).first()
    return (row[0], row[1]) if row else None


TOKEN_PREFIX = "ek_"  # noqa: S105 (a prefix that makes leaked tokens greppable)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str = "", days: int | None = None) -> str:
    """A new personal API token; the plain value is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days else None
    session.add(
        ApiToken(user_id=user.id, name=name[:100], token_hash=token_hash(token), expires_at=expires)
    )
    session.flush()
    return token


def token_row(session: Session, token: str) -> tuple[User, datetime | None, datetime | None] | None:
    """The active user of a token, the token's expiry and its last use (None: no such
    token, or its user is inactive). The caller checks the expiry."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(User, ApiToken.expires_at, ApiToken.last_used_at)
        .options(lazyload("*"))
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token), User.is_active)
    ).first()
    return (row[0], row[1], row[2]) if row else None


def touch_token(session: Session, token: str) -> None:
    """Record that the token was used (erpkit.core.auth.cache does it once a minute)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == token_hash(token))
        .values(last_used_at=utcnow()),
        execution_options=NEUTRAL,
    )


# -- data scope -------------------------------------------------------------------------


def scope_clause(
    user: CurrentUser, owner_column, *, also: ColumnElement[bool] | None = None
) -> ColumnElement[bool]:
    """The WHERE clause that limits a query to the records ``user`` may see.

    Its values are the named binds of :func:`scope_params` (``scope_user_id``,
    ``scope_department_id``). ``owner_column`` holds the owning user's id. ``also``
    widens the scope, e.g. "or the user is a member of the project". Admin and roles
    with scope ``all`` see everything; ``department`` sees records owned by anyone in
    the user's department or below it; ``own`` sees the user's records only.
    """
    if user.data_scope == "all":
        return true()
    # named binds: a statement built once per shape (erpkit.core.db.StatementCache) is
    # executed again with another user's values
    clauses = [owner_column == bindparam("scope_user_id", user.id)]
    if user.data_scope == "department" and user.department_id is not None:
        subtree = department_subtree(user.department_id)
        clauses.append(
            owner_column.in_(select(User.id).where(User.department_id.in_(select(subtree.c.id))))
        )
    if also is not None:
        clauses.append(also)
    return or_(*clauses) if clauses else false()


def scope_params(user: CurrentUser) -> dict[str, int | None]:
    """The values of :func:`scope_clause`'s named binds for ``user``."""
    return {"scope_user_id": user.id, "scope_department_id": user.department_id}


def scope_shape(user: CurrentUser) -> tuple:
    """What makes two users' scope clauses the same SQL (their values aside)."""
    return (user.data_scope, user.data_scope == "department" and user.department_id is not None)


def ensure_admin(session: Session, password: str | None) -> str | None:
    """Create the user ``admin`` on first start; returns a generated password, if any.

    With ``password`` given (``ERPKIT_ADMIN_PASSWORD``) it is used and nothing is
    returned; otherwise a random one is returned for the caller to show once.
    """
    if find_user(session, "admin") is not None:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    try:
        with session.begin_nested():
            create_user(session, "admin", password, roles=[ADMIN_ROLE])
    except (Conflict, IntegrityError):  # another worker created it first
        return None
    return generated
