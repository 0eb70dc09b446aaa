"""``flow ui`` for real: the server in its own process over a store of real local tasks, its API
over loopback HTTP, and its pages in headless Chromium (Debian's package, driven by Playwright).

One server, one browser and two finished runs serve the whole module (launching Chromium is most
of the time); each test that needs a live task starts its own.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowlib import Flow
from flowlib.testing.ui import Dashboard, chromium, chromium_path, dashboard

pytest.importorskip("starlette")
playwright = pytest.importorskip("playwright.sync_api")

SECRET = "s3cr3t-value-never-shown-7f1c"

TRAIN = """\
import sys, flowlib
lr = float(sys.argv[1])
for step in range(6):
    flowlib.log_metrics(loss=1 / (1 + lr * step), accuracy=lr * step / 10, step=step)
    print("epoch", step, flush=True)
flowlib.log_checkpoint("ckpt.pt", step=5)
flowlib.log_metrics(grad_norm=float("nan"), step=6)  # a diverged value: JSON has no NaN
"""

# Waits for the test to say "go" (a file), so that a line is written after the page has loaded.
LIVE = """\
import os, pathlib, time, flowlib
go = pathlib.Path(os.environ["UI_GO"])
print("waiting for the page", flush=True)
flowlib.log_metrics(loss=1.0, step=0)
while not go.exists():
    time.sleep(0.01)
