"""Sign-in, sessions, CSRF, throttling, tokens, users API, permissions and data scope."""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN_PASSWORD, PASSWORD, csrf_of, login, token_for
from litestar.testing import TestClient
from sqlalchemy import func, select

from erpkit.core.auth import service
from erpkit.core.auth.models import ApiToken, LoginSession, User


def test_password_is_argon2(erp, people):
    with erp.sessionmaker() as s:
        h = s.scalar(select(User.password_hash).where(User.username == "sales1"))
    assert h.startswith("$argon2id$")
    assert PASSWORD not in h


def test_login_sets_http_only_session_cookie(client, people):
    r = login(client, "sales1")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("erpkit_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert client.get("/").status_code == 200


def test_login_redirects_to_next_but_only_locally(client, people):
    token = csrf_of(client)
    r = client.post(
        "/login",
        data={
            "username": "sales1",
            "password": PASSWORD,
            "_csrf": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"
    client.post("/logout", data={"_csrf": csrf_of(client, "/")})
    token = csrf_of(client)
    r = client.post(
        "/login",
        data={
            "username": "sales1",
            "password": PASSWORD,
            "_csrf": token,
            "next": "/admin/users?page=2",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/admin/users?page=2"


def test_anonymous_page_redirects_to_login_with_next(client):
    r = client.get("/admin/users?q=a", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/admin/users%3Fq%3Da"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, people):
    a = login(client, "sales1", "wrong-password")
    b = login(client, "no-such-user", "wrong-password")
    assert a.status_code == b.status_code == 401
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731
    assert strip(a.text) == strip(b.text)
    assert "用户名或密码错误" in a.text
    api_a = client.post("/api/v1/auth/token", json={"username": "sales1", "password": "nope"})
    api_b = client.post("/api/v1/auth/token", json={"username": "ghost", "password": "nope"})
    assert api_a.status_code == api_b.status_code == 401
    assert api_a.json() == api_b.json()
    assert api_a.headers["content-type"].startswith("application/problem+json")


def test_inactive_user_cannot_sign_in(client, erp, people):
    with erp.sessionmaker.begin() as s:
        service.update_user(s, service.get_user(s, people["sales1"]), is_active=False)
    assert login(client, "sales1").status_code == 401


def test_login_throttling(client, people, erp):
    for _ in range(erp.settings.login_max_failures):
        assert login(client, "sales1", "bad-password").status_code == 401
    r = login(client, "sales1")  # even the right password is refused now
    assert r.status_code == 429
    assert "登录失败次数过多" in r.text
    r = client.post("/api/v1/auth/token", json={"username": "sales1", "password": PASSWORD})
    assert r.status_code == 429 and r.headers["retry-after"]
    # other users are not affected
    assert login(client, "sales2").status_code == 303


def test_successful_login_clears_failures(client, people, erp):
    for _ in range(erp.settings.login_max_failures - 1):
        login(client, "sales1", "bad-password")
    assert login(client, "sales1").status_code == 303
    client.post("/logout", data={"_csrf": csrf_of(client, "/")})
    assert login(client, "sales1", "bad-password").status_code == 401
    assert login(client, "sales1").status_code == 303


def test_logout_ends_the_session_server_side(client, people, erp):
    login(client, "sales1")
    cookie = client.cookies.get("erpkit_session")
    r = client.post("/logout", data={"_csrf": csrf_of(client, "/")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 0
    # replaying the old cookie does not work
    client.cookies.set("erpkit_session", cookie)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_tampered_session_cookie_is_ignored(client, people):
    login(client, "sales1")
    value = client.cookies.get("erpkit_session")
    sid, _, mac = value.rpartition(".")
    client.cookies.set("erpkit_session", sid + "." + ("0" * len(mac)))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_csrf_is_required_on_forms(client, people):
    r = client.post(
        "/login", data={"username": "sales1", "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 403
    login(client, "sales1")
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/logout", data={"_csrf": "0" * 64}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def test_csrf_on_api_with_session_cookie(client, people, admin_headers):
    login(client, "admin", ADMIN_PASSWORD)
    body = {"name": "Support"}
    assert client.post("/api/v1/departments", json=body).status_code == 403
    r = client.post(
        "/api/v1/departments", json=body, headers={"X-CSRF-Token": csrf_of(client, "/")}
    )
    assert r.status_code == 201, r.text


def test_bearer_token_needs_no_csrf(client, admin_headers):
    r = client.post("/api/v1/departments", json={"name": "Sales"}, headers=admin_headers)
    assert r.status_code == 201


def test_token_is_stored_hashed_and_can_expire(client, erp, people):
    r = client.post(
        "/api/v1/auth/token",
        json={"username": "sales1", "password": PASSWORD, "name": "script", "days": 1},
    )
    token = r.json()["token"]
    assert token.startswith("ek_")
    with erp.sessionmaker() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored) == 1
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with erp.sessionmaker.begin() as s:
        t = s.scalar(select(ApiToken))
        t.expires_at = service.utcnow()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "value", ["Bearer nonsense", "Bearer ek_" + "x" * 43, "Bearer ", "Basic abc"]
)
def test_bad_tokens_are_refused(client, value):
    r = client.get("/api/v1/me", headers={"Authorization": value})
    assert r.status_code == 401
    assert r.json()["status"] == 401


def test_me(client, people):
    headers = token_for(client, "sales1")
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["username"] == "sales1"
    assert me["roles"] == ["salesperson"]
    assert me["superior_id"] == people["manager"]
    assert me["data_scope"] == "own"
    assert "my_plugin.write" in me["permissions"]
    assert "core.manage_users" not in me["permissions"]


def test_users_api_is_admin_only(client, people, admin_headers):
    for name in ("sales1", "manager", "finance"):
        h = token_for(client, name)
        assert client.get("/api/v1/users", headers=h).status_code == 403
        assert (
            client.post(
                "/api/v1/users", headers=h, json={"username": "x", "password": PASSWORD}
            ).status_code
            == 403
        )
    r = client.get("/api/v1/users?q=sales&per_page=1", headers=admin_headers)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["per_page"] == 1


def test_users_api_create_and_update(client, people, admin_headers):
    r = client.post(
        "/api/v1/users",
        headers=admin_headers,
        json={
            "username": "Li.Lei",
            "password": PASSWORD,
            "roles": ["clerk"],
            "display_name": "李雷",
            "department_id": people["departments"]["east"],
            "superior_id": people["manager"],
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["username"] == "li.lei" and user["display_name"] == "李雷"
    assert user["roles"] == ["clerk"]
    r = client.patch(
        f"/api/v1/users/{user['id']}",
        headers=admin_headers,
        json={"roles": ["clerk", "finance"], "locale": "en"},
    )
    assert r.status_code == 200
    assert r.json()["roles"] == ["clerk", "finance"] and r.json()["locale"] == "en"
    assert r.json()["display_name"] == "李雷"  # untouched
    assert login(client, "LI.LEI").status_code == 303  # user names ignore case


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "has space", "password": PASSWORD}, "username"),
        ({"username": "short", "password": "123"}, "password"),
        ({"username": "x1", "password": PASSWORD, "roles": ["king"]}, "roles"),
        ({"username": "x2", "password": PASSWORD, "department_id": 999}, "department_id"),
        ({"username": "x3", "password": PASSWORD, "superior_id": 999}, "superior_id"),
        ({"username": "x4", "password": PASSWORD, "email": "not-mail"}, "email"),
        ({"username": "x5", "password": PASSWORD, "locale": "fr"}, "locale"),
    ],
)
def test_users_api_field_errors_change_nothing(client, erp, admin_headers, body, field):
    with erp.sessionmaker() as s:
        before = s.scalar(select(func.count()).select_from(User))
    r = client.post("/api/v1/users", headers={**admin_headers, "Accept-Language": "en"}, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(User)) == before


def test_users_api_schema_errors_are_problem_json(client, admin_headers):
    r = client.post("/api/v1/users", headers=admin_headers, json={"username": 5})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"]


def test_duplicate_user_is_a_conflict(client, people, admin_headers):
    r = client.post(
        "/api/v1/users", headers=admin_headers, json={"username": "SALES1", "password": PASSWORD}
    )
    assert r.status_code == 409


def test_superior_cycle_is_refused(client, people, admin_headers):
    r = client.patch(
        f"/api/v1/users/{people['manager']}",
        headers=admin_headers,
        json={"superior_id": people["sales1"]},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "superior_id"


def test_admin_cannot_lock_themself_out(client, admin_headers):
    me = client.get("/api/v1/me", headers=admin_headers).json()
    r = client.patch(f"/api/v1/users/{me['id']}", headers=admin_headers, json={"is_active": False})
    assert r.status_code == 422
    r = client.patch(f"/api/v1/users/{me['id']}", headers=admin_headers, json={"roles": ["clerk"]})
    assert r.status_code == 422


def test_password_change_signs_out_everywhere(client, erp, people):
    login(client, "sales1")
    with erp.sessionmaker.begin() as s:
        service.set_password(s, service.get_user(s, people["sales1"]), "brand-new-pass")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_role_grants_api(client, people, admin_headers):
    h = token_for(client, "finance")
    assert client.get("/api/v1/users", headers=h).status_code == 403
    r = client.put(
        "/api/v1/roles/finance/permissions",
        headers=admin_headers,
        json={"permissions": ["core.manage_users"]},
    )
    assert r.status_code == 200 and r.json()["permissions"] == ["core.manage_users"]
    assert client.get("/api/v1/users", headers=h).status_code == 200
    r = client.put(
        "/api/v1/roles/finance/permissions",
        headers=admin_headers,
        json={"permissions": ["no.such"]},
    )
    assert r.status_code == 422
    assert (
        client.put(
            "/api/v1/roles/king/permissions", headers=admin_headers, json={"permissions": []}
        ).status_code
        == 404
    )


def test_departments_api(client, admin_headers):
    r = client.post("/api/v1/departments", headers=admin_headers, json={"name": "华东区"})
    top = r.json()
    r = client.post(
        "/api/v1/departments", headers=admin_headers, json={"name": "上海", "parent_id": top["id"]}
    )
    assert r.status_code == 201 and r.json()["parent_id"] == top["id"]
    assert (
        client.post("/api/v1/departments", headers=admin_headers, json={"name": "上海"}).status_code
        == 409
    )
    assert (
        client.post("/api/v1/departments", headers=admin_headers, json={"name": " "}).status_code
        == 422
    )
    names = [d["name"] for d in client.get("/api/v1/departments", headers=admin_headers).json()]
    assert set(names) == {"华东区", "上海"}


# -- data scope ------------------------------------------------------------------------------


def _notes_seen_by(client, name):
    headers = token_for(client, name, ADMIN_PASSWORD if name == "admin" else PASSWORD)
    return sorted(n["title"] for n in client.get("/api/v1/my-plugin/notes", headers=headers).json())


def test_data_scope_own_department_all(client, erp, people):
    from my_plugin.models import Note

    with erp.sessionmaker.begin() as s:
        for owner in ("sales1", "sales2", "outsider", "manager"):
            s.add(Note(title=owner, owner_id=people[owner]))
    assert _notes_seen_by(client, "sales1") == ["sales1"]
    assert _notes_seen_by(client, "outsider") == ["outsider"]
    # the manager's department (Sales) includes Sales East below it
    assert _notes_seen_by(client, "manager") == ["manager", "sales1", "sales2"]
    assert _notes_seen_by(client, "finance") == ["manager", "outsider", "sales1", "sales2"]
    assert _notes_seen_by(client, "admin") == ["manager", "outsider", "sales1", "sales2"]


def test_data_scope_also_clause(erp, people):
    from my_plugin.models import Note

    with erp.sessionmaker.begin() as s:
        s.add_all(
            [
                Note(title="mine", owner_id=people["sales1"]),
                Note(title="shared", owner_id=people["outsider"]),
            ]
        )
    with erp.sessionmaker() as s:
        user = service.current_user_from(s, service.get_user(s, people["sales1"]))
        clause = service.scope_clause(user, Note.owner_id, also=Note.title == "shared")
        assert sorted(s.scalars(select(Note.title).where(clause))) == ["mine", "shared"]


def test_admin_adds_a_role_and_grants_it(client, people, admin_headers):
    r = client.post(
        "/api/v1/roles",
        headers=admin_headers,
        json={
            "code": "regional_manager",
            "name_zh": "区域经理",
            "name_en": "Regional manager",
            "data_scope": "department",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["permissions"] == []
    assert (
        client.post(
            "/api/v1/roles",
            headers=admin_headers,
            json={"code": "regional_manager", "name_zh": "x", "name_en": "x"},
        ).status_code
        == 409
    )
    r = client.post(
        "/api/v1/roles",
        headers=admin_headers,
        json={"code": "Bad Code", "name_zh": "", "name_en": "x", "data_scope": "galaxy"},
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"code", "name_zh", "data_scope"}
    r = client.put(
        "/api/v1/roles/regional_manager/permissions",
        headers=admin_headers,
        json={"permissions": ["my_plugin.write"]},
    )
    assert r.json()["permissions"] == ["my_plugin.write"]
    r = client.post(
        "/api/v1/users",
        headers=admin_headers,
        json={
            "username": "zhao",
            "password": PASSWORD,
            "roles": ["regional_manager"],
            "department_id": people["departments"]["sales"],
        },
    )
    me = client.get("/api/v1/me", headers=token_for(client, "zhao")).json()
    assert me["data_scope"] == "department" and me["permissions"] == ["my_plugin.write"]


def test_admin_role_page_adds_a_role_with_field_errors(client, people):
    login(client, "admin", ADMIN_PASSWORD)
    token = csrf_of(client, "/admin/roles")
    r = client.post(
        "/admin/roles",
        data={"_csrf": token, "code": "x", "name_zh": "", "name_en": "E", "data_scope": "own"},
    )
    assert r.status_code == 422
    assert 'id="e-code"' in r.text and 'id="e-name_zh"' in r.text
    r = client.post(
        "/admin/roles",
        data={
            "_csrf": token,
            "code": "quality",
            "name_zh": "质检",
            "name_en": "Quality",
            "data_scope": "all",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/roles/quality"
    assert "质检" in client.get("/admin/roles").text


def test_admin_user_form_shows_errors_beside_fields(client, people):
    login(client, "admin", ADMIN_PASSWORD)
    token = csrf_of(client, "/admin/users/new")
    r = client.post(
        "/admin/users/new", data={"_csrf": token, "username": "bad name", "password": "1"}
    )
    assert r.status_code == 422
    assert 'id="e-username"' in r.text and 'id="e-password"' in r.text
    r = client.post(
        "/admin/users/new",
        data={
            "_csrf": token,
            "username": "zhou",
            "password": PASSWORD,
            "display_name": "周",
            "roles": ["salesperson", "clerk"],
            "department_id": str(people["departments"]["east"]),
            "superior_id": str(people["manager"]),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    listing = client.get("/admin/users?q=zhou").text
    assert "zhou" in listing and "Sales East" in listing and "manager" in listing
    uid = re.search(r'href="/admin/users/(\d+)">zhou<', listing).group(1)
    r = client.post(
        f"/admin/users/{uid}",
        data={"_csrf": token, "display_name": "周", "roles": ["clerk"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.get(f"/api/v1/users/{uid}", headers=token_for(client, "admin", ADMIN_PASSWORD))
    assert r.json()["roles"] == ["clerk"] and r.json()["is_active"] is False


def test_own_account_profile_and_password(client, erp, people):
    login(client, "sales1")
    page_html = client.get("/account").text
    assert "我的账号" in page_html and "sales1" in page_html
    token = csrf_of(client, "/account")
    r = client.post(
        "/account/profile",
        data={"_csrf": token, "display_name": "小李", "email": "bad", "locale": "en"},
    )
    assert r.status_code == 422 and 'id="e-email"' in r.text
    r = client.post(
        "/account/profile",
        data={"_csrf": token, "display_name": "小李", "email": "li@example.com", "locale": "en"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Saved." in client.get("/account?saved=1").text  # now in English, the user's choice
    # a second browser of the same user
    other = client.__class__(client.app)
    with other:
        login(other, "sales1")
        assert other.get("/", follow_redirects=False).status_code == 200
        r = client.post(
            "/account/password",
            data={
                "_csrf": token,
                "current_password": "wrong",
                "new_password": "short",
                "confirm_password": "short",
            },
        )
        assert r.status_code == 422
        assert 'id="e-current_password"' in r.text and 'id="e-new_password"' in r.text
        r = client.post(
            "/account/password",
            data={
                "_csrf": token,
                "current_password": PASSWORD,
                "new_password": "new-pass-456",
                "confirm_password": "new-pass-456",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert client.get("/account", follow_redirects=False).status_code == 200  # still in
        assert other.get("/", follow_redirects=False).status_code == 303  # signed out
    client.post("/logout", data={"_csrf": csrf_of(client, "/")})
    assert login(client, "sales1", "new-pass-456").status_code == 303


def test_cached_users_follow_changes_made_by_another_process(client, erp, people, make_app):
    """Who a token or session belongs to is cached per process; a change made by another
    process (here a second app on the same database, as the CLI or another worker) is seen
    by the very next request."""
    changes_elsewhere_show_at_once(client, erp, people, make_app(upgrade=False).state.erp)


def test_cached_users_follow_changes_elsewhere_on_postgresql(make_app, settings, pg_database_url):
    """The same on PostgreSQL in every run: there the middleware awaits the counter on a
    connection of its own per event loop (erpkit.core.generations.current_async)."""
    pg = settings.with_(database_url=pg_database_url)
    app = make_app(settings_=pg)
    other = make_app(settings_=pg, upgrade=False).state.erp
    with TestClient(app) as client:
        erp = app.state.erp
        with erp.sessionmaker.begin() as s:
            people = {
                name: service.create_user(s, name, PASSWORD, roles=["salesperson"]).id
                for name in ("sales1", "sales2")
            }
        changes_elsewhere_show_at_once(client, erp, people, other)


def changes_elsewhere_show_at_once(client, erp, people, other) -> None:
    from sqlalchemy import delete, event

    from erpkit.core.auth import cache

    headers = token_for(client, "sales1")
    me = client.get("/api/v1/me", headers=headers).json()
    assert "core.manage_users" not in me["permissions"]

    # a cached answer costs no query beyond the counter's read
    token = headers["Authorization"].split()[1]
    statements: list[str] = []
    event.listen(erp.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert cache.user_for_token(erp, token).username == "sales1"
    assert statements == []

    # a grant given elsewhere shows at once
    with other.sessionmaker.begin() as s:
        known = {code for (code,) in s.execute(select(service.KnownPermission.code))}
        service.grant(s, "salesperson", {*me["permissions"], "core.manage_users"}, known)
    assert "core.manage_users" in client.get("/api/v1/me", headers=headers).json()["permissions"]

    # a deactivated user is refused at once, and so is a revoked token
    with other.sessionmaker.begin() as s:
        service.update_user(s, service.get_user(s, people["sales1"]), is_active=False)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    with other.sessionmaker.begin() as s:
        service.update_user(s, service.get_user(s, people["sales1"]), is_active=True)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with other.sessionmaker.begin() as s:
        s.execute(delete(ApiToken))
    assert client.get("/api/v1/me", headers=headers).status_code == 401

    # a browser session ended elsewhere (sign-out on another worker) is refused at once
    login(client, "sales2")
    assert client.get("/", follow_redirects=False).status_code == 200
    with other.sessionmaker.begin() as s:
        s.execute(delete(LoginSession))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_rolled_back_change_leaves_the_cache_alone_and_a_later_one_counts(erp, people):
    from erpkit.core import generations

    (before,) = generations.current(erp.engine, "auth")
    with erp.sessionmaker() as s, s.begin():
        with s.begin_nested() as sp:
            service.get_user(s, people["sales1"]).display_name = "改名"
            s.flush()
            sp.rollback()
        assert generations.current(erp.engine, "auth") == (before,)  # nothing committed
        service.get_user(s, people["sales2"]).display_name = "另一个"
    assert generations.current(erp.engine, "auth") == (before + 1,)


def test_user_names_are_kept_under_the_requests_counter(erp, people, make_app):
    """During a request (the middleware's counter set), names of users are read once per
    process and counter; a rename anywhere raises the counter, and the next request reads
    the new name. Outside requests, and in a session with changes of its own, every call
    reads the database."""
    from conftest import statements_on

    from erpkit.core import generations

    uid = people["sales1"]
    statements: list[str] = []

    def names(gen):
        token = service.REQUEST_AUTH_GENERATION.set(gen)
        try:
            with statements_on(erp.engine) as seen, erp.read_sessionmaker() as s:
                return service.user_labels(s, [uid, None])
        finally:
            statements[:] = seen
            service.REQUEST_AUTH_GENERATION.reset(token)

    (gen,) = generations.current(erp.engine, "auth")
    before = names(gen)[uid]
    assert statements  # read once
    assert names(gen) == {uid: before} and statements == []  # then kept

    other = make_app(upgrade=False).state.erp  # another process on the same database
    with other.sessionmaker.begin() as s:
        service.update_user(s, service.get_user(s, uid), display_name="改了名的销售")
    (newer,) = generations.current(erp.engine, "auth")
    assert newer > gen
    assert names(newer) == {uid: "改了名的销售"} and statements

    # no request: always read
    assert names(None) == {uid: "改了名的销售"} and statements

    # a session that renamed the user (not yet flushed) sees its own change
    token = service.REQUEST_AUTH_GENERATION.set(newer)
    try:
        with erp.sessionmaker() as s:
            service.get_user(s, uid).display_name = "未提交的名字"
            assert service.user_labels(s, [uid]) == {uid: "未提交的名字"}
            s.rollback()
    finally:
        service.REQUEST_AUTH_GENERATION.reset(token)
    assert names(newer) == {uid: "改了名的销售"}

    # a request that commits a rename and then shows names (a later session) reads anew
    token = service.REQUEST_AUTH_GENERATION.set(newer)
    try:
        with erp.sessionmaker.begin() as s:
            service.get_user(s, uid).display_name = "同一请求里改的名"
        with erp.read_sessionmaker() as s:
            assert service.user_labels(s, [uid]) == {uid: "同一请求里改的名"}
    finally:
        service.REQUEST_AUTH_GENERATION.reset(token)


def test_a_lookup_that_may_not_wait_answers_from_the_cache_or_raises(client, erp, people):
    """``database=False`` (the middleware on PostgreSQL): a token not cached, or whose
    use is due to be recorded, raises NeedsDatabase and reads or writes nothing; once
    looked up it is answered from the cache."""
    from conftest import statements_on

    from erpkit.core import generations
    from erpkit.core.auth import cache

    token = token_for(client, "sales1")["Authorization"].split()[1]
    (gen,) = generations.current(erp.engine, "auth")
    with statements_on(erp.engine) as seen, pytest.raises(cache.NeedsDatabase):
        cache.user_for_token(erp, token, gen, database=False)
    assert seen == []
    assert cache.user_for_token(erp, token, gen).username == "sales1"  # reads, records use
    with statements_on(erp.engine) as seen:
        assert cache.user_for_token(erp, token, gen, database=False).username == "sales1"
        # a minute later its use is recorded again: that write waits for a thread too
        for key in erp._auth_touched:
            erp._auth_touched[key] -= cache.TOUCH_EVERY * 2
        with pytest.raises(cache.NeedsDatabase):
            cache.user_for_token(erp, token, gen, database=False)
    assert seen == []


def test_lookups_wait_for_postgresql_in_a_thread_not_on_the_event_loop(
    make_app, settings, pg_database_url, monkeypatch
):
    """On PostgreSQL a token or session the cache lacks is read (and a token's use
    recorded) in a thread: a round trip on the event loop would hold every request."""
    import asyncio

    where: list[tuple[str, bool]] = []
    for name in ("token_row", "touch_token", "session_row"):

        def spy(*args, _real=getattr(service, name), _name=name, **kwargs):
            where.append((_name, asyncio._get_running_loop() is None))
            return _real(*args, **kwargs)

        monkeypatch.setattr(service, name, spy)
    app = make_app(settings_=settings.with_(database_url=pg_database_url))
    with TestClient(app) as client:
        with app.state.erp.sessionmaker.begin() as s:
            service.create_user(s, "sales1", PASSWORD, roles=["salesperson"])
        headers = token_for(client, "sales1")
        assert client.get("/api/v1/me", headers=headers).json()["username"] == "sales1"
        login(client, "sales1")
        assert client.get("/", follow_redirects=False).status_code == 200
    assert {"token_row", "touch_token", "session_row"} <= {n for n, _off in where}
    assert all(off_loop for _n, off_loop in where), where


def test_the_counter_connection_closes_with_the_engine(make_app):
    """The auth counter is read on a connection of its own (no pool round trips); it
    goes when the engine is disposed, so that no connection outlives its app."""
    from erpkit.core import generations

    erp = make_app().state.erp
    assert generations.current(erp.engine, "auth") == (0,)
    slot = generations._OWN[erp.engine.pool]
    conn = slot[1]
    assert conn is not None
    erp.engine.dispose()
    assert slot[1] is None
    with pytest.raises(Exception):  # noqa: B017 (sqlite3 or psycopg: closed)
        conn.cursor().execute("SELECT 1")
    assert generations.current(erp.engine, "auth") == (0,)  # a new one after dispose


def test_counter_reads_on_the_event_loop_see_every_commit_before_them(
    make_app, settings, pg_database_url
):
    """On PostgreSQL the middleware awaits the auth counter (generations.current_async).
    Callers that ask while a read is under way share one later read: none is answered by
    a read that started before it asked, so a change committed before then is seen."""
    import asyncio

    from erpkit.core import generations

    erp = make_app(settings_=settings.with_(database_url=pg_database_url)).state.erp
    (before,) = generations.current(erp.engine, "auth")

    async def scenario():
        reader = generations._async_reader(erp.engine)
        query = reader._query
        answered, release = asyncio.Event(), asyncio.Event()

        async def slow_answer(keys):  # the first read is made, its answer comes back late
            found = await query(keys)
            if not answered.is_set():
                answered.set()
                await release.wait()
            return found

        reader._query = slow_answer
        first = asyncio.create_task(generations.current_async(erp.engine, "auth"))
        await answered.wait()
        with erp.sessionmaker.begin() as s:  # committed after the first read, before these
            generations.bump(s, "auth")
        later = [
            asyncio.create_task(generations.current_async(erp.engine, "auth")) for _ in range(3)
        ]
        await asyncio.sleep(0.01)
        release.set()
        return await first, await asyncio.gather(*later), reader.reads

    first, later, reads = asyncio.run(scenario())
    assert first == (before,)
    assert later == [(before + 1,)] * 3
    assert reads == 2  # the three waiting callers shared one read


def test_the_async_counter_connection_reconnects_and_closes_with_the_engine(
    make_app, settings, pg_database_url
):
    """The event loop's counter connection: one the server ended is replaced on the next
    read; it is closed when the engine is disposed, and a new one made after that."""
    import asyncio

    from sqlalchemy import text

    from erpkit.core import generations

    erp = make_app(settings_=settings.with_(database_url=pg_database_url)).state.erp

    async def scenario():
        assert await generations.current_async(erp.engine, "auth") == (0,)
        reader = generations._async_reader(erp.engine)
        conn = reader.conn
        with erp.engine.begin() as c:  # the server ends it (a restart, a failover)
            c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": conn.info.backend_pid})
        assert await generations.current_async(erp.engine, "auth") == (0,)
        assert reader.conn is not conn and conn.closed
        conn = reader.conn
        erp.engine.dispose()
        assert conn.closed
        assert await generations.current_async(erp.engine, "auth") == (0,)
        assert generations._async_reader(erp.engine) is not reader

    asyncio.run(scenario())
