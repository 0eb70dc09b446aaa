"""Results that outlive the machine: the results location, and the artifacts a task left.

A **results location** (``results: s3://bucket/prefix`` in a config file, ``FLOW_RESULTS``, or
``TaskConfig.results``; any fsspec URL, ``file:///shared/path`` too) is where each task's
machine streams its log and metric lines while it runs and uploads its exit code and remote-call
results at the end (:mod:`flowlib.core._results_script` writes them): a machine gone (released,
preempted, deleted by itself) leaves them there, and flowlib reads them back from there.

**Artifacts** are what a task left, wherever it is: its log, its metric lines, the checkpoints
it announced, its declared outputs and remote-call results, each with its size and where it is
(the kept copy under ``FLOW_HOME/<provider>/kept/<task>/``, the results location, the provider,
an output URL). ``flow artifacts TASK`` lists them, ``flow download TASK [PATH]`` fetches them,
``task.artifacts()`` / ``task.download()`` do the same in Python, on every provider.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flowlib.core._results_location import (
    EXIT,
    FILES,
    LOG,
    MESSAGE,
    METRICS,
    ResultsLocation,
    location_of,
)
from flowlib.core.cloud import RESULTS_DIR, KeptResults
from flowlib.core.follow import tail_lines
from flowlib.data._resolve import _no_password
from flowlib.data._s3 import S3Access, s3_endpoint
from flowlib.errors import FlowError, ValidationError
from flowlib.metrics import Checkpoint, collect, is_flow_line
from flowlib.models import Artifact
from flowlib.telemetry import span

if TYPE_CHECKING:
    from flowlib._engine import Engine
    from flowlib.core.store import TaskRecord
    from flowlib.models import TaskConfig

__all__ = [
    "Artifact",
    "ResultsLocation",
    "artifacts",
    "download",
    "location_of",
    "log_lines",
    "prepare_results",
    "remember_checkpoints",
]


def prepare_results(config: TaskConfig, base: str | None) -> TaskConfig:
    """``config`` with its results location: its own, else ``base`` (the config's). An s3://
    location's endpoint travels to the machine as ``FLOW_S3_ENDPOINT_URL``, as for data."""
    url = config.results or base
    if not url:
        return config
    update: dict[str, object] = {"results": url}
    if url.startswith("s3://"):
        endpoint = s3_endpoint()
        if endpoint and "FLOW_S3_ENDPOINT_URL" not in config.env:
            _no_password(endpoint)
            update["env"] = {**config.env, "FLOW_S3_ENDPOINT_URL": endpoint}
    return config.model_copy(update=update)


# -- the log and what it announced ------------------------------------------------------------
def log_lines(
    engine: Engine, record: TaskRecord, tail: int | None, include_metrics: bool
) -> list[str]:
    """The task's last ``tail`` log lines (None: all), from its provider, or from its results
    location once the machine is gone. Metric lines count only with ``include_metrics``."""
    provider = engine.provider(record.provider)
    want = tail
    while True:
        with span("provider.logs", task_id=record.task_id, provider=record.provider):
            lines = list(provider.logs(record, tail=want))
        if not lines and record.status.is_terminal and record.config.results:
            lines = _results_log(record, want)  # the machine is gone: its location
        if include_metrics:
            return lines
        shown = [line for line in lines if not is_flow_line(line)]
        # Metric lines took room in the tail: ask for more until `tail` human lines show.
        if tail is None or want is None or len(shown) >= tail or len(lines) < want:
            return shown[-tail:] if tail else ([] if tail == 0 else shown)
        want = want * 4 if want < 100_000 else None


def _results_log(record: TaskRecord, tail: int | None) -> list[str]:
    location = location_of(record)
    data = location.read(LOG) if location is not None else None
    return tail_lines(data or b"", tail)


def remember_checkpoints(engine: Engine, record: TaskRecord) -> list[Checkpoint]:
    """The checkpoints the task announced, oldest first, remembered in the task store so they
    outlive its log (a released cloud instance)."""
    return _remembered(engine, record, _whole_log(engine, record))


def _whole_log(engine: Engine, record: TaskRecord) -> list[str] | None:
    """Every line of the task's log, metric lines included; None when it is gone."""
    try:
        return log_lines(engine, record, None, True)
    except FlowError:
        return None


def _remembered(engine: Engine, record: TaskRecord, lines: list[str] | None) -> list[Checkpoint]:
    known = [Checkpoint.from_dict(c) for c in record.provider_data.get("checkpoints", [])]
    if lines is None:
        return known  # the log is gone (instance released): what the store remembers
    found = collect(lines).checkpoints
    merged = list(dict.fromkeys([*known, *found]))[-100:]
    if merged != known:
        engine.store.update(record.task_id, data={"checkpoints": [c.to_dict() for c in merged]})
    return merged


# -- artifacts ------------------------------------------------------------------------------
def artifacts(engine: Engine, record: TaskRecord) -> list[Artifact]:
    """Everything the task left, found without its machine when it is gone: the kept copy,
    then the results location, then the provider (a live machine, a local or SLURM log)."""
    return _listed(engine, record, _whole_log(engine, record))


def _listed(engine: Engine, record: TaskRecord, log: list[str] | None) -> list[Artifact]:
    """:func:`artifacts`, with the log read once by the caller (``log``: None when gone)."""
    found: dict[str, Artifact] = {}
    provider = _from_provider(engine, record, log)
    on_disk = [a for a in provider if Path(a.where).is_file()]  # local, a shared filesystem
    for item in (*_kept(engine, record), *on_disk, *_at_location(record), *provider):
        found.setdefault(item.name, item)
    for item in _outputs(record):
        found.setdefault(item.name, item)
    for checkpoint in _checkpoints(engine, record, log):
        found.setdefault(checkpoint.name, checkpoint)
    order = {"log": 0, "metrics": 1, "exit_code": 2, "result": 3, "checkpoint": 4, "output": 5}
    return sorted(found.values(), key=lambda a: (order.get(a.kind, 9), a.name))


def download(
    engine: Engine, record: TaskRecord, path: str | None = None, target: Path | None = None
) -> list[Path]:
    """Fetch the task's artifacts (all, or those named ``path`` or under it) into ``target``
    (default ``./<task id>``); returns the files written. Checkpoints are listed, not fetched:
    they are wherever the workload put them."""
    target = Path(target if target is not None else record.task_id)
    log = _whole_log(engine, record)
    wanted = [
        a
        for a in _listed(engine, record, log)
        if a.kind != "checkpoint"
        and (path is None or a.name == path.strip("/") or a.name.startswith(path.rstrip("/") + "/"))
    ]
    if not wanted:
        raise ValidationError(
            f"task {record.task_id} left nothing called {path!r}"
            if path
            else f"task {record.task_id} left nothing to download",
            suggestions=[f"`flow artifacts {record.task_id}` lists what it left"],
        )
    written: list[Path] = []
    for item in wanted:
        dest = _inside(target, item.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(_content(engine, record, item, log))
        written.append(dest)
    return written


def _inside(target: Path, name: str) -> Path:
    clean = posixpath.normpath(name)
    if clean.startswith(("/", "..")) or "/../" in clean:
        raise ValidationError(f"refusing to write {name!r} outside {target}")
    return target / clean


def _kept(engine: Engine, record: TaskRecord) -> list[Artifact]:
    kept = KeptResults(Path(engine.config.home), record.provider)
    folder = kept.root / record.task_id
    if not folder.is_dir():
        return []
    items: list[Artifact] = []
    log = kept.log_path(record.task_id)
    if log.is_file():
        lines = log.read_bytes().decode("utf-8", "replace").splitlines()
        metrics = _joined([line for line in lines if is_flow_line(line)])
        items.append(Artifact("log", LOG, log.stat().st_size, str(log)))
        items.append(Artifact("metrics", METRICS, metrics, str(log)))
    results = folder / RESULTS_DIR
    if results.is_dir():
        for path in sorted(p for p in results.rglob("*") if p.is_file()):
            name = f"{FILES}/{path.relative_to(results).as_posix()}"
            items.append(Artifact("result", name, path.stat().st_size, str(path)))
    return items


def _at_location(record: TaskRecord) -> list[Artifact]:
    location = location_of(record)
    if location is None:
        return []
    kinds = {LOG: "log", METRICS: "metrics", EXIT: "exit_code", MESSAGE: "message"}
    items = []
    for name, size in sorted(location.files().items()):
        kind = kinds.get(name, "result")
        items.append(Artifact(kind, name, size, f"{location.url}/{name}"))
    return items


def _from_provider(engine: Engine, record: TaskRecord, lines: list[str] | None) -> list[Artifact]:
    if not lines:
        return []
    where = _log_where(engine, record)
    metrics = [line for line in lines if is_flow_line(line)]
    return [
        Artifact("log", LOG, _joined(lines), where),
        Artifact("metrics", METRICS, _joined(metrics), where),
    ]


def _joined(lines: Sequence[str]) -> int:
    return len(("\n".join(lines) + "\n").encode()) if lines else 0


def _log_where(engine: Engine, record: TaskRecord) -> str:
    task_dir = getattr(engine.provider(record.provider), "task_dir", None)
    if callable(task_dir):
        folder = task_dir(record.task_id)
        base = Path(str(folder))
        for log in (base / "root/var/log/flow/task.log", base / "var/log/flow/task.log"):
            if log.is_file():
                return str(log)
    return f"{record.provider} (read through flowlib)"


def _outputs(record: TaskRecord) -> list[Artifact]:
    items: list[Artifact] = []
    if not record.config.outputs:
        return items
    access = S3Access()
    for path, url in record.config.outputs.items():
        base = url.rstrip("/")
        label = "outputs/" + path.strip("/")
        try:
            listed = access.fs.find(base[len("s3://") :], detail=True)
        except Exception:  # the bucket may be gone or unreachable: say where it should be
            items.append(Artifact("output", label, None, base + "/"))
            continue
        bare = base[len("s3://") :] + "/"
        for key, info in sorted(listed.items()):
            if str(key).startswith(bare) and info.get("type") != "directory":
                rel = str(key)[len(bare) :]
                items.append(
                    Artifact("output", f"{label}/{rel}", int(info.get("size") or 0), f"s3://{key}")
                )
    return items


def _checkpoints(engine: Engine, record: TaskRecord, log: list[str] | None) -> list[Artifact]:
    try:
        found = _remembered(engine, record, log)
    except FlowError:
        return []
    return [
        Artifact("checkpoint", f"checkpoints/{c.path.lstrip('/')}", None, c.path) for c in found
    ]


def _content(engine: Engine, record: TaskRecord, item: Artifact, log: list[str] | None) -> bytes:
    """The bytes of one artifact, from where it was listed (``log``: the log as read for the
    listing)."""
    if item.where.startswith(("s3://",)) and item.kind == "output":
        data: bytes = S3Access().fs.cat_file(item.where[len("s3://") :])
        return data
    location = location_of(record)
    if location is not None and item.where.startswith(location.url + "/"):
        found = location.read(item.where[len(location.url) + 1 :])
        return found or b""
    if item.kind in ("log", "metrics"):
        path = Path(item.where)
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            lines = text.splitlines()
        else:
            lines = log if log is not None else log_lines(engine, record, None, True)
        if item.kind == "metrics":
            lines = [line for line in lines if is_flow_line(line)]
        return ("\n".join(lines) + "\n").encode() if lines else b""
    return Path(item.where).read_bytes()