print("line written after the page loaded", flush=True)
flowlib.log_metrics(loss=0.5, step=1)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A FLOW_HOME with two finished runs (different learning rates, one secret env value)."""
    root = tmp_path_factory.mktemp("ui")
    home, code = root / "flow", root / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "live.py").write_text(LIVE)
    with Flow(home=home) as flow:
        runs = [
            flow.run(
                [sys.executable, "train.py", lr],
                name=f"train-lr{lr.replace('.', '_')}",
                env={"API_KEY": SECRET},
                code_dir=code,
            )
            for lr in ("0.1", "0.3")
        ]
        for task in runs:
            assert flow.wait(task.task_id, timeout=60).status.value == "completed"
    yield {"home": home, "code": code, "runs": [t.task_id for t in runs]}


@pytest.fixture(scope="module")
def ui(store: dict[str, Any]) -> Iterator[Dashboard]:
    with dashboard(store["home"]) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if chromium_path() is None:
        if os.environ.get("FLOWLIB_REQUIRE_CHROMIUM"):
            pytest.fail("FLOWLIB_REQUIRE_CHROMIUM is set and there is no chromium")
        pytest.skip("no chromium (apt-get install chromium)")
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any, ui: Dashboard) -> Iterator[Any]:
    tab = browser.new_page()
    tab.set_default_timeout(10_000)
    tab.on("dialog", lambda dialog: dialog.accept())  # the cancel button asks first
    tab.goto(ui.url)  # the token URL: sets the cookie, then every page opens without it
    yield tab
    tab.close()


def _live_task(store: dict[str, Any], go: Path) -> str:
    with Flow(home=store["home"]) as flow:
        task = flow.run(
            [sys.executable, "live.py"], name="live", env={"UI_GO": str(go)}, code_dir=store["code"]
        )
        return task.task_id


# -- in the browser ------------------------------------------------------------------------------
def test_the_tasks_page_lists_every_task_with_its_status(page: Any, store: dict[str, Any]) -> None:
    expect = playwright.expect
    assert page.url.endswith("/")  # the token left the address bar once the cookie was set
    for task_id in store["runs"]:
        row = page.locator(f'tr[data-task="{task_id}"]')
        expect(row).to_be_visible()
        expect(row.locator(".status")).to_have_text("completed")
    page.locator('select[name="status"]').select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#tasks")).to_contain_text("no tasks match")
    assert "status=failed" in page.url


def test_the_tasks_page_updates_itself(page: Any, store: dict[str, Any], tmp_path: Path) -> None:
    expect = playwright.expect
    go = tmp_path / "go"
    task_id = _live_task(store, go)  # submitted after the page loaded: no reload below
    row = page.locator(f'tr[data-task="{task_id}"]')
    expect(row.locator(".status")).to_have_text("running", timeout=8_000)
    with Flow(home=store["home"]) as flow:
        flow.cancel(task_id)
    expect(row.locator(".status")).to_have_text("cancelled", timeout=8_000)


def test_a_running_task_streams_its_log_and_metrics_and_cancels(
    page: Any, ui: Dashboard, store: dict[str, Any], tmp_path: Path
) -> None:
    expect = playwright.expect
    go = tmp_path / "go"
    task_id = _live_task(store, go)
    page.goto(f"{ui.base}/tasks/{task_id}")
    expect(page.locator("#log")).to_contain_text("waiting for the page")
    caption = page.locator('#charts figure:has([data-metric="loss"]) .caption')
    expect(caption).to_have_attribute("data-points", "1")
    assert "line written after the page loaded" not in page.locator("#log").inner_text()

    go.touch()
    started = time.monotonic()
    expect(page.locator("#log")).to_contain_text("line written after the page loaded")
    seen_after = time.monotonic() - started
    expect(caption).to_have_attribute("data-points", "2")  # the chart got its new point
    assert seen_after < 5, seen_after

    page.locator("#cancel").click()
    expect(page.locator("#status .status")).to_have_text("cancelled", timeout=15_000)
    expect(page.locator("#cancel")).to_have_count(0)
    with Flow(home=store["home"]) as flow:
        assert flow.get_task(task_id).status.value == "cancelled"


def test_two_runs_compare_on_one_chart_with_their_numbers_and_differences(
    page: Any, store: dict[str, Any]
) -> None:
    expect = playwright.expect
    first, second = store["runs"]
    for task_id in (first, second):
        page.locator(f'tr[data-task="{task_id}"] input[type="checkbox"]').check()
    page.locator("#compare").click()
    expect(page).to_have_url(re.compile(r"/compare\?tasks="))
    loss = page.locator('section.metric:has([data-metric="loss"])')
    expect(loss.locator("canvas")).to_have_count(1)  # uPlot drew the overlaid curves
    # lr 0.1: loss 1/(1+0.5) at step 5; lr 0.3: 1/(1+1.5).
    expect(loss.locator(f'tr[data-task="{first}"]')).to_contain_text("0.6667")
    expect(loss.locator(f'tr[data-task="{second}"]')).to_contain_text("0.4")
    grad = page.locator('section.metric:has([data-metric="grad_norm"])')
    expect(grad.locator(f'tr[data-task="{first}"]')).to_contain_text("—")
    differences = page.locator("#differences")
    expect(differences).to_contain_text("command")
    expect(differences).to_contain_text("0.3")


# -- over HTTP -----------------------------------------------------------------------------------
def test_no_token_no_answer(ui: Dashboard, store: dict[str, Any]) -> None:
    task_id = store["runs"][0]
    with httpx.Client(base_url=ui.base) as client:
        for path in ("/", "/api/tasks", f"/api/tasks/{task_id}/events", "/static/app.js"):
            assert client.get(path).status_code == 403, path
            assert client.get(path, params={"token": "not-it"}).status_code == 403, path
        assert client.get("/api/tasks", headers={"X-Flow-Token": ui.token}).status_code == 200
        # Only a loopback Host (no DNS rebinding), token or not.
        evil = {"Host": "evil.example:80", "X-Flow-Token": ui.token}
        assert client.get("/api/tasks", headers=evil).status_code == 403
        # A change needs the header: the cookie alone (what another site's form would send) fails.
        first = client.get("/", params={"token": ui.token})
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert "HttpOnly" in first.headers["set-cookie"]
        assert "SameSite=Strict" in first.headers["set-cookie"]
        assert client.get("/api/tasks").status_code == 200  # the cookie now
        assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 403
        ended = client.post(f"/api/tasks/{task_id}/cancel", headers={"X-Flow-Token": ui.token})
        assert ended.status_code == 400 and "already" in ended.json()["error"]


def test_no_secret_in_any_page_or_answer(ui: Dashboard, store: dict[str, Any]) -> None:
    first, second = store["runs"]
    paths = [
        "/",
        f"/tasks/{first}",
        f"/compare?tasks={first},{second}",
        "/instances",
        "/catalog",
        "/api/tasks",
        f"/api/tasks/{first}",
        f"/api/tasks/{first}?brief=1",
        f"/api/tasks/{first}/events",
        f"/api/compare?tasks={first},{second}",
        "/api/instances",
        "/api/catalog?min_gpu_memory_gb=40",
    ]
    with httpx.Client(base_url=ui.base, headers={"X-Flow-Token": ui.token}) as client:
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            assert SECRET not in answer.text, path
        task = client.get(f"/api/tasks/{first}").json()
        assert task["config"]["env"] == {"API_KEY": "***"}
        events = client.get(f"/api/tasks/{first}/events").text
        assert "event: end" in events and "epoch 5" in events


def test_tasks_are_paged_and_filtered_on_the_server(ui: Dashboard, store: dict[str, Any]) -> None:
    from flowlib.core.store import TaskRecord, TaskStore, new_task_id
    from flowlib.models import TaskConfig

    config = TaskConfig(command=["true"], name="bulk")
    with TaskStore.at_home(store["home"]) as tasks:
        for _ in range(60):
            tasks.add(TaskRecord(new_task_id(), "bulk", "local", config, status="completed"))
    with httpx.Client(base_url=ui.base, headers={"X-Flow-Token": ui.token}) as client:
        first = client.get("/api/tasks").json()
        assert len(first["tasks"]) == 50 and first["pages"] >= 2 and first["total"] >= 62
        second = client.get("/api/tasks", params={"page": 2}).json()
        assert {t["task_id"] for t in first["tasks"]}.isdisjoint(
            t["task_id"] for t in second["tasks"]
        )
        named = client.get("/api/tasks", params={"name": "train-lr0_3"}).json()
        assert [t["task_id"] for t in named["tasks"]] == [store["runs"][1]]
        bad = client.get("/api/tasks", params={"status": "sleeping"})
        assert bad.status_code == 400 and "unknown task status" in bad.json()["error"]
        compare = client.get("/api/compare", params={"tasks": store["runs"][0]})
        assert compare.status_code == 400


def test_flow_ui_prints_one_line_with_its_address_and_token(ui: Dashboard) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{40,}", ui.url), ui.url


def test_run_again_and_resume_start_new_tasks(ui: Dashboard, store: dict[str, Any]) -> None:
    first = store["runs"][0]
    with httpx.Client(base_url=ui.base, headers={"X-Flow-Token": ui.token}) as client:
        again = client.post(f"/api/tasks/{first}/rerun").json()["task"]
        resumed = client.post(f"/api/tasks/{first}/resume").json()["task"]
        assert len({first, again["task_id"], resumed["task_id"]}) == 3
        with Flow(home=store["home"]) as flow:
            for new in (again, resumed):
                assert flow.wait(new["task_id"], timeout=60).status.value == "completed"
        view = client.get(f"/api/tasks/{resumed['task_id']}?brief=1").json()["task"]
        assert view["resumed_from"] == first
        assert view["name"] == again["name"] == "train-lr0_1"
        unknown = client.post(f"/api/tasks/{first}/explode")
        assert unknown.status_code == 400
        missing = client.get("/api/tasks/task-000000000000")
        assert missing.status_code == 404 and "error" in missing.json()


def test_a_tasks_artifacts_are_listed_and_download_with_the_token(
    ui: Dashboard, store: dict[str, Any]
) -> None:
    first = store["runs"][0]
    with httpx.Client(base_url=ui.base, headers={"X-Flow-Token": ui.token}) as client:
        listed = client.get(f"/api/tasks/{first}").json()["artifacts"]
        log = next(a for a in listed if a["kind"] == "log")
        answer = client.get(f"/api/tasks/{first}/artifacts/{log['name']}")
        assert answer.status_code == 200, answer.text
        with Flow(home=store["home"]) as flow:
            assert answer.text.strip() == flow.logs(first, tail=None, include_metrics=True).strip()
        assert client.get(f"/api/tasks/{first}/artifacts/no-such-thing").status_code >= 400
    with httpx.Client(base_url=ui.base) as anonymous:
        assert anonymous.get(f"/api/tasks/{first}/artifacts/{log['name']}").status_code == 403
