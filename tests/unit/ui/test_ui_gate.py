"""The dashboard's token gate and page shell, in process (Starlette's test client: no socket)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

with warnings.catch_warnings():  # newer Starlette prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from flowlib.ui._pages import page
from flowlib.ui._security import TokenGate
from flowlib.ui._server import exposure_warning

TOKEN = "t0ken-for-the-test"


def _client(loopback_only: bool = True) -> TestClient:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    inner = Starlette(routes=[Route("/{path:path}", hello, methods=["GET", "POST"])])
    gate = TokenGate(inner, TOKEN, cookie="flow_ui_1", loopback_only=loopback_only)
    return TestClient(gate, base_url="http://127.0.0.1:1", follow_redirects=False)


def test_every_way_in_needs_the_token() -> None:
    client = _client()
    assert client.get("/").status_code == 403
    assert client.get("/api/tasks", params={"token": "wrong"}).status_code == 403
    assert client.get("/api/tasks", params={"token": TOKEN}).text == "hello"
    assert client.get("/api/tasks", headers={"X-Flow-Token": TOKEN}).text == "hello"


def test_the_first_visit_trades_the_token_for_a_strict_cookie() -> None:
    client = _client()
    first = client.get("/tasks/x", params={"token": TOKEN, "page": "2"})
    assert first.status_code == 303
    assert first.headers["location"] == "/tasks/x?page=2"  # the token leaves the address
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"flow_ui_1={TOKEN};") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert client.get("/tasks/x").text == "hello"  # the client keeps the cookie


def test_a_change_needs_the_header_not_just_the_cookie() -> None:
    client = _client()
    client.cookies.set("flow_ui_1", TOKEN)
    assert client.get("/").text == "hello"
    assert client.post("/api/tasks/x/cancel").status_code == 403
    assert client.post("/api/tasks/x/cancel", params={"token": TOKEN}).status_code == 403
    assert client.post("/api/tasks/x/cancel", headers={"X-Flow-Token": TOKEN}).text == "hello"


def test_on_loopback_a_foreign_host_name_is_refused() -> None:
    headers = {"X-Flow-Token": TOKEN}
    assert _client().get("/", headers={**headers, "Host": "rebound.example"}).status_code == 403
    assert _client().get("/", headers={**headers, "Host": "localhost:8765"}).text == "hello"
    assert _client(False).get("/", headers={**headers, "Host": "box.lan:8765"}).text == "hello"


def test_listening_beyond_loopback_warns() -> None:
    assert exposure_warning("127.0.0.1") is None
    assert exposure_warning("::1") is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "0.0.0.0" in warning and "token" in warning


def test_page_data_cannot_close_its_script_element() -> None:
    html = page("tasks", {"name": "</script><script>alert(1)</script>"}, TOKEN)
    assert "</script><script>alert(1)" not in html
    assert "\\u003c/script>" in html
    assert f'<meta name="flow-token" content="{TOKEN}">' in html


def test_flow_help_and_import_flowlib_load_no_web_stack() -> None:
    probe = (
        "import sys, flowlib\n"
        "from flowlib.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('starlette', 'uvicorn', 'flowlib.ui') if m in sys.modules])\n"
    )
    out = subprocess.check_output([sys.executable, "-c", probe], text=True)
    assert out.strip().endswith("[]"), out
