"""The customer import (批量导入) through the core's import framework.

Per row: the checks of the customer form (credit code, phone, e-mail, option codes).
Per batch of 1,000: duplicates against the database (one query per key) and within
the file (keys seen so far), then one executemany (COPY on PostgreSQL) of the
customers, one query for their ids, and one executemany each for their contacts and
their audit entries. Duplicates are refused whatever the duplicate policy says: an
import has nobody to confirm a warning row by row; the report lists each with the
customer it duplicates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from erpkit.core import numbering
from erpkit.core.audit import AuditLog
from erpkit.core.auth.models import User
from erpkit.core.db import utcnow
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.importing import Column, ImportSchema, RowError, insert_rows

from . import checks
from .models import Contact, Customer
from .services import (
    CATEGORY_LABELS,
    ENTITY,
    KIND_LABELS,
    NUMBER_PATTERN,
    OPTION_FIELDS,
    PERM_CREATE,
    PERM_REASSIGN,
)

SCHEMA = "customers.customers"

COLUMNS = (
    Column(
        "name",
        N_("Customer name"),
        aliases=("客户名称", "客户", "公司名称", "单位名称", "名称", "customer", "company", "name"),
        required=True,
        max_length=200,
    ),
    Column(
        "phone",
        N_("Phone"),
        aliases=("联系电话", "电话", "手机", "手机号", "电话号码", "tel", "mobile", "telephone"),
        max_length=40,
    ),
    Column("contact", N_("Contact"), aliases=("联系人", "contact person"), max_length=100),
    Column(
        "region",
        N_("Region"),
        aliases=("所属区域", "区域", "地区"),
        type="choice",
        option_list=OPTION_FIELDS["region"],
    ),
    Column(
        "industry",
        N_("Industry"),
        aliases=("行业", "所属行业"),
        type="choice",
        option_list=OPTION_FIELDS["industry"],
    ),
    Column(
        "source",
        N_("Source"),
        aliases=("客户来源", "来源"),
        type="choice",
        option_list=OPTION_FIELDS["source"],
    ),
    Column(
        "grade",
        N_("Value grade"),
        aliases=("客户等级", "等级", "价值", "客户价值", "grade"),
        type="choice",
        option_list=OPTION_FIELDS["grade"],
    ),
    Column(
        "credit_code",
        N_("Unified social credit code"),
        aliases=("统一社会信用代码", "信用代码", "社会信用代码", "credit code", "uscc"),
        max_length=40,
    ),
    Column(
        "category",
        N_("Category"),
        aliases=("客户类别", "客户分类", "类别"),
        type="choice",
        choices=(
            ("new", "新客户", CATEGORY_LABELS["new"]),
            ("old", "老客户", CATEGORY_LABELS["old"]),
            ("premium", "优等客户", CATEGORY_LABELS["premium"]),
        ),
    ),
    Column(
        "qualification",
        N_("Qualification"),
        aliases=("资质",),
        type="choice",
        option_list=OPTION_FIELDS["qualification"],
    ),
    Column(
        "follow_up_method",
        N_("Follow-up method"),
        aliases=("跟进方式",),
        type="choice",
        option_list=OPTION_FIELDS["follow_up_method"],
    ),
    Column(
        "kind",
        N_("Kind"),
        aliases=("客户类型", "类型"),
        type="choice",
        choices=(
            ("company", "公司", KIND_LABELS["company"]),
            ("person", "个人", KIND_LABELS["person"]),
        ),
    ),
    Column(
        "email", N_("E-mail"), aliases=("邮箱", "电子邮件", "电子邮箱", "e-mail"), max_length=200
    ),
    Column("address", N_("Address"), aliases=("地址", "详细地址", "联系地址"), max_length=300),
    Column(
        "owner",
        N_("Owner"),
        aliases=("负责人", "所属销售", "销售", "业务员", "owner"),
        max_length=100,
        help=N_("User name or name of the salesperson; empty: the person who imports."),
    ),
    Column("notes", N_("Remarks"), aliases=("备注", "说明", "notes"), max_length=5000),
)


def validate_row(row: dict[str, Any], ctx) -> dict[str, str] | None:
    """The form's checks, on one row; adds the normalised keys."""
    errors: dict[str, str] = {}
    for key, fn in (
        ("phone", checks.clean_phone),
        ("credit_code", checks.clean_credit_code),
        ("email", checks.clean_email),
    ):
        value = row.get(key)
        if value is not None:
            try:
                row[key] = fn(value)
            except ValidationError as exc:
                errors[key] = next(iter(exc.errors.values()))
    row["name_key"] = checks.name_key(row["name"]) or row["name"]
    if errors:
        raise RowError(errors)
    return None


