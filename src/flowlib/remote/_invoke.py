"""``invoke``: run a function of a script that does not import flowlib, and return its value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flowlib.errors import ValidationError
from flowlib.remote._call import submit_payload, task_name, unpicklable_error
from flowlib.remote._payload import MAX_RESULT_BYTES, REMOTE_DIR, encode, environment

__all__ = ["invoke", "spawn_invoke"]


def spawn_invoke(
    script: str | Path,
    function: str,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    gpu: str | None = None,
    **fields: Any,
) -> Any:
    """Like :func:`invoke`, returning the :class:`RemoteCall` at once."""
    import cloudpickle

    args, kwargs = tuple(args), dict(kwargs or {})
    path = Path(script)
    if not path.is_file():
        raise ValidationError(
            f"no script {path}", suggestions=["give the path of a .py file, relative or absolute"]
        )
    code_dir = Path(fields.pop("code_dir", None) or Path.cwd()).absolute()
    extra: dict[str, bytes] = {}
    try:  # a script inside the code directory runs in place, beside its sibling modules
        remote_script = str(path.absolute().relative_to(code_dir))
    except ValueError:  # elsewhere: it travels alone, beside the payload
        extra["invoked_script.py"] = path.read_bytes()
        remote_script = f"{REMOTE_DIR}/invoked_script.py"
    try:
        body = cloudpickle.dumps((args, kwargs))
    except Exception as exc:
        raise unpicklable_error(lambda *a, **k: None, args, kwargs, exc) from exc
    header = {
        "kind": "invoke",
        "function": f"{path.name}:{function}",
        "function_name": function,
        "script": remote_script,
        "by_value": False,
        "max_result_bytes": MAX_RESULT_BYTES,
        **environment(),
    }
    return submit_payload(
        encode(header, body),
        name=fields.pop("name", None) or task_name(function),
        gpu=gpu,
        code_dir=code_dir,
        extra_files=extra,
        **fields,
    )


def invoke(
    script: str | Path,
    function: str,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    gpu: str | None = None,
    timeout: float | None = None,
    **fields: Any,
) -> Any:
    """Run ``function(*args, **kwargs)`` from ``script`` (a file that needs no flowlib) as a
    task and return its value: ``invoke("train.py", "train_model", args=["data.csv"],
    gpu="a100")``. The script is loaded as a module (its ``if __name__ == "__main__":`` block
    does not run). ``fields`` are TaskConfig fields, plus ``provider`` and ``python``."""
    return spawn_invoke(script, function, args, kwargs, gpu=gpu, **fields).result(timeout)
