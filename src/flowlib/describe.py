"""From a task description to a prepared :class:`TaskConfig`: shared by the API, the CLI and the
frontends.

:func:`to_task_config` accepts every form a task may be given in (a TaskConfig, a YAML file, a
command line, an argv list); :func:`check_and_prepare` refuses, in one error, what the chosen
provider cannot do and lets it prepare the rest.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib._features import check_features, wanted_features
from flowlib._taskfile import load_task_file
from flowlib.data import expand, parse_data, resolve
from flowlib.models import MountSpec, TaskConfig
from flowlib.telemetry import span

if TYPE_CHECKING:
    from flowlib.providers.base import Provider, ProviderSpec

__all__ = [
    "TaskLike",
    "check_and_prepare",
    "data_mounts",
    "to_task_config",
    "uses_shell_syntax",
    "wanted_features",
]

TaskLike = TaskConfig | str | Path | Sequence[str]
_SHELL_OPERATORS = set("&|;<>()") | {"&&", "||", ";;", ">>", "<<"}
_SHELL_CHARS = set("$`*?~[")


def to_task_config(task: TaskLike | None = None, **fields: Any) -> TaskConfig:
    """Any accepted task description as one :class:`TaskConfig`, ``fields`` overriding.
    ``data=`` (the reference's ``submit`` form) is accepted as :func:`data_mounts`."""
    if "data" in fields:
        data = fields.pop("data")
        if data is not None:
            fields["data_mounts"] = data_mounts(data)
    if isinstance(task, TaskConfig):
        if not fields:
            return task
        return TaskConfig(**{**task.model_dump(exclude_unset=True), **fields})
    if isinstance(task, Path) or (isinstance(task, str) and _looks_like_task_file(task)):
        return load_task_file(Path(task), **fields)
    if isinstance(task, str):
        key = "shell" if uses_shell_syntax(task) else "command"
        return TaskConfig(**{key: task, **fields})
    if task is not None:
        return TaskConfig(command=list(task), **fields)
    return TaskConfig(**fields)


def _looks_like_task_file(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) and " " not in text.strip()


def uses_shell_syntax(command: str) -> bool:
    """True when ``command`` means something only a shell gives it: operators (``&&``, ``|``,
    ``>``...), expansions (``$VAR``, backticks, globs, ``~``). Such a string runs as ``shell``
    (bash reads its quotes exactly as a terminal would); any other is split into argv."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        if any(t in _SHELL_OPERATORS for t in lexer):
            return True
    except ValueError:
        return True
    return any(ch in _SHELL_CHARS for ch in command)


def data_mounts(data: str | Mapping[str, str] | Sequence[MountSpec] | MountSpec) -> list[MountSpec]:
    """``data=`` of :meth:`Flow.submit` as mount specs (see :func:`flowlib.data.parse_data`)."""
    return parse_data(data)


def check_and_prepare(
    provider: Provider, config: TaskConfig, specs: Mapping[str, ProviderSpec] | None = None
) -> TaskConfig:
    """Refuse, in one error, everything the provider cannot do (before any call); then let it
    prepare. ``specs``: the providers the refusal may name instead (the engine's registry)."""
    check_features(provider, config, specs)
    if config.data_mounts or config.outputs:
        config = expand(config)  # volume:// mounts become volumes; no network
    with span("provider.prepare", provider=provider.name):
        config = provider.prepare(config)
    if config.data_mounts or config.outputs or config.volumes:
        with span("data.resolve", provider=provider.name):
            config = resolve(config, provider)  # buckets, credentials, sizes, volumes
    return config