def _owners(session, ctx) -> dict[str, int]:
    """User name and display name -> id of active users (once per import)."""
    cached = ctx.state.get("owners")
    if cached is None:
        cached = {}
        for uid, username, display in session.execute(
            select(User.id, User.username, User.display_name).where(User.is_active)
        ):
            cached[username.lower()] = uid
            if display:
                cached.setdefault(display.strip().lower(), uid)
        ctx.state["owners"] = cached
    return cached


def check_batch(session, rows: list[dict[str, Any]], ctx) -> dict[int, Any]:
    """Duplicates against the database and earlier rows; unknown owners."""
    state = ctx.state
    seen = state.setdefault("seen", {"name_key": set(), "credit_code": set(), "phone": set()})
    taken: dict[str, dict[str, str]] = {}
    for key, column in (
        ("name_key", Customer.name_key),
        ("credit_code", Customer.credit_code),
        ("phone", Customer.phone),
    ):
        values = {r[key] for r in rows if r.get(key)}
        taken[key] = (
            dict(session.execute(select(column, Customer.code).where(column.in_(values))).all())
            if values
            else {}
        )
    owners = None
    user = ctx.user
    bad: dict[int, Any] = {}
    for i, row in enumerate(rows):
        problems = {}
        for key, field, message_db, message_file in (
            (
                "credit_code",
                "credit_code",
                N_("A customer with this credit code exists: %(code)s."),
                N_("This credit code appears twice in the file."),
            ),
            (
                "phone",
                "phone",
                N_("A customer with this phone exists: %(code)s."),
                N_("This phone appears twice in the file."),
            ),
            (
                "name_key",
                "name",
                N_("A customer with this name exists: %(code)s."),
                N_("This name appears twice in the file."),
            ),
        ):
            value = row.get(key)
            if not value:
                continue
            if value in taken[key]:
                problems[field] = _(message_db, code=taken[key][value])
                break
            if value in seen[key]:
                problems[field] = _(message_file)
                break
        owner = row.get("owner")
        if owner is not None:
            if owners is None:
                owners = _owners(session, ctx)
            owner_id = owners.get(owner.strip().lower())
            if owner_id is None:
                problems["owner"] = _("No active user has this name.")
            elif owner_id != ctx.user_id and not (user is not None and user.can(PERM_REASSIGN)):
                problems["owner"] = _("You may not give customers to other users.")
            else:
                row["owner_id"] = owner_id
        if problems:
            bad[i] = problems
        else:
            for key in ("credit_code", "phone", "name_key"):
                if row.get(key):
                    seen[key].add(row[key])
    return bad


_FIELDS = (
    "name",
    "name_key",
    "phone",
    "email",
    "address",
    "credit_code",
    "qualification",
    "region",
    "industry",
    "source",
    "grade",
    "follow_up_method",
    "notes",
)


def write_batch(session, rows: list[dict[str, Any]], ctx) -> None:
    codes = numbering.next_numbers(session, ENTITY, NUMBER_PATTERN, len(rows))
    user_id = ctx.user_id
    now = utcnow()
    customers = []
    for row, code in zip(rows, codes, strict=True):
        data = {k: row.get(k) for k in _FIELDS}
        data["code"] = code
        data["kind"] = row.get("kind") or "company"
        data["category"] = row.get("category") or "new"
        data["owner_id"] = row.get("owner_id") or user_id
        data["entry_channel"] = "import"
        data["created_by"] = user_id
        data["created_at"] = now
        data["custom"] = {}
        customers.append(data)
    insert_rows(session, Customer, customers)
    ids = dict(
        session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(codes))).all()
    )
    job = {"import_job": [None, ctx.job_id]}
    insert_rows(
        session,
        AuditLog,
        [
            {
                "entity_type": ENTITY,
                "entity_id": ids[c["code"]],
                "action": "import",
                "user_id": user_id,
                "at": now,
                "changes": job,
            }
            for c in customers
        ],
    )
    contacts = [
        {"customer_id": ids[c["code"]], "name": row["contact"], "phone": c["phone"]}
        for row, c in zip(rows, customers, strict=True)
        if row.get("contact")
    ]
    if contacts:
        insert_rows(session, Contact, contacts)


def schema() -> ImportSchema:
    return ImportSchema(
        SCHEMA,
        N_("Customers"),
        columns=COLUMNS,
        entity_type=ENTITY,
        validate_row=validate_row,
        check_batch=check_batch,
        write_batch=write_batch,
        batch_size=1000,
        permission=PERM_CREATE,
        description=N_(
            "Customers with phone, region, industry, source, grade and credit code; "
            "duplicates (name, credit code, phone) are refused and listed in the report."
        ),
    )


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0
