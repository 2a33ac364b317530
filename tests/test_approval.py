"""The approval engine: flows, submission, decisions, locks, hooks, API, pages, concurrency.

Expenses of the test plugin (entity type ``my_plugin.expense``, approval=True,
amount_field="amount") go through approval. ``people``: sales1 and sales2 report to
manager (role sales_manager); outsider has no superior; finance holds the role finance.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from conftest import ADMIN_PASSWORD, csrf_of, login, token_for
from my_plugin.hooks_approval import DECISIONS
from my_plugin.hooks_entities import SEEN
from my_plugin.models import Expense
from sqlalchemy import select

from erpkit.core import entities
from erpkit.core.approval import service
from erpkit.core.approval.models import ApprovalAction, ApprovalRequest
from erpkit.core.auth import service as auth
from erpkit.core.auth.models import User
from erpkit.core.errors import Conflict, NotFound, PermissionDenied, ValidationError

ET = "my_plugin.expense"


# -- helpers -----------------------------------------------------------------------------------


def cu(erp, username):
    """The CurrentUser snapshot of ``username`` (what routes hand to services)."""
    with erp.sessionmaker() as s:
        return auth.current_user_from(s, auth.find_user(s, username))


def make_flow(erp, steps, *, active=True, name="Expenses", entity_type=ET):
    with erp.sessionmaker.begin() as s:
        return service.create_flow(erp, s, entity_type, name, steps, active).id


def make_expense(erp, owner="sales1", title="Trip", amount="100.00"):
    user = cu(erp, owner)
    with erp.sessionmaker.begin() as s:
        e = entities.create(
            erp, s, ET, {"title": title, "amount": Decimal(amount), "owner_id": user.id}, user
        )
        return e.id


def submit(erp, expense_id, username="sales1"):
    user = cu(erp, username)
    with erp.sessionmaker.begin() as s:
        return service.submit(erp, s, ET, s.get(Expense, expense_id), user).id


def decide(erp, request_id, username, decision="approve", comment="", step=None):
    with erp.sessionmaker.begin() as s:
        req = service.decide(erp, s, request_id, cu(erp, username), decision, comment, step)
        return req.status, req.current_step


def withdraw(erp, request_id, username="sales1"):
    with erp.sessionmaker.begin() as s:
        return service.withdraw(erp, s, request_id, cu(erp, username)).status


def request_of(erp, request_id):
    with erp.sessionmaker() as s:
        req = s.get(ApprovalRequest, request_id)
        steps = [
            (st.position, st.kind, st.status, st.approver_id, st.role_code) for st in req.steps
        ]
        actions = [(a.action, a.step, a.user_id, a.comment) for a in req.actions]
        return req.status, req.current_step, steps, actions


def expense(erp, expense_id):
    with erp.sessionmaker() as s:
        return s.get(Expense, expense_id)


def change(erp, expense_id, username="sales1", **changes):
    user = cu(erp, username)
    with erp.sessionmaker.begin() as s:
        entities.update(erp, s, ET, s.get(Expense, expense_id), changes, user)


def admin_id(erp):
    with erp.sessionmaker() as s:
        return s.scalar(select(User.id).where(User.username == "admin"))


SUPERIOR = {"kind": "superior"}
FINANCE = {"kind": "role", "role_code": "finance"}


# -- flows and decisions -------------------------------------------------------------------------


def test_superior_role_and_user_steps_are_decided_in_order(erp, people):
    admin = admin_id(erp)
    make_flow(erp, [SUPERIOR, FINANCE, {"kind": "user", "user_id": admin}])
    eid = make_expense(erp, amount="1200.50")
    rid = submit(erp, eid)
    status, current, steps, actions = request_of(erp, rid)
    assert (status, current) == ("pending", 1)
    assert steps == [
        (1, "superior", "waiting", people["manager"], None),
        (2, "role", "waiting", None, "finance"),
        (3, "user", "waiting", admin, None),
    ]
    assert actions == [("submit", None, people["sales1"], "")]

    # only the current step's approver decides
    with pytest.raises(PermissionDenied, match="step 1"):
        decide(erp, rid, "finance")
    assert decide(erp, rid, "manager", comment="ok") == ("pending", 2)
    with pytest.raises(PermissionDenied):
        decide(erp, rid, "manager")
    assert decide(erp, rid, "finance") == ("pending", 3)
    with pytest.raises(PermissionDenied):
        decide(erp, rid, "sales2")
    with erp.sessionmaker.begin() as s:
        req = service.decide(erp, s, rid, auth.current_user_from(s, s.get(User, admin)), "approve")
        assert req.status == "approved" and req.current_step is None
    status, current, steps, actions = request_of(erp, rid)
    assert [st[2] for st in steps] == ["approved", "approved", "approved"]
    assert [(a[0], a[1], a[2]) for a in actions] == [
        ("submit", None, people["sales1"]),
        ("approve", 1, people["manager"]),
        ("approve", 2, people["finance"]),
        ("approve", 3, admin),
    ]
    assert actions[1][3] == "ok"
    # a closed request takes no more decisions
    with pytest.raises(Conflict, match="approved already"):
        decide(erp, rid, "manager")


def test_amount_conditions_skip_steps(erp, people):
    make_flow(erp, [SUPERIOR, {**FINANCE, "min_amount": "50000"}])
    small = submit(erp, make_expense(erp, amount="49999.99"))
    big = submit(erp, make_expense(erp, amount="50000.00"))
    assert [st[2] for st in request_of(erp, small)[2]] == ["waiting", "skipped"]
    assert [st[2] for st in request_of(erp, big)[2]] == ["waiting", "waiting"]
    assert decide(erp, small, "manager") == ("approved", None)
    assert decide(erp, big, "manager") == ("pending", 2)
    assert decide(erp, big, "finance") == ("approved", None)


def test_a_flow_whose_steps_all_skip_approves_at_once_and_says_so(erp, people):
    make_flow(erp, [{**FINANCE, "min_amount": "50000"}])
    eid = make_expense(erp, amount="10")
    rid = submit(erp, eid)
    status, current, steps, actions = request_of(erp, rid)
    assert (status, current) == ("approved", None)
    assert steps[0][2] == "skipped"
    assert actions == [("submit", None, people["sales1"], ""), ("approve", None, None, "")]
    assert expense(erp, eid).status == "approved"  # after_approval_decision ran
    with pytest.raises(Conflict):
        change(erp, eid, title="changed")


def test_rejection_needs_a_comment_and_ends_the_request(erp, people):
    make_flow(erp, [SUPERIOR, FINANCE])
    eid = make_expense(erp)
    rid = submit(erp, eid)
    with pytest.raises(ValidationError) as exc:
        decide(erp, rid, "manager", "reject", "  ")
    assert "comment" in exc.value.errors
    assert decide(erp, rid, "manager", "reject", "Too expensive") == ("rejected", None)
    _status, _current, steps, actions = request_of(erp, rid)
    assert [st[2] for st in steps] == ["rejected", "waiting"]
    assert actions[-1] == ("reject", 1, people["manager"], "Too expensive")
    with pytest.raises(Conflict, match="rejected"):
        decide(erp, rid, "finance")
    # editable again, and a new submission is a new request
    change(erp, eid, amount=Decimal("80"))
    again = submit(erp, eid)
    assert again != rid and request_of(erp, again)[0] == "pending"


def test_unknown_decision_is_refused(erp, people):
    make_flow(erp, [SUPERIOR])
    rid = submit(erp, make_expense(erp))
    with pytest.raises(ValidationError):
        decide(erp, rid, "manager", "maybe")
    with pytest.raises(NotFound):
        decide(erp, 999999, "manager")


# -- nobody approves their own request -------------------------------------------------------


def test_submitter_holding_the_role_cannot_decide_but_others_can(erp, people):
    make_flow(erp, [{"kind": "role", "role_code": "salesperson"}])
    rid = submit(erp, make_expense(erp))
    with pytest.raises(PermissionDenied, match="your own request"):
        decide(erp, rid, "sales1")
    sales1, sales2 = cu(erp, "sales1"), cu(erp, "sales2")
    with erp.sessionmaker() as s:
        assert service.pending_for(s, sales1) == []
        assert [r.id for r in service.pending_for(s, sales2)] == [rid]
    assert decide(erp, rid, "sales2") == ("approved", None)


def test_a_step_only_the_submitter_could_decide_is_refused_at_submission(erp, people):
    make_flow(erp, [{"kind": "user", "user_id": people["sales1"]}])
    with pytest.raises(ValidationError, match="nobody approves their own") as exc:
        submit(erp, make_expense(erp))
    assert "flow" in exc.value.errors
    # finance is the only holder of the role finance
    make_flow(erp, [FINANCE], name="Finance")
    with pytest.raises(ValidationError, match="Nobody but you holds the role finance"):
        submit(erp, make_expense(erp, owner="finance"), "finance")
    with erp.sessionmaker() as s:
        assert s.scalar(select(ApprovalRequest.id)) is None


def test_submitter_without_a_superior_is_told_so(erp, people):
    make_flow(erp, [SUPERIOR])
    with pytest.raises(ValidationError) as exc:
        submit(erp, make_expense(erp, owner="outsider"), "outsider")
    assert "superior" in exc.value.detail and "administrator" in exc.value.detail


# -- locks on the record ------------------------------------------------------------------------


def test_pending_and_approved_records_cannot_be_changed_or_deleted(erp, people):
    make_flow(erp, [SUPERIOR])
    eid = make_expense(erp)
    change(erp, eid, title="Trip to Shanghai")  # a draft changes freely
    rid = submit(erp, eid)
    with pytest.raises(Conflict, match="waiting for approval") as exc:
        change(erp, eid, title="Trip to Beijing")
    assert exc.value.status == 409 and "withdraw" in exc.value.detail
    user = cu(erp, "sales1")
    with pytest.raises(Conflict), erp.sessionmaker.begin() as s:
        entities.delete(erp, s, ET, s.get(Expense, eid), user)
    decide(erp, rid, "manager")
    with pytest.raises(Conflict, match="approved") as exc:
        change(erp, eid, amount=Decimal("1"))
    assert "new revision" in exc.value.detail
    with pytest.raises(Conflict), erp.sessionmaker.begin() as s:
        entities.delete(erp, s, ET, s.get(Expense, eid), user)
    assert expense(erp, eid).title == "Trip to Shanghai"
    # approved stays approved: it cannot be submitted again either
    with pytest.raises(Conflict, match="approved already"):
        submit(erp, eid)


def test_code_may_change_a_locked_record_on_purpose(erp, people):
    make_flow(erp, [SUPERIOR])
    eid = make_expense(erp)
    submit(erp, eid)
    user = cu(erp, "sales1")
    with erp.sessionmaker.begin() as s, service.unlocked(s, ET, eid):
        entities.update(erp, s, ET, s.get(Expense, eid), {"status": "paid"}, user)
    assert expense(erp, eid).status == "paid"
    with pytest.raises(Conflict):
        change(erp, eid, status="draft")


def test_withdrawal_makes_the_record_editable_and_resubmission_is_a_new_request(erp, people):
    make_flow(erp, [SUPERIOR])
    eid = make_expense(erp)
    rid = submit(erp, eid)
    with pytest.raises(Conflict, match="already"):
        submit(erp, eid)  # one pending request at a time
    with pytest.raises(PermissionDenied, match="submitter"):
        withdraw(erp, rid, "manager")
    assert withdraw(erp, rid) == "withdrawn"
    with pytest.raises(Conflict, match="withdrawn"):
        withdraw(erp, rid)
    with pytest.raises(Conflict, match="withdrawn"):
        decide(erp, rid, "manager")
    change(erp, eid, amount=Decimal("90"))
    again = submit(erp, eid)
    assert again != rid
    assert request_of(erp, rid)[3][-1] == ("withdraw", None, people["sales1"], "")
    with erp.sessionmaker() as s:
        assert service.statuses(s, ET, [eid]) == {eid: "pending"}


def test_no_flow_configured_refuses_submission_clearly(erp, people):
    eid = make_expense(erp)
    with pytest.raises(ValidationError, match="No approval flow configured for Expense") as exc:
        submit(erp, eid)
    assert exc.value.status == 422
    # an inactive flow does not count
    make_flow(erp, [SUPERIOR], active=False)
    with pytest.raises(ValidationError, match="No approval flow configured"):
        submit(erp, eid)
    with erp.sessionmaker() as s:
        assert s.scalar(select(ApprovalRequest.id)) is None
    change(erp, eid, title="still a draft")


def test_history_lists_every_request_of_a_record(erp, people):
    make_flow(erp, [SUPERIOR])
    eid = make_expense(erp)
    first = submit(erp, eid)
    decide(erp, first, "manager", "reject", "Receipt missing")
    second = submit(erp, eid)
    decide(erp, second, "manager", comment="Fine now")
    with erp.sessionmaker() as s:
        reqs = service.history(s, ET, eid)
        assert [r.id for r in reqs] == [second, first]
        assert [(a.action, a.comment) for a in reqs[1].actions] == [
            ("submit", ""),
            ("reject", "Receipt missing"),
        ]
        assert [(a.action, a.comment) for a in reqs[0].actions] == [
            ("submit", ""),
            ("approve", "Fine now"),
        ]
        assert [r.status for r in reqs] == ["approved", "rejected"]


def test_a_decision_for_a_step_that_has_passed_is_a_conflict(erp, people):
    make_flow(erp, [SUPERIOR, {"kind": "role", "role_code": "sales_manager"}])
    rid = submit(erp, make_expense(erp))
    decide(erp, rid, "manager", step=1)
    # the manager holds sales_manager too: a stale form for step 1 must not approve step 2
    with pytest.raises(Conflict, match="moved on to step 2"):
        decide(erp, rid, "manager", step=1)
    assert decide(erp, rid, "manager", step=2) == ("approved", None)


def test_flows_submitted_keep_their_steps_when_the_flow_changes(erp, people):
    fid = make_flow(erp, [SUPERIOR])
    rid = submit(erp, make_expense(erp))
    with erp.sessionmaker.begin() as s:
        service.update_flow(erp, s, fid, name="Expenses", steps=[FINANCE], active=True)
    assert request_of(erp, rid)[2][0][1] == "superior"
    with erp.sessionmaker.begin() as s:
        service.delete_flow(s, fid)
    assert decide(erp, rid, "manager") == ("approved", None)


# -- flow configuration -------------------------------------------------------------------------


def test_flow_configuration_is_validated(erp, people):
    with pytest.raises(ValidationError) as exc:
        make_flow(
            erp,
            [
                {"kind": "role", "role_code": "nope"},
                {"kind": "user", "user_id": 999999},
                {"kind": "user"},
                {"kind": "boss"},
                {"kind": "superior", "min_amount": "-5"},
                {"kind": "superior", "min_amount": "1.234"},
            ],
        )
    assert exc.value.errors == {
        "steps.1.role_code": "No such role.",
        "steps.2.user_id": "No such active user.",
        "steps.3.user_id": "Choose a user.",
        "steps.4.kind": "Choose the superior, a role or a user.",
        "steps.5.min_amount": "Enter an amount such as 50000 or 50000.00.",
        "steps.6.min_amount": "Enter an amount such as 50000 or 50000.00.",
    }
    with pytest.raises(ValidationError) as exc:
        make_flow(erp, [SUPERIOR], entity_type="my_plugin.note")
    assert "entity_type" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        make_flow(erp, [], active=True)
    assert "steps" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        make_flow(erp, [SUPERIOR], name=" ")
    assert "name" in exc.value.errors
    with erp.sessionmaker() as s:
        assert service.list_flows(s) == []


def test_one_active_flow_per_entity_type(erp, people):
    a = make_flow(erp, [SUPERIOR], name="A")
    b = make_flow(erp, [FINANCE], name="B")
    with pytest.raises(Conflict, match="exists already"):
        make_flow(erp, [FINANCE], name="B")
    with erp.sessionmaker() as s:
        assert service.active_flow(s, ET).id == b
        assert not service.get_flow(s, a).active
        assert [(st.kind, st.min_amount) for st in service.get_flow(s, b).steps] == [("role", None)]
    with erp.sessionmaker.begin() as s:
        service.update_flow(
            erp, s, a, name="A", steps=[{**SUPERIOR, "min_amount": "1,000"}], active=True
        )
    with erp.sessionmaker() as s:
        assert service.active_flow(s, ET).id == a
        assert service.get_flow(s, a).steps[0].min_amount == Decimal("1000.00")


# -- hooks ----------------------------------------------------------------------------------------


def test_hook_approval_flow(erp, people):
    """The plugin's flow (built in code) wins for "special..." expenses; the core's
    default (the configured flow) for the others."""
    make_flow(erp, [SUPERIOR])
    special = submit(erp, make_expense(erp, title="special trip"))
    plain = submit(erp, make_expense(erp, title="trip"))
    with erp.sessionmaker() as s:
        sp = s.get(ApprovalRequest, special)
        assert (sp.flow_id, sp.flow_name) == (None, "Special expenses")
        assert [(st.kind, st.role_code) for st in sp.steps] == [("role", "finance")]
        pl = s.get(ApprovalRequest, plain)
        assert pl.flow_name == "Expenses" and pl.steps[0].kind == "superior"
    with pytest.raises(PermissionDenied):
        decide(erp, special, "manager")
    assert decide(erp, special, "finance") == ("approved", None)


def test_hook_before_approval_decision(erp, people):
    make_flow(erp, [SUPERIOR])
    eid = make_expense(erp)
    rid = submit(erp, eid)
    DECISIONS.clear()
    with pytest.raises(ValidationError) as exc:
        decide(erp, rid, "manager", comment="veto")
    assert exc.value.errors == {"comment": "Vetoed by my_plugin."}
    assert [("before", rid, "approve", people["manager"], "veto")] == DECISIONS
    status, current, steps, actions = request_of(erp, rid)
    assert (status, current, steps[0][2], len(actions)) == ("pending", 1, "waiting", 1)
    assert expense(erp, eid).status == "draft"
    assert decide(erp, rid, "manager", comment="fine") == ("approved", None)


def test_hook_after_approval_decision(erp, people):
    make_flow(erp, [SUPERIOR, FINANCE])
    eid = make_expense(erp)
    rid = submit(erp, eid)
    DECISIONS.clear()
    SEEN.clear()
    decide(erp, rid, "manager")
    assert expense(erp, eid).status == "pending"  # more steps to go
    decide(erp, rid, "finance")
    assert expense(erp, eid).status == "approved"
    assert [d for d in DECISIONS if d[0] == "after"] == [
        ("after", rid, "approve", "pending"),
        ("after", rid, "approve", "approved"),
    ]
    # after commit, on_event hears of each decision
    decided = [e for e in SEEN if e[:2] == ("event", "approval.decided")]
    assert decided == [("event", "approval.decided", ET, eid)] * 2
    # a rejection too
    other = make_expense(erp)
    rejected = submit(erp, other)
    decide(erp, rejected, "manager", "reject", "no")
    assert expense(erp, other).status == "rejected"
    assert DECISIONS[-1] == ("after", rejected, "reject", "rejected")


# -- concurrency -----------------------------------------------------------------------------------


def _race(erp):
    """Two holders of the role decide the same step at once: exactly one succeeds."""
    with erp.sessionmaker.begin() as s:
        for name in ("approver1", "approver2", "clerk1"):
            auth.create_user(
                s, name, "pass-word-123", roles=["finance" if name != "clerk1" else "clerk"]
            )
    make_flow(erp, [FINANCE])
    user = cu(erp, "clerk1")
    with erp.sessionmaker.begin() as s:
        e = entities.create(
            erp, s, ET, {"title": "Race", "amount": Decimal("5"), "owner_id": user.id}, user
        )
        rid = service.submit(erp, s, ET, e, user).id
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(name, comment):
        approver = cu(erp, name)
        barrier.wait()
        try:
            with erp.sessionmaker.begin() as s:
                service.decide(erp, s, rid, approver, "approve", comment)
            outcomes[name] = "ok"
        except Exception as exc:  # the loser's error, checked below
            outcomes[name] = exc

    threads = [
        threading.Thread(target=run, args=("approver1", "slow one")),
        threading.Thread(target=run, args=("approver2", "slow two")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o if o == "ok" else type(o).__name__ for o in outcomes.values()) == [
        "Conflict",
        "ok",
    ], outcomes
    status, _current, _steps, actions = request_of(erp, rid)
    assert status == "approved" and [a[0] for a in actions] == ["submit", "approve"]


def test_two_approvers_at_once_on_postgresql(make_app, settings, pg_database_url):
    app = make_app(settings_=settings.with_(database_url=pg_database_url))
    from litestar.testing import TestClient

    with TestClient(app):
        _race(app.state.erp)


def test_two_approvers_at_once_on_the_test_database(erp):
    _race(erp)


# -- the JSON API --------------------------------------------------------------------------------


def test_api_flows_need_the_permission_and_validate(client, people, admin_headers):
    client.headers["Accept-Language"] = "en"
    sales = token_for(client, "sales1")
    assert client.get("/api/v1/approval-flows", headers=sales).status_code == 403
    body = {
        "entity_type": ET,
        "name": "Expenses",
        "active": True,
        "steps": [
            {"kind": "superior"},
            {"kind": "role", "role_code": "finance", "min_amount": "50000"},
        ],
    }
    r = client.post("/api/v1/approval-flows", json=body, headers=sales)
    assert r.status_code == 403
    r = client.post("/api/v1/approval-flows", json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    flow = r.json()
    assert flow["entity_label"] == "Expense" and flow["active"]
    assert flow["steps"][1] == {
        "position": 2,
        "kind": "role",
        "role_code": "finance",
        "user_id": None,
        "min_amount": "50000.00",
    }
    r = client.post(
        "/api/v1/approval-flows",
        headers=admin_headers,
        json={"entity_type": ET, "name": "Bad", "steps": [{"kind": "role", "role_code": "nope"}]},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "steps.1.role_code", "message": "No such role."}]
    r = client.post(
        "/api/v1/approval-flows",
        headers=admin_headers,
        json={
            "entity_type": ET,
            "name": "Bad",
            "steps": [{"kind": "superior", "min_amount": "-1"}],
        },
    )
    assert r.status_code == 400  # the schema refuses it
    r = client.put(
        f"/api/v1/approval-flows/{flow['id']}",
        headers=admin_headers,
        json={"name": "Expenses", "active": True, "steps": [{"kind": "superior"}]},
    )
    assert r.status_code == 200 and len(r.json()["steps"]) == 1
    assert (
        client.get(f"/api/v1/approval-flows/{flow['id']}", headers=admin_headers).json()["name"]
        == "Expenses"
    )
    assert [
        f["id"] for f in client.get("/api/v1/approval-flows", headers=admin_headers).json()
    ] == [flow["id"]]
    r = client.delete(f"/api/v1/approval-flows/{flow['id']}", headers=admin_headers)
    assert r.status_code == 204
    assert (
        client.get(f"/api/v1/approval-flows/{flow['id']}", headers=admin_headers).status_code == 404
    )


def test_api_submit_decide_and_read(client, erp, people):
    client.headers["Accept-Language"] = "en"
    make_flow(erp, [SUPERIOR, FINANCE])
    s1, s2 = token_for(client, "sales1"), token_for(client, "sales2")
    mgr, fin = token_for(client, "manager"), token_for(client, "finance")
    r = client.post(
        "/api/v1/my-plugin/expenses", json={"title": "Hotel", "amount": "880.00"}, headers=s1
    )
    assert r.status_code == 201, r.text
    eid = r.json()["id"]

    # somebody who cannot see the record cannot submit it
    r = client.post(
        "/api/v1/approvals/submit", json={"entity_type": ET, "entity_id": eid}, headers=s2
    )
    assert r.status_code == 404
    r = client.post(
        "/api/v1/approvals/submit", json={"entity_type": ET, "entity_id": eid}, headers=s1
    )
    assert r.status_code == 201, r.text
    req = r.json()
    rid = req["id"]
    assert (req["status"], req["current_step"], req["title"], req["amount"]) == (
        "pending",
        1,
        "Hotel",
        "880.00",
    )
    assert req["waiting_for"] == "王经理" and req["can_withdraw"] and not req["can_decide"]
    assert [h["action"] for h in req["history"]] == ["submit"]
    assert req["url"] == f"/my-plugin/expenses/{eid}"
    r = client.post(
        "/api/v1/approvals/submit", json={"entity_type": ET, "entity_id": eid}, headers=s1
    )
    assert r.status_code == 409

    # the record is locked
    r = client.patch(f"/api/v1/my-plugin/expenses/{eid}", json={"amount": "1"}, headers=s1)
    assert r.status_code == 409 and "waiting for approval" in r.json()["detail"]

    # what waits for whom
    page = client.get("/api/v1/approvals?status=pending&mine=1", headers=mgr).json()
    assert [i["id"] for i in page["items"]] == [rid] and page["total"] == 1
    assert page["items"][0]["can_decide"]
    assert client.get("/api/v1/approvals?mine=1", headers=fin).json()["items"] == []
    assert client.get("/api/v1/approvals?mine=1", headers=s1).json()["items"] == []
    assert [i["id"] for i in client.get("/api/v1/approvals", headers=s1).json()["items"]] == [rid]
    assert client.get("/api/v1/approvals", headers=s2).json()["total"] == 0
    assert client.get(f"/api/v1/approvals/{rid}", headers=s2).status_code == 404

    # nobody decides their own request; others get 403
    r = client.post(f"/api/v1/approvals/{rid}/approve", json={"comment": ""}, headers=s1)
    assert r.status_code == 403 and "your own request" in r.json()["detail"]
    r = client.post(f"/api/v1/approvals/{rid}/approve", json={}, headers=fin)
    assert r.status_code == 403
    r = client.post(f"/api/v1/approvals/{rid}/approve", json={"comment": "好的"}, headers=mgr)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["current_step"]) == ("pending", 2)
    assert r.json()["steps"][0]["decided_by"] == "王经理"
    assert r.json()["steps"][0]["comment"] == "好的"
    # finance now sees it, and may look at it
    assert client.get("/api/v1/approvals?mine=1", headers=fin).json()["total"] == 1
    r = client.post(f"/api/v1/approvals/{rid}/reject", json={"comment": ""}, headers=fin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "comment"
    r = client.post(f"/api/v1/approvals/{rid}/reject", json={"comment": "No receipt"}, headers=fin)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    detail = client.get(f"/api/v1/approvals/{rid}", headers=s1).json()
    assert [(h["action"], h["user"], h["comment"]) for h in detail["history"]] == [
        ("submit", "sales1", ""),
        ("approve", "王经理", "好的"),
        ("reject", "finance", "No receipt"),
    ]
    assert [s["status"] for s in detail["steps"]] == ["approved", "rejected"]
    assert client.get(f"/api/v1/approvals/{rid}", headers=fin).status_code == 200
    assert client.get("/api/v1/approvals?status=rejected", headers=s1).json()["total"] == 1
    assert client.get("/api/v1/approvals?status=pending", headers=s1).json()["total"] == 0
    assert client.get(f"/api/v1/my-plugin/expenses/{eid}", headers=s1).json()["status"] == (
        "rejected"
    )

    # withdraw a new submission, then it is editable
    rid2 = client.post(
        "/api/v1/approvals/submit", json={"entity_type": ET, "entity_id": eid}, headers=s1
    ).json()["id"]
    assert client.post(f"/api/v1/approvals/{rid2}/withdraw", headers=mgr).status_code == 403
    r = client.post(f"/api/v1/approvals/{rid2}/withdraw", headers=s1)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    r = client.patch(f"/api/v1/my-plugin/expenses/{eid}", json={"amount": "1"}, headers=s1)
    assert r.status_code == 200
    r = client.get(f"/api/v1/approvals?entity_type={ET}&entity_id={eid}", headers=s1).json()
    assert [i["id"] for i in r["items"]] == [rid2, rid]
    # paging
    r = client.get("/api/v1/approvals?per_page=1&page=2", headers=s1).json()
    assert (r["total"], [i["id"] for i in r["items"]]) == (2, [rid])


def test_api_refusals_are_clear(client, erp, people, admin_headers):
    client.headers["Accept-Language"] = "en"
    s1 = token_for(client, "sales1")
    eid = make_expense(erp)
    r = client.post(
        "/api/v1/approvals/submit", json={"entity_type": ET, "entity_id": eid}, headers=s1
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("No approval flow configured for Expense")
    r = client.post(
        "/api/v1/approvals/submit",
        json={"entity_type": ET, "entity_id": eid},
        headers={**s1, "Accept-Language": "zh-CN"},
    )
    assert "未配置审批流程" in r.json()["detail"]
    r = client.post(
        "/api/v1/approvals/submit",
        json={"entity_type": "my_plugin.nothing", "entity_id": eid},
        headers=s1,
    )
    assert r.status_code == 404
    note = client.post("/api/v1/my-plugin/notes", json={"title": "n"}, headers=s1).json()
    r = client.post(
        "/api/v1/approvals/submit",
        json={"entity_type": "my_plugin.note", "entity_id": note["id"]},
        headers=s1,
    )
    assert r.status_code == 422
    assert client.post("/api/v1/approvals/99999/approve", json={}, headers=s1).status_code == 404
    assert client.get("/api/v1/approvals/99999", headers=s1).status_code == 404
    assert (
        client.post(
            "/api/v1/approvals/submit",
            json={"entity_type": ET, "entity_id": eid, "x": 1},
            headers=s1,
        ).status_code
        == 400
    )
    assert client.get("/api/v1/approvals?status=nope", headers=s1).status_code == 400
    # NUL characters never reach the database (PostgreSQL refuses them)
    assert client.get("/api/v1/approvals?entity_type=a%00b", headers=s1).status_code == 400
    sales1 = cu(erp, "sales1")
    with erp.sessionmaker() as s:
        assert service.list_requests(s, sales1, entity_type="a\x00") == ([], 0)
    r = client.post("/api/v1/approvals/1/approve", json={"comment": "a\u0000"}, headers=s1)
    assert r.status_code == 400
    with pytest.raises(ValidationError):
        service._clean_comment("a\x00", required=False)
    # the admin sees every request
    make_flow(erp, [SUPERIOR])
    submit(erp, eid)
    assert client.get("/api/v1/approvals", headers=admin_headers).json()["total"] == 1


# -- pages ---------------------------------------------------------------------------------------


def test_my_approvals_page_approve_with_a_comment(client, erp, people):
    make_flow(erp, [SUPERIOR])
    eid = make_expense(erp, title="Taxi", amount="56.50")
    rid = submit(erp, eid)
    login(client, "manager")
    html = client.get("/approvals", headers={"Accept-Language": "zh-CN"}).text
    assert "待我审批" in html and "Taxi" in html and "56.50" in html
    assert re.search(r'id="waiting-count">1<', html), "count of what waits"
    token = csrf_of(client, "/approvals")
    r = client.post(
        f"/approvals/{rid}/decide",
        data={
            "_csrf": token,
            "decision": "approve",
            "comment": "同意报销",
            "step": "1",
            "next": "/approvals",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/approvals?done={rid}"
    assert request_of(erp, rid)[3][-1] == ("approve", 1, people["manager"], "同意报销")
    html = client.get(f"/approvals?done={rid}").text
    assert 'id="decision-recorded"' in html and "data-request-id" not in html
    detail = client.get(f"/approvals/{rid}", headers={"Accept-Language": "zh-CN"}).text
    assert "已通过" in detail and "同意报销" in detail and "王经理" in detail
    # the submitter sees it approved
    client.cookies.clear()
    login(client, "sales1")
    html = client.get("/approvals?tab=submitted", headers={"Accept-Language": "zh-CN"}).text
    assert f'data-request-id="{rid}"' in html and "已通过" in html


def test_request_page_errors_show_beside_the_comment(client, erp, people):
    client.headers["Accept-Language"] = "en"
    make_flow(erp, [SUPERIOR])
    rid = submit(erp, make_expense(erp))
    login(client, "manager")
    token = csrf_of(client, f"/approvals/{rid}")
    r = client.post(
        f"/approvals/{rid}/decide",
        data={"_csrf": token, "decision": "reject", "comment": "", "step": "1"},
    )
    assert r.status_code == 422
    assert "Say why you reject the request." in r.text and 'id="decide-form"' in r.text
    r = client.post(
        f"/approvals/{rid}/decide",
        data={"_csrf": token, "decision": "approve", "comment": "veto", "step": "1"},
    )
    assert r.status_code == 422 and "Vetoed by my_plugin." in r.text
    r = client.post(
        f"/approvals/{rid}/decide",
        data={"_csrf": token, "decision": "approve", "comment": "", "step": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/approvals/{rid}"
    r = client.post(
        f"/approvals/{rid}/decide",
        data={"_csrf": token, "decision": "approve", "comment": "", "step": "1"},
    )
    assert r.status_code == 409 and "approved already" in r.text
    # the submitter withdraws from the page
    client.cookies.clear()
    login(client, "sales1")
    rid2 = submit(erp, make_expense(erp, title="Second"))
    token = csrf_of(client, f"/approvals/{rid2}")
    assert 'id="withdraw-form"' in client.get(f"/approvals/{rid2}").text
    r = client.post(f"/approvals/{rid2}/withdraw", data={"_csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and request_of(erp, rid2)[0] == "withdrawn"
    # nor decide their own request, even by posting the form
    rid3 = submit(erp, make_expense(erp, title="Third"))
    r = client.post(f"/approvals/{rid3}/decide", data={"_csrf": token, "decision": "approve"})
    assert r.status_code == 403 and "You cannot approve or reject your own request." in r.text
    assert 'id="decide-form"' not in client.get(f"/approvals/{rid3}").text


def test_approval_panel_submits_and_withdraws(client, erp, people):
    client.headers["Accept-Language"] = "en"
    eid = make_expense(erp)
    login(client, "sales1")
    token = csrf_of(client, "/approvals")
    src = f"/approvals/panel/{ET}/{eid}"
    html = client.get(src).text
    assert "Not submitted for approval yet." in html and 'value="submit"' in html
    r = client.post(src, data={"action": "submit"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and "No approval flow configured for Expense" in r.text
    make_flow(erp, [SUPERIOR])
    r = client.post(src, data={"action": "submit"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and 'data-status="pending"' in r.text
    assert 'value="withdraw"' in r.text
    rid = request_of_latest(erp, eid)
    r = client.post(
        src, data={"action": "withdraw", "request_id": str(rid)}, headers={"X-CSRF-Token": token}
    )
    assert 'data-status="withdrawn"' in r.text and 'value="submit"' in r.text
    # someone else's record: 404
    client.cookies.clear()
    login(client, "sales2")
    assert client.get(src).status_code == 404


def request_of_latest(erp, eid):
    with erp.sessionmaker() as s:
        return s.scalar(
            select(ApprovalRequest.id)
            .where(ApprovalRequest.entity_id == eid)
            .order_by(ApprovalRequest.id.desc())
        )


def test_hook_entity_panels_adds_the_approval_panel_to_approval_records(client, erp, people):
    from erpkit.core.approval import hooks

    eid = make_expense(erp)

    class Req:
        class app:
            class state:
                pass

    Req.app.state.erp = erp
    panels = hooks.entity_panels(ET, expense(erp, eid), None, Req)
    assert [(p.id, p.src) for p in panels] == [("approval", f"/approvals/panel/{ET}/{eid}")]
    assert hooks.entity_panels("my_plugin.note", object(), None, Req) == []


def test_admin_configures_a_flow_with_the_pages(client, erp, people):
    client.headers["Accept-Language"] = "en"
    login(client, "admin", ADMIN_PASSWORD)
    html = client.get("/admin/approval-flows", headers={"Accept-Language": "zh-CN"}).text
    assert "审批流程" in html and '<option value="my_plugin.expense" >费用</option>' in html
    token = csrf_of(client, "/admin/approval-flows")
    r = client.post("/admin/approval-flows", data={"_csrf": token, "entity_type": ET, "name": ""})
    assert r.status_code == 422 and 'class="invalid-feedback"' in r.text
    r = client.post(
        "/admin/approval-flows",
        data={"_csrf": token, "entity_type": ET, "name": "Expenses"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    fid = int(url.rsplit("/", 1)[1])
    form = client.get(url).text
    assert form.count('name="kind"') == 2  # two empty rows
    # a bad amount and a role step without a role: errors beside the fields, nothing saved
    r = client.post(
        url,
        data={
            "_csrf": token,
            "name": "Expenses",
            "active": "on",
            "kind": ["superior", "role", ""],
            "role_code": ["", "", ""],
            "user_id": ["", "", ""],
            "min_amount": ["abc", "", ""],
        },
    )
    assert r.status_code == 422
    assert "Enter an amount such as 50000 or 50000.00." in r.text and "Choose a role." in r.text
    with erp.sessionmaker() as s:
        assert service.get_flow(s, fid).steps == []
    r = client.post(
        url,
        data={
            "_csrf": token,
            "name": "Expenses",
            "active": "on",
            "kind": ["superior", "", "role"],
            "role_code": ["", "", "finance"],
            "user_id": ["", "", ""],
            "min_amount": ["", "", "50000"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"{url}?saved=1"
    with erp.sessionmaker() as s:
        flow = service.get_flow(s, fid)
        assert flow.active
        assert [(st.position, st.kind, st.role_code, st.min_amount) for st in flow.steps] == [
            (1, "superior", None, None),
            (2, "role", "finance", Decimal("50000.00")),
        ]
    html = client.get("/admin/approval-flows").text
    assert "Superior → Finance (≥ 50,000.00)" in html
    r = client.post(f"{url}/delete", data={"_csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    with erp.sessionmaker() as s:
        assert service.list_flows(s) == []
    # not for salespeople
    client.cookies.clear()
    login(client, "sales1")
    assert client.get("/admin/approval-flows").status_code == 403


def test_pages_in_both_languages(client, erp, people):
    make_flow(erp, [SUPERIOR])
    rid = submit(erp, make_expense(erp))
    login(client, "manager")
    for lang, words in {
        "zh-CN": ("待我审批", "同意", "驳回", "上级"),
        "en": ("My approvals", "Approve", "Reject", "Superior"),
    }.items():
        html = client.get(f"/approvals/{rid}", headers={"Accept-Language": lang}).text
        assert all(w in html for w in words), (lang, words)
    empty = client.get("/approvals?tab=submitted", headers={"Accept-Language": "zh-CN"}).text
    assert "还没有审批申请" in empty
    for tab in ("waiting", "submitted", "all"):
        assert client.get(f"/approvals?tab={tab}").status_code == 200


def test_a_rejected_action_in_the_history_keeps_the_record_consistent(erp, people):
    """A decision's action and the step agree on who decided and when."""
    make_flow(erp, [SUPERIOR])
    rid = submit(erp, make_expense(erp))
    decide(erp, rid, "manager", "reject", "no")
    with erp.sessionmaker() as s:
        req = s.get(ApprovalRequest, rid)
        action = s.scalar(select(ApprovalAction).where(ApprovalAction.action == "reject"))
        assert (req.steps[0].decided_by_id, req.steps[0].decided_at) == (action.user_id, action.at)
