"""The rules of customers: checking and saving, duplicates, scope, lists, follow-ups.

The API, the pages and the import all go through these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row, Select, asc, bindparam, desc, func, or_, select
from sqlalchemy.orm import Session

from erpkit.core import entities, paging, preferences
from erpkit.core.auth.models import User
from erpkit.core.auth.service import scope_params, scope_shape
from erpkit.core.db import StatementCache
from erpkit.core.errors import Conflict, PermissionDenied, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _

from . import checks
from .models import CATEGORIES, CHANNELS, KINDS, Contact, Customer, FollowUp

ENTITY = "customers.customer"
NUMBER_PATTERN = "CU{yyyy}{seq:06}"

#: field -> option list
OPTION_FIELDS = {
    "qualification": "customers.qualification",
    "region": "customers.region",
    "industry": "customers.industry",
    "source": "customers.source",
    "grade": "customers.grade",
    "follow_up_method": "customers.follow_up_method",
}
CATEGORY_LABELS = {
    "new": N_("New customer"),
    "old": N_("Returning customer"),
    "premium": N_("Premium customer"),
}
KIND_LABELS = {"company": N_("Company"), "person": N_("Person")}
CHANNEL_LABELS = {
    "sales": N_("Salesperson"),
    "clerk": N_("Clerk"),
    "import": N_("Import"),
    "wechat": N_("WeChat"),
}
TEXT_LIMITS = {"name": 200, "address": 300, "notes": 5000}

#: the duplicate keys and the admin's policy for each: warn or forbid
DUPLICATE_KEYS = {
    "name": N_("Same name"),
    "credit_code": N_("Same unified social credit code"),
    "phone": N_("Same phone"),
}
POLICIES = ("warn", "forbid")
POLICY_LABELS = {"warn": N_("Warn"), "forbid": N_("Forbid")}
DEFAULT_POLICY = {"name": "warn", "credit_code": "forbid", "phone": "warn"}
POLICY_KEY = "customers.duplicates"

PERM_VIEW = "customers.view"
PERM_CREATE = "customers.create"
PERM_EDIT = "customers.edit"
PERM_REASSIGN = "customers.reassign"
PERM_EXPORT = "customers.export"
PERM_SETTINGS = "customers.settings"


# -- checking input --------------------------------------------------------------------------


def _text(values: Mapping[str, Any], key: str, errors: dict[str, str], required=False):
    raw = values.get(key)
    if raw is None:
        if required:
            errors[key] = _("This field is required.")
        return None
    if not isinstance(raw, str):
        errors[key] = _("Enter text.")
        return None
    text = raw.strip()
    if not text:
        if required:
            errors[key] = _("This field is required.")
        return None
    limit = TEXT_LIMITS.get(key, 200)
    if len(text) > limit:
        errors[key] = _("At most %(n)s characters.", n=limit)
        return None
    return text


def _checked(fn, value, field: str, errors: dict[str, str]):
    try:
        return fn(value)
    except ValidationError as exc:
        errors.update({field: next(iter(exc.errors.values()))})
        return None


def clean(
    session: Session,
    values: Mapping[str, Any],
    *,
    previous: Customer | None = None,
) -> dict[str, Any]:
    """The checked and normalised values of a customer form or API body: only the keys
    given (a PATCH), all errors at once as one :class:`ValidationError`."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    creating = previous is None
    if "name" in values or creating:
        name = _text(values, "name", errors, required=True)
        if name is not None:
            out["name"] = name
            out["name_key"] = checks.name_key(name) or name
    for key in ("address", "notes"):
        if key in values:
            out[key] = _text(values, key, errors)
    for key, fn in (
        ("credit_code", checks.clean_credit_code),
        ("id_number", checks.clean_id_number),
        ("phone", checks.clean_phone),
        ("email", checks.clean_email),
    ):
        if key in values:
            raw = values[key]
            if raw is not None and not isinstance(raw, str):
                errors[key] = _("Enter text.")
                continue
            out[key] = _checked(fn, raw, key, errors)
    for key, list_code in OPTION_FIELDS.items():
        if key not in values:
            continue
        code = values[key]
        if code is None or code == "":
            out[key] = None
            continue
        try:
            out[key] = options.check(
                session,
                list_code,
                code,
                field=key,
                previous=getattr(previous, key, None),
            )
        except ValidationError as exc:
            errors.update(exc.errors)
    for key, allowed, default in (
        ("category", CATEGORIES, "new"),
        ("kind", KINDS, "company"),
    ):
        if key in values or creating:
            value = values.get(key) or default
            if value not in allowed:
                errors[key] = _("Choose one of the options.")
            else:
                out[key] = value
    if errors:
        raise ValidationError(errors)
    return out


