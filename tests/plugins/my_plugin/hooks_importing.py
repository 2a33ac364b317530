"""The test plugin's importing hooks (star-imported by hooks.py): an import of notes with
columns of every type, a trivial job kind and a scheduled one."""

import time
from decimal import Decimal

from sqlalchemy import select

from erpkit import hookimpl
from erpkit.core.importing import Column, ImportSchema, RowError, insert_rows
from erpkit.core.jobs import JobSpec

from .models import Note

__all__ = ["register_import_schemas", "register_jobs"]

#: what the test plugin's jobs did, for the tests: (kind, job id, params)
JOB_RUNS: list[tuple[str, int, dict]] = []

#: the columns that are not fields of Note go into its JSON column ``custom``
NOTE_COLUMNS = (
    Column(
        "title",
        "Title",
        aliases=("标题", "笔记标题", "name", "名称"),
        required=True,
        max_length=200,
    ),
    Column("code", "Code", aliases=("编号", "编码", "number"), max_length=30),
    Column(
        "color", "Color", aliases=("颜色", "colour"), type="choice", option_list="my_plugin.color"
    ),
    Column(
        "amount", "Amount", aliases=("金额", "价格"), type="decimal", places=2, min=Decimal("0")
    ),
    Column("quantity", "Quantity", aliases=("数量", "qty"), type="int", min=0, max=1_000_000),
    Column("due", "Due date", aliases=("到期日", "日期", "date"), type="date"),
    Column("done", "Done", aliases=("已完成", "完成"), type="bool"),
    Column(
        "priority",
        "Priority",
        aliases=("优先级",),
        type="choice",
        choices=(("high", "高", "High"), ("normal", "中", "Normal"), ("low", "低", "Low")),
    ),
    Column("rate", "Rate", aliases=("比例", "折扣"), type="decimal"),
    Column("phone", "Phone", aliases=("电话", "手机"), max_length=20),
    Column("email", "Email", aliases=("邮箱", "电子邮件", "e-mail"), max_length=200),
    Column("remark", "Remark", aliases=("备注", "说明"), max_length=500),
)
CUSTOM_KEYS = [c.key for c in NOTE_COLUMNS if c.key not in {"title", "code"}]


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def validate_note(row, ctx):
    if row.get("email") and "@" not in row["email"]:
        raise RowError({"email": "Not an e-mail address."})
    if row.get("title") == "forbidden":
        return {"title": "This title is not allowed."}
    return None


def check_notes(session, rows, ctx):
    """Duplicate codes, in the file and against the database: one query per batch."""
    seen = ctx.state.setdefault("codes", set())
    codes = {r["code"] for r in rows if r.get("code")}
    taken = set(session.scalars(select(Note.code).where(Note.code.in_(codes)))) if codes else set()
    bad = {}
    for i, row in enumerate(rows):
        code = row.get("code")
        if not code:
            continue
        if code in taken:
            bad[i] = {"code": "This code is already used."}
        elif code in seen:
            bad[i] = {"code": "This code appears twice in the file."}
        else:
            seen.add(code)
    return bad


def write_notes(session, rows, ctx):
    insert_rows(
        session,
        Note,
        [
            {
                "title": r["title"],
                "code": r.get("code"),
                "owner_id": ctx.user_id,
                "custom": {k: _jsonable(r[k]) for k in CUSTOM_KEYS if r.get(k) is not None},
            }
            for r in rows
        ],
    )


@hookimpl
def register_import_schemas(erp):
    return [
        ImportSchema(
            "my_plugin.notes",
            "Notes",
            columns=NOTE_COLUMNS,
            entity_type="my_plugin.note",
            validate_row=validate_note,
            check_batch=check_notes,
            write_batch=write_notes,
            batch_size=500,
            description="Notes with a title, a code and ten more columns.",
        )
    ]


def echo(ctx, params):
    """A trivial job: reports progress and returns its params."""
    JOB_RUNS.append(("my_plugin.echo", ctx.job_id, dict(params)))
    steps = int(params.get("steps", 3))
    for i in range(steps):
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))
        ctx.report(i + 1, steps, force=bool(params.get("force")))
    if params.get("fail"):
        raise RuntimeError(params["fail"])
    return {"echo": params.get("text", ""), "steps": steps}


def tick(ctx, params):
    JOB_RUNS.append(("my_plugin.tick", ctx.job_id, dict(params)))
    return {"at": params.get("scheduled_for")}


@hookimpl
def register_jobs(erp):
    return [
        JobSpec("my_plugin.echo", echo, "Echo"),
        JobSpec("my_plugin.tick", tick, "Tick", schedule="*/5 * * * *", misfire_grace=60),
    ]
