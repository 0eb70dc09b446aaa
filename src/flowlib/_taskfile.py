"""Task files: YAML whose keys are :class:`~flowlib.models.TaskConfig`'s.

.. code-block:: yaml

    name: train
    command: python train.py --epochs 3
    instance_type: a100
    env:
      WANDB_MODE: offline

Errors point at the file, the line and the key. A relative ``code_dir`` is relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowlib.errors import ValidationError
from flowlib.models import TaskConfig

__all__ = ["load_task_file", "parse_task_yaml"]


def load_task_file(path: Path, **overrides: Any) -> TaskConfig:
    """Read a task file. ``overrides`` (TaskConfig fields) win over the file's values."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(
            f"task file {path} does not exist",
            suggestions=["check the path", "`flow init` writes an example task file"],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read task file {path}: {exc}") from None
    return parse_task_yaml(text, source=str(path), base_dir=path.parent, **overrides)


def parse_task_yaml(
    text: str, *, source: str = "<yaml>", base_dir: Path | None = None, **overrides: Any
) -> TaskConfig:
    """Parse task YAML into a TaskConfig; every failure is a :class:`ValidationError`."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(
            f"{where}: not valid YAML ({problem})",
            suggestions=["check indentation and quoting on that line"],
            source=source,
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:  # odd scalars, deep nesting
        raise ValidationError(f"{source}: cannot read this YAML ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError(
            f"{source}: a task file is a mapping of TaskConfig keys, not {type(data).__name__}",
            suggestions=["start with `command: python train.py`"],
            source=source,
        )
    data = {str(k): v for k, v in data.items()}
    if base_dir is not None and isinstance(data.get("code_dir"), str):
        data["code_dir"] = str((base_dir / data["code_dir"]).resolve())
    try:
        return TaskConfig(**{**data, **overrides})
    except ValidationError as exc:
        raise _located(exc, node, source) from None


def _located(exc: ValidationError, node: Any, source: str) -> ValidationError:
    """The same error, pointing at the line of the first offending key."""
    fields = exc.context.get("fields") or []
    line = None
    key = None
    for field in fields:
        key = str(field).split(".")[0]
        line = _line_of(node, key)
        if line is not None:
            break
    where = f"{source}:{line}" if line is not None else source
    message = exc.message.replace("invalid TaskConfig: ", "")
    detail = f" (key '{key}')" if key and line is not None and f"'{key}'" not in message else ""
    return ValidationError(
        f"{where}: {message}{detail}", suggestions=exc.suggestions, source=source, line=line
    )


def _line_of(node: Any, key: str) -> int | None:
    pairs = getattr(node, "value", None)
    if not isinstance(pairs, list):
        return None
    for pair in pairs:
        key_node = pair[0] if isinstance(pair, tuple) else None
        if key_node is not None and getattr(key_node, "value", None) == key:
            return int(key_node.start_mark.line) + 1
    return None