# -- duplicates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    key: str  # name / credit_code / phone
    id: int
    code: str
    name: str
    owner: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "owner": self.owner,
        }


class DuplicateWarning(Conflict):
    """Possible duplicates under the "warn" policy: 409 until the user confirms."""

    def __init__(self, found: list[Duplicate]) -> None:
        super().__init__(
            _("Similar customers exist already. Check them, then save again to confirm.")
        )
        self.found = found
        self.errors = {d.key: duplicate_message(d) for d in found}
        self.extensions = {"duplicates": [d.to_json() for d in found], "confirm_with": "confirm"}


def duplicate_message(d: Duplicate) -> str:
    what = {
        "name": _("A customer with this name exists: %(code)s %(name)s (owner: %(owner)s)."),
        "credit_code": _(
            "A customer with this credit code exists: %(code)s %(name)s (owner: %(owner)s)."
        ),
        "phone": _("A customer with this phone exists: %(code)s %(name)s (owner: %(owner)s)."),
    }[d.key]
    return what % {"code": d.code, "name": d.name, "owner": d.owner}


def policy(session: Session) -> dict[str, str]:
    stored = preferences.get(session, POLICY_KEY, {}) or {}
    return {k: stored.get(k, DEFAULT_POLICY[k]) for k in DUPLICATE_KEYS}


def set_policy(session: Session, values: Mapping[str, Any], user) -> dict[str, str]:
    errors = {}
    new = {}
    for key in DUPLICATE_KEYS:
        value = values.get(key, DEFAULT_POLICY[key])
        if value not in POLICIES:
            errors[key] = _("Choose warn or forbid.")
        new[key] = value
    if errors:
        raise ValidationError(errors)
    preferences.put(session, POLICY_KEY, new, user)
    return new


def find_duplicates(
    session: Session,
    *,
    name_key: str | None,
    credit_code: str | None,
    phone: str | None,
    exclude_id: int | None = None,
    limit: int = 5,
) -> list[Duplicate]:
    """Customers (of any owner) sharing the normalised name, credit code or phone.

    Any owner: two salespeople must not both enter one customer. Only code, name and
    owner are shown of a customer the user may not open."""
    conds = []
    if name_key:
        conds.append(Customer.name_key == name_key)
    if credit_code:
        conds.append(Customer.credit_code == credit_code)
    if phone:
        conds.append(Customer.phone == phone)
    if not conds:
        return []
    stmt = (
        select(
            Customer.id,
            Customer.code,
            Customer.name,
            Customer.name_key,
            Customer.credit_code,
            Customer.phone,
            func.coalesce(func.nullif(User.display_name, ""), User.username),
        )
        .join(User, User.id == Customer.owner_id)
        .where(or_(*conds))
        .order_by(Customer.id)
        .limit(limit * 3)
    )
    if exclude_id is not None:
        stmt = stmt.where(Customer.id != exclude_id)
    found: list[Duplicate] = []
    for cid, code, name, key, credit, ph, owner in session.execute(stmt):
        for dup_key, mine, theirs in (
            ("credit_code", credit_code, credit),
            ("phone", phone, ph),
            ("name", name_key, key),
        ):
            if mine and mine == theirs:
                found.append(Duplicate(dup_key, cid, code, name, owner or ""))
                break
    return found[:limit]


def check_duplicates(
    session: Session, values: Mapping[str, Any], *, exclude_id: int | None, confirm: bool
) -> None:
    """Apply the admin's policy: forbid -> 422 on the field; warn -> 409 unless confirmed."""
    found = find_duplicates(
        session,
        name_key=values.get("name_key"),
        credit_code=values.get("credit_code"),
        phone=values.get("phone"),
        exclude_id=exclude_id,
    )
    if not found:
        return
    rules = policy(session)
    forbidden = [d for d in found if rules[d.key] == "forbid"]
    if forbidden:
        raise ValidationError({d.key: duplicate_message(d) for d in forbidden})
    if not confirm:
        raise DuplicateWarning(found)


# -- owners and permissions --------------------------------------------------------------------


def check_owner(session: Session, owner_id: Any, user, field: str = "owner_id") -> int:
    """``owner_id`` if it names an active user whom ``user`` may give customers to."""
    if isinstance(owner_id, bool) or not isinstance(owner_id, int):
        raise ValidationError({field: _("Choose a user.")})
    if owner_id == user.id:
        return owner_id
    if not user.can(PERM_REASSIGN):
        raise PermissionDenied(_("You may not give customers to other users."))
    owner = session.get(User, owner_id)
    if owner is None or not owner.is_active:
        raise ValidationError({field: _("Choose an active user.")})
    return owner_id


