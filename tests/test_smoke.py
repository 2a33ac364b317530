from conftest import ADMIN_PASSWORD, login


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_login_flow(client):
    r = login(client, "admin", ADMIN_PASSWORD)
    assert r.status_code == 303, r.text
    home = client.get("/")
    assert home.status_code == 200
    assert "admin" in home.text
