"""The test plugin's approval hooks, and a small API for its expenses (entity type
``my_plugin.expense``, approval=True) so that tests can create and change them."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Body
from sqlalchemy import select

from erpkit import hookimpl
from erpkit.core import entities
from erpkit.core.approval.models import ApprovalFlow, ApprovalStep
from erpkit.core.auth.service import scope_clause
from erpkit.core.errors import ValidationError
from erpkit.core.params import PathId

from .models import Expense

#: what the decision hooks saw, for the tests
DECISIONS: list[tuple] = []

Money = Annotated[str, msgspec.Meta(max_length=20, pattern=r"^\d{1,12}(\.\d{1,2})?$")]
Title = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00]*$")]


class ExpenseIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    amount: Money = "0"


class ExpenseChange(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    amount: Money | msgspec.UnsetType = msgspec.UNSET


class ExpenseOut(msgspec.Struct):
    id: int
    title: str
    amount: str
    status: str
    owner_id: int


def _out(e: Expense) -> ExpenseOut:
    return ExpenseOut(
        id=e.id, title=e.title, amount=str(e.amount), status=e.status, owner_id=e.owner_id
    )


class ExpenseController(Controller):
    path = "/api/v1/my-plugin/expenses"
    tags = ["my_plugin"]

    @post("/", opt={"permission": "my_plugin.write"}, sync_to_thread=True)
    def create_expense(self, request: Request, data: Annotated[ExpenseIn, Body()]) -> ExpenseOut:
        """An expense of the signed-in user (it needs approval)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        if not data.title.strip():
            raise ValidationError({"title": "Enter a title."})
        with erp.sessionmaker.begin() as s:
            e = entities.create(
                erp,
                s,
                "my_plugin.expense",
                {
                    "title": data.title.strip(),
                    "amount": Decimal(data.amount),
                    "owner_id": user.id,
                    "status": "draft",
                },
                user,
            )
            return _out(e)

    @get("/", sync_to_thread=True)
    def list_expenses(self, request: Request) -> list[ExpenseOut]:
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            rows = s.scalars(
                select(Expense)
                .where(scope_clause(request.scope["user"], Expense.owner_id))
                .order_by(Expense.id)
            )
            return [_out(e) for e in rows]

    @get("/{expense_id:int}", sync_to_thread=True)
    def get_expense(self, request: Request, expense_id: PathId) -> ExpenseOut:
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            et = entities.entity_type(erp, "my_plugin.expense")
            return _out(entities.visible(erp, s, et, expense_id, request.scope["user"]))

    @patch("/{expense_id:int}", opt={"permission": "my_plugin.write"}, sync_to_thread=True)
    def change_expense(
        self, request: Request, expense_id: PathId, data: Annotated[ExpenseChange, Body()]
    ) -> ExpenseOut:
        """Change an expense: 409 while its approval is pending or once approved."""
        erp = request.app.state.erp
        user = request.scope["user"]
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "amount" in changes:
            changes["amount"] = Decimal(changes["amount"])
        with erp.sessionmaker.begin() as s:
            et = entities.entity_type(erp, "my_plugin.expense")
            e = entities.visible(erp, s, et, expense_id, user)
            return _out(entities.update(erp, s, "my_plugin.expense", e, changes, user))


@hookimpl
def register_routes(erp):
    return [ExpenseController]


@hookimpl
def approval_flow(entity_type, obj, user, session):
    """Expenses titled "special..." go to finance, whatever the admin configured: a
    flow built in code (not stored)."""
    if entity_type == "my_plugin.expense" and obj.title.startswith("special"):
        return ApprovalFlow(
            entity_type=entity_type,
            name="Special expenses",
            steps=[ApprovalStep(position=1, kind="role", role_code="finance")],
        )
    return None


@hookimpl
def before_approval_decision(request, decision, user, session):
    """Refuses a decision commented "veto"; "slow..." holds the request a while, so that
    a concurrent decision has to wait for this one."""
    comment = request.step.comment  # the step being decided carries the comment
    DECISIONS.append(("before", request.id, decision, user.id, comment))
    if comment == "veto":
        raise ValidationError({"comment": "Vetoed by my_plugin."})
    if comment.startswith("slow"):
        time.sleep(0.5)


@hookimpl
def after_approval_decision(request, decision, user, session):
    DECISIONS.append(("after", request.id, decision, request.status))
    if request.entity_type == "my_plugin.expense":
        expense = session.get(Expense, request.entity_id)
        expense.status = request.status