def channel_for(user, requested: str | None = None) -> str:
    """The entry channel of a customer entered by hand: the clerk's or the sales'."""
    if requested in CHANNELS:
        return requested
    return "clerk" if "clerk" in getattr(user, "roles", ()) else "sales"


# -- saving ------------------------------------------------------------------------------------


def create_customer(
    erp,
    session: Session,
    values: Mapping[str, Any],
    user,
    *,
    confirm: bool = False,
    channel: str | None = None,
) -> Customer:
    data = clean(session, values)
    owner = values.get("owner_id")
    data["owner_id"] = user.id if owner in (None, "") else check_owner(session, owner, user)
    data["entry_channel"] = channel_for(user, channel)
    data["created_by"] = user.id
    if "custom" in values:
        data["custom"] = values["custom"] or {}
    check_duplicates(session, data, exclude_id=None, confirm=confirm)
    return entities.create(erp, session, ENTITY, data, user)


def update_customer(
    erp,
    session: Session,
    customer: Customer,
    values: Mapping[str, Any],
    user,
    *,
    confirm: bool = False,
) -> Customer:
    if not user.can(PERM_EDIT):
        raise PermissionDenied(_("You are not allowed to do this."))
    data = clean(session, values, previous=customer)
    if "owner_id" in values and values["owner_id"] != customer.owner_id:
        if not user.can(PERM_REASSIGN):
            raise PermissionDenied(_("You may not change the owner of a customer."))
        data["owner_id"] = check_owner(session, values["owner_id"], user)
    if "custom" in values:
        data["custom"] = values["custom"] or {}
    keys = {k: data.get(k, getattr(customer, k)) for k in ("name_key", "credit_code", "phone")}
    changed = any(getattr(customer, k) != v for k, v in keys.items())
    if changed:
        check_duplicates(
            session,
            {k: v for k, v in keys.items() if getattr(customer, k) != v},
            exclude_id=customer.id,
            confirm=confirm,
        )
    return entities.update(erp, session, ENTITY, customer, data, user)


def get_visible(erp, session: Session, customer_id: int, user) -> Customer:
    return entities.visible(erp, session, entities.entity_type(erp, ENTITY), customer_id, user)


# -- the list ------------------------------------------------------------------------------------

SORTS = {
    "code": Customer.code,
    "name": Customer.name,
    "region": Customer.region,
    "industry": Customer.industry,
    "source": Customer.source,
    "grade": Customer.grade,
    "category": Customer.category,
    "qualification": Customer.qualification,
    "entry_channel": Customer.entry_channel,
    "owner_id": Customer.owner_id,
    "next_follow_up_at": Customer.next_follow_up_at,
    "created_at": Customer.id,
    "id": Customer.id,
}
FILTERS = (*OPTION_FIELDS, "category", "kind", "entry_channel")


@dataclass
class ListQuery:
    q: str | None = None
    owner_id: int | None = None
    filters: dict[str, str] | None = None
    due_by: date | None = None
    sort: str = "-id"
    page: int = 1
    per_page: int = 50
    #: a cursor (erpkit.core.paging) from the previous page's ``next_after``: the page
    #: after that row, found by an index seek however deep (``page`` is then ignored)
    after: str | None = None


def parse_sort(sort: str | None) -> str:
    sort = (sort or "-id").strip()
    key = sort.lstrip("-")
    if key not in SORTS:
        raise ValidationError({"sort": _("Sort by one of: %(keys)s.", keys=", ".join(SORTS))})
    return sort


def _binds(user, query: ListQuery) -> tuple[tuple, dict[str, Any]]:
    """The list's shape (what makes the SQL differ) and its values (named binds)."""
    params: dict[str, Any] = scope_params(user)
    q_parts: tuple = ()
    if query.q:
        text = query.q.strip()
        params["q_like"] = f"%{text.replace('%', '').replace('_', '')}%"
        params["q_code"] = text.upper()
        phone = checks.normalise_phone(text)
        if phone:
            params["q_phone"] = phone
        if len(text) == 18:
            params["q_credit"] = text.upper()
        q_parts = ("q", "q_phone" in params, "q_credit" in params)
    if query.owner_id is not None:
        params["owner_id"] = query.owner_id
    filters = tuple(sorted(k for k, v in (query.filters or {}).items() if v not in (None, "")))
    for key in filters:
        params[f"f_{key}"] = query.filters[key]
    if query.due_by is not None:
        params["due_by"] = query.due_by
    after = None
    if query.after:
        key = parse_sort(query.sort).lstrip("-")
        value, row_id = paging.decode(query.after, query.sort, _python_type(SORTS[key]))
        params.update(paging.params(value, row_id))
        after = value is None
    shape = (
        scope_shape(user),
        q_parts,
        query.owner_id is not None,
        filters,
        "due_by" in params,
        after,
    )
    return shape, params


