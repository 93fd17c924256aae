"""The pages a browser opens besides the chat: the API docs, the browsable API, the admin's frame."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.staticfiles import finders
from django.test import Client

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_api_docs_load_swagger_ui_from_the_installed_package_not_a_cdn(db: None) -> None:
    page = Client().get("/api/docs/", headers=BROWSER)
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by Mosaic"
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not installed"
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert "cdn." not in html


def test_an_anonymous_browser_gets_the_api_root_with_a_log_in_link(db: None) -> None:
    page = Client().get("/api/", headers=BROWSER)
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r"href=['\"]/api-auth/login/\?next=/api/['\"]>Log in<", html)
    assert "Mosaic API" in html
    assert "/api/conversations" in html
    # The links are all there is: the endpoints behind them still want a login.
    assert Client().get("/api/conversations", headers=BROWSER).status_code == 401


def test_the_browsable_api_signs_in_with_a_username_and_password(alice: Any) -> None:
    browser = Client()
    login = browser.post(
        "/api-auth/login/?next=/api/",
        {"username": "alice", "password": "alice-Secret-pw-1", "next": "/api/"},
    )
    assert login.status_code == 302
    assert login["Location"] == "/api/"
    page = browser.get("/api/conversations", headers=BROWSER)
    assert page.status_code == 200
    assert "alice" in page.content.decode()  # signed in: the navbar names the user


def test_the_admin_is_named_mosaic_and_leaves_the_width_to_the_lists(staff: Any) -> None:
    browser = Client()
    browser.force_login(staff)
    html = browser.get("/admin/").content.decode()
    assert "Mosaic administration" in html
    assert "Django administration" not in html
    lists = browser.get("/admin/routing/routingrule/").content.decode()
    assert 'id="nav-sidebar"' not in lists
