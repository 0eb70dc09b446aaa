"""The dashboard's routes: pages (HTML with their first data inside), a JSON API, the live
stream of a task (server-sent events) and the buttons (POSTs). Needs ``flowlib[ui]``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from flowlib.errors import FlowError, TaskNotFoundError, ValidationError
from flowlib.flow import Flow
from flowlib.ui import _views
from flowlib.ui._pages import page
from flowlib.ui._security import TokenGate

if TYPE_CHECKING:
    from flowlib.models import Task
    from flowlib.ui._shapes import (
        ActionAnswer,
        CatalogView,
        CompareView,
        InstancesView,
        TaskBrief,
        TaskPage,
        TasksPage,
        WakeAnswer,
    )

__all__ = ["Dashboard", "build_app"]

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0
P = ParamSpec("P")
T = TypeVar("T")
# A live stream's events: (event name, its JSON data); None ends the stream.
Event = tuple[str, object]


class Dashboard:
    """The state behind the routes: one :class:`Flow` for the pages and buttons (calls on it
    take turns: it is one client), and a fresh one for each live stream, which runs for long."""

    def __init__(self, home: Path | None, token: str) -> None:
        self.home = home
        self.token = token
        self.flow = Flow(home=home)
        self.lock = threading.Lock()

    def call(self, fn: Callable[Concatenate[Flow, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self.lock:
            return fn(self.flow, *args, **kwargs)

    def close(self) -> None:
        with self.lock:
            self.flow.close()


def build_app(
    home: Path | None, token: str, *, cookie: str, loopback_only: bool = True
) -> TokenGate:
    """The ASGI app of the dashboard for the store under ``home``, behind the token gate."""
    board = Dashboard(home, token)
    routes = [
        Route("/", _page(board, "tasks", _tasks)),
        Route("/tasks/{task_id}", _page(board, "task", _task)),
        Route("/compare", _page(board, "compare", _compare)),
        Route("/instances", _page(board, "instances", _instances)),
        Route("/catalog", _page(board, "catalog", _catalog)),
        Route("/api/tasks", _api(board, _tasks)),
        Route("/api/tasks/{task_id}", _api(board, _task)),
        Route("/api/tasks/{task_id}/events", _events(board)),
        Route("/api/tasks/{task_id}/artifacts/{name:path}", _download(board)),
        Route("/api/tasks/{task_id}/{action}", _api(board, _act), methods=["POST"]),
        Route("/api/compare", _api(board, _compare)),
        Route("/api/instances", _api(board, _instances)),
        Route("/api/instances/{provider}/{name}/{action}", _api(board, _wake), methods=["POST"]),
        Route("/api/catalog", _api(board, _catalog)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        board.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    return TokenGate(app, token, cookie=cookie, loopback_only=loopback_only)


# -- what each address answers ------------------------------------------------------------------
def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        raise ValidationError(f"expected a whole number, got {text!r}") from None


def _float(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"expected a number, got {text!r}") from None


def _tasks(board: Dashboard, request: Request) -> TasksPage:
    q = request.query_params
    return board.call(
        _views.tasks_view,
        status=q.get("status"),
        provider=q.get("provider"),
        name=q.get("name"),
        page=_int(q.get("page"), 1),
    )


def _task(board: Dashboard, request: Request) -> TaskPage | TaskBrief:
    ref = request.path_params["task_id"]
    if request.query_params.get("brief"):  # the live page's status poll: no log, no metrics
        return board.call(_views.task_brief_view, ref)
    return board.call(_views.task_page_view, ref)


def _compare(board: Dashboard, request: Request) -> CompareView:
    refs = [r.strip() for r in request.query_params.get("tasks", "").split(",")]
    return board.call(_views.compare_view, refs)


def _instances(board: Dashboard, request: Request) -> InstancesView:
    return board.call(_views.instances_view)


def _catalog(board: Dashboard, request: Request) -> CatalogView:
    q = request.query_params
    return _views.catalog_view(
        min_gpu_memory_gb=_float(q.get("min_gpu_memory_gb")),
        max_price_per_hour=_float(q.get("max_price_per_hour")),
        gpu=q.get("gpu"),
        provider=q.get("provider"),
    )


ACTIONS: dict[str, Callable[[Flow, str], Task]] = {
    "cancel": lambda flow, ref: flow.cancel(ref),
    "resume": lambda flow, ref: flow.resume(ref),
    "rerun": lambda flow, ref: _run_again(flow, ref),
}


def _run_again(flow: Flow, ref: str) -> Task:
    """The same config, submitted again to the same provider (a new task)."""
    record = flow.store.resolve(ref)
    return flow.run(record.config, provider=record.provider)


def _act(board: Dashboard, request: Request) -> ActionAnswer:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise ValidationError(f"unknown action {action!r}", suggestions=[", ".join(ACTIONS)])
    task = board.call(ACTIONS[action], request.path_params["task_id"])
    return {"action": action, "task": _views.task_row(task)}


def _wake(board: Dashboard, request: Request) -> WakeAnswer:
    action, name = request.path_params["action"], request.path_params["name"]
    if action not in ("wake", "hibernate"):
        raise ValidationError(f"unknown action {action!r}", suggestions=["wake, hibernate"])
    provider = request.path_params["provider"]
    view = board.call(lambda flow: getattr(flow.persistent_instances(provider), action)(name))
    return {"action": action, "instance": str(view.get("name", name))}


# -- how answers are made -----------------------------------------------------------------------
Handler = Callable[[Dashboard, Request], Mapping[str, object]]

STATUS_OF_ERROR = {TaskNotFoundError: 404, ValidationError: 400}


def _error_status(exc: FlowError) -> int:
    for kind, status in STATUS_OF_ERROR.items():
        if isinstance(exc, kind):
            return status
    return 409 if exc.exit_code == 2 else 502


def _api(board: Dashboard, handler: Handler) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:  # sync: Starlette runs it in a worker thread
        try:
            return JSONResponse(_views.json_ready(handler(board, request)), headers=NO_STORE)
        except FlowError as exc:
            return JSONResponse(
                {"error": exc.message, "suggestions": list(exc.suggestions)},
                status_code=_error_status(exc),
                headers=NO_STORE,
            )

    return endpoint


def _page(board: Dashboard, name: str, handler: Handler) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            data, status = _views.json_ready(handler(board, request)), 200
        except FlowError as exc:
            data = {"error": exc.message, "suggestions": list(exc.suggestions)}
            status = _error_status(exc)
        return HTMLResponse(page(name, data, board.token), status_code=status, headers=NO_STORE)

    return endpoint


NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


def _download(board: Dashboard) -> Callable[[Request], Response]:
    """One artifact as a file (``flow download TASK NAME``), fetched into a temporary folder
    that goes once the answer is sent."""

    def endpoint(request: Request) -> Response:
        ref, name = request.path_params["task_id"], request.path_params["name"]
        target = Path(tempfile.mkdtemp(prefix="flow-ui-"))
        cleanup = BackgroundTask(shutil.rmtree, target, ignore_errors=True)
        try:
            files = board.call(lambda flow: flow.download(ref, name, target))
            if len(files) != 1:
                raise ValidationError(
                    f"{name} is {len(files)} files, not one",
                    suggestions=[f"flow download {ref} {name}"],
                )
        except FlowError as exc:
            return JSONResponse(
                {"error": exc.message, "suggestions": list(exc.suggestions)},
                status_code=_error_status(exc),
                headers=NO_STORE,
                background=cleanup,
            )
        return FileResponse(files[0], filename=files[0].name, headers=NO_STORE, background=cleanup)

    return endpoint


def _events(board: Dashboard) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ref = request.path_params["task_id"]
        start = _int(request.query_params.get("from"), 0)
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def put(item: Event | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        threading.Thread(
            target=_follow, args=(board.home, ref, start, put, stop), daemon=True
        ).start()

        async def stream() -> AsyncIterator[str]:
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": still here\n\n"
                        continue
                    if item is None:
                        return
                    event, data = item
                    yield f"event: {event}\ndata: {json.dumps(_views.json_ready(data))}\n\n"
            finally:
                stop.set()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**NO_STORE, "x-accel-buffering": "no"},
        )

    return endpoint


def _follow(
    home: Path | None,
    ref: str,
    start: int,
    put: Callable[[Event | None], None],
    stop: threading.Event,
) -> None:
    """In a thread of its own: the task's log as events (``log``, ``metric``, ``checkpoint``),
    the first ``start`` lines skipped (the page has them), then ``end`` with the task."""
    from flowlib.metrics import Metrics, iter_rows, parse_line

    found = Metrics()
    seen = {"lines": 0, "checkpoints": 0}

    def announce() -> None:
        fresh = seen["lines"] - 1 >= start
        for checkpoint in found.checkpoints[seen["checkpoints"] :]:
            if fresh:
                put(("checkpoint", checkpoint.to_dict()))
        seen["checkpoints"] = len(found.checkpoints)

    def lines(source: Iterator[str]) -> Iterator[str]:
        for line in source:
            if stop.is_set():
                return
            announce()  # a checkpoint the previous line announced
            fresh = seen["lines"] >= start
            seen["lines"] += 1
            if parse_line(line) is None:
                if fresh:
                    put(("log", line))
                continue
            yield line

    try:
        with Flow(home=home) as flow:
            task = flow.get_task(ref)
            source = flow.follow_logs(task.task_id, include_metrics=True)
            for row in iter_rows(lines(source), found):
                if seen["lines"] > start:
                    put(("metric", row.to_dict()))
            announce()
            if not stop.is_set():
                put(("end", _views.task_row(flow.get_task(task.task_id))))
    except FlowError as exc:
        put(("problem", {"error": exc.message, "suggestions": list(exc.suggestions)}))
    finally:
        put(None)