def _python_type(column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def list_statement(erp, user, query: ListQuery, extra_where=()) -> Select:
    """The WHERE part of the list (scope, search, filters), on the customer table; its
    values are named binds (:func:`_binds`), so that it can be built once per shape."""
    et = entities.entity_type(erp, ENTITY)
    _shape, p = _binds(user, query)
    stmt = select(Customer.id).where(entities.scope(et, user))
    if "q_like" in p:
        conds = [
            Customer.name.like(bindparam("q_like", p["q_like"])),
            Customer.code == bindparam("q_code", p["q_code"]),
        ]
        if "q_phone" in p:
            conds.append(Customer.phone == bindparam("q_phone", p["q_phone"]))
        if "q_credit" in p:
            conds.append(Customer.credit_code == bindparam("q_credit", p["q_credit"]))
        stmt = stmt.where(or_(*conds))
    if "owner_id" in p:
        stmt = stmt.where(Customer.owner_id == bindparam("owner_id", p["owner_id"]))
    for name, value in p.items():
        if name.startswith("f_"):
            stmt = stmt.where(getattr(Customer, name[2:]) == bindparam(name, value))
    if "due_by" in p:
        stmt = stmt.where(Customer.next_follow_up_at <= bindparam("due_by", p["due_by"]))
    for cond in extra_where:
        stmt = stmt.where(cond)
    return stmt


def _after(sort: str, value, nulls_high: bool):
    return paging.after(
        SORTS[sort.lstrip("-")],
        Customer.id,
        null=value is None,
        descending=sort.startswith("-"),
        nulls_high=nulls_high,
    )


def _order(sort: str):
    key = sort.lstrip("-")
    column = SORTS[key]
    direction = desc if sort.startswith("-") else asc
    out = [direction(column)]
    if column is not Customer.id:
        out.append(direction(Customer.id))
    return out


#: the list's statements per shape (erpkit.core.db.StatementCache)
_STATEMENTS = StatementCache()


@dataclass
class ListPage:
    rows: list[Row]
    total: int
    #: the cursor of the page after this one (None on the last page)
    next_after: str | None


def search(erp, session: Session, user, query: ListQuery, extra_where=()) -> ListPage:
    """One page of the customers ``user`` may see (rows with the model's attribute names,
    read-only), how many there are, and the cursor of the next page.

    ``page`` pages with a "deferred join": the page's ids are found first on the indexes
    alone (OFFSET walks index entries, not rows), then only those rows are read. A cursor
    (``after``) seeks to the next page directly: deep pages cost what the first does
    (bench/customer_list.py). The statements are built once per shape of the query
    (filters set, sort, scope) and reused with this query's values."""
    sort = parse_sort(query.sort)
    shape, params = _binds(user, query)
    params["page_limit"] = query.per_page + 1  # one more: is there a next page?
    params["page_offset"] = 0 if query.after else (query.page - 1) * query.per_page
    nulls_high = session.get_bind().dialect.name == "postgresql"

    def build():
        where = list_statement(erp, user, query, extra_where)
        count = select(func.count()).select_from(where.subquery())
        if query.after:
            where = where.where(_after(sort, params["after_value"], nulls_high))
        ids = (
            where.order_by(*_order(sort))
            .limit(bindparam("page_limit", literal_execute=False))
            .offset(bindparam("page_offset", literal_execute=False))
            .subquery()
        )
        # plain rows (attribute access like the model's) rather than ORM objects: a list
        # page needs no identity map, change tracking or lazy loads (a third of its time)
        rows = select(*_LIST_COLUMNS).join(ids, ids.c.id == Customer.id).order_by(*_order(sort))
        return count, rows

    if extra_where:  # conditions of other modules (custom-field filters): not cached
        count, rows = build()
    else:
        count, rows = _STATEMENTS.get((shape, sort, nulls_high), build, params)
    # Core execution on the session's connection: plain rows need none of the ORM's
    # result machinery (a quarter of the list's time)
    conn = session.connection()
    total = conn.execute(count, {k: v for k, v in params.items() if not k.startswith("after_")})
    found = conn.execute(rows, params).all()
    next_after = None
    if len(found) > query.per_page:
        found = found[: query.per_page]
        last = found[-1]
        next_after = paging.encode(sort, getattr(last, SORTS[sort.lstrip("-")].key), last.id)
    return ListPage(found, total.scalar() or 0, next_after)


_LIST_COLUMNS = [getattr(Customer, attr.key) for attr in Customer.__mapper__.column_attrs]


# -- contacts and follow-ups -----------------------------------------------------------------------


def _audit_child(session, customer: Customer, action: str, user, changes) -> None:
    from erpkit.core import audit

    audit.record(session, ENTITY, customer.id, action, user, changes)


def clean_contact(values: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, limit, required in (("name", 100, True), ("title", 100, False)):
        raw = values.get(key)
        text = raw.strip() if isinstance(raw, str) else ""
        if raw is not None and not isinstance(raw, str):
            errors[key] = _("Enter text.")
        elif required and not text:
            errors[key] = _("This field is required.")
        elif len(text) > limit:
            errors[key] = _("At most %(n)s characters.", n=limit)
        out[key] = text or None
    for key, fn in (("phone", checks.clean_phone), ("email", checks.clean_email)):
        raw = values.get(key)
        if raw is not None and not isinstance(raw, str):
            errors[key] = _("Enter text.")
            continue
        out[key] = _checked(fn, raw, key, errors)
    openid = values.get("wechat_openid")
    if openid is not None and (not isinstance(openid, str) or len(openid.strip()) > 64):
        errors["wechat_openid"] = _("At most %(n)s characters.", n=64)
    else:
        out["wechat_openid"] = (openid or "").strip() or None
    if errors:
        raise ValidationError(errors)
    return out


def _may_edit(user) -> None:
    if not user.can(PERM_EDIT):
        raise PermissionDenied(_("You are not allowed to do this."))


def add_contact(session: Session, customer: Customer, values: Mapping[str, Any], user) -> Contact:
    _may_edit(user)
    data = clean_contact(values)
    contact = Contact(customer_id=customer.id, **data)
    session.add(contact)
    session.flush()
    _audit_child(
        session,
        customer,
        "contact",
        user,
        {"contact": (None, f"{data['name']} {data['phone'] or ''}".strip())},
    )
    return contact


def delete_contact(session: Session, customer: Customer, contact_id: int, user) -> None:
    _may_edit(user)
    contact = session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.customer_id == customer.id)
    )
    if contact is None:
        from erpkit.core.errors import NotFound

        raise NotFound(_("Not found."))
    _audit_child(session, customer, "contact", user, {"contact": (contact.name, None)})
    session.delete(contact)
    session.flush()


def add_follow_up(
    erp, session: Session, customer: Customer, values: Mapping[str, Any], user
) -> FollowUp:
    """Record a follow-up; its next date becomes the customer's next follow-up."""
    _may_edit(user)
    errors: dict[str, str] = {}
    content = values.get("content")
    if not isinstance(content, str) or not content.strip():
        errors["content"] = _("Say what happened.")
    elif len(content.strip()) > 5000:
        errors["content"] = _("At most %(n)s characters.", n=5000)
    method = values.get("method") or None
    if method is not None:
        try:
            method = options.check(
                session, OPTION_FIELDS["follow_up_method"], method, field="method"
            )
        except ValidationError as exc:
            errors.update(exc.errors)
    next_at = values.get("next_follow_up_at")
    if isinstance(next_at, str):
        try:
            next_at = date.fromisoformat(next_at) if next_at.strip() else None
        except ValueError:
            errors["next_follow_up_at"] = _("Enter a date such as 2024-03-31.")
            next_at = None
    elif next_at is not None and not isinstance(next_at, date):
        errors["next_follow_up_at"] = _("Enter a date such as 2024-03-31.")
    if isinstance(next_at, date) and next_at < date.today():
        errors["next_follow_up_at"] = _("The next follow-up cannot be in the past.")
    if errors:
        raise ValidationError(errors)
    follow = FollowUp(
        customer_id=customer.id,
        method=method,
        content=content.strip(),
        next_follow_up_at=next_at,
        user_id=user.id,
    )
    session.add(follow)
    session.flush()
    entities.update(erp, session, ENTITY, customer, {"next_follow_up_at": next_at}, user)
    return follow


def follow_ups(session: Session, customer_id: int, limit: int = 100) -> list[tuple[FollowUp, str]]:
    rows = session.execute(
        select(FollowUp, func.coalesce(func.nullif(User.display_name, ""), User.username))
        .outerjoin(User, User.id == FollowUp.user_id)
        .where(FollowUp.customer_id == customer_id)
        .order_by(FollowUp.id.desc())
        .limit(limit)
    )
    return [(f, name or "") for f, name in rows]
