"""The base of flowlib's public models: pydantic's errors turned into flowlib's.

A user who writes ``TaskConfig(environment={...})`` gets a :class:`flowlib.errors.ValidationError`
that names the key they meant (``env``), not a pydantic traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from flowlib.errors import ValidationError

# Keys people reach for, and the field they mean (the reference's "common mistakes").
COMMON_MISTAKES: dict[str, str] = {
    "environment": "env",
    "environ": "env",
    "env_vars": "env",
    "ssh_key": "ssh_keys",
    "max_price": "max_price_per_hour",
    "price": "max_price_per_hour",
    "price_per_hour": "max_price_per_hour",
    "instance_count": "num_instances",
    "instances": "num_instances",
    "nodes": "num_instances",
    "gpu_memory_gb": "min_gpu_memory_gb",
    "timeout": "max_run_time_hours",
    "max_runtime_hours": "max_run_time_hours",
    "workdir": "working_dir",
    "cwd": "working_dir",
    "docker_image": "image",
    "cmd": "command",
}


# A validator's message may carry a suggestion after this marker: "what is wrong" + HINT + "fix".
HINT = " | hint: "
FIELD_HINTS: dict[str, str] = {
    "max_run_time_hours": "a task may run up to 168 hours (7 days): checkpoint and resubmit",
    "max_price_per_hour": "prices are US dollars per hour, e.g. 12.5",
    "num_instances": "num_instances counts machines: 1 or more",
    "instance_type": "e.g. 'a100', '8xh100', 'a100-80gb.sxm.1x'; `flow catalog` lists them",
    "min_gpu_memory_gb": "GB of memory per GPU, e.g. 80",
    "command": "command is a program and its arguments: ['python', 'train.py'] or a string",
    "env": "env maps variable names to string values: {'WANDB_MODE': 'offline'}",
    "name": "names use letters, digits, '-' and '_'",
}


def suggest_key(key: str, valid: Iterable[str]) -> str | None:
    """The valid key a user most likely meant by ``key``, or None."""
    valid = sorted(valid)
    mistake = COMMON_MISTAKES.get(key.lower())
    if mistake in valid:
        return mistake
    close = difflib.get_close_matches(key.lower(), valid, n=1, cutoff=0.6)
    return close[0] if close else None


class FlowModel(BaseModel):
    """Forbids unknown keys, and raises :class:`ValidationError` with suggestions."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise to_flow_error(exc, type(self)) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except pydantic.ValidationError as exc:
            raise to_flow_error(exc, cls) from None

    @classmethod
    def field_names(cls) -> list[str]:
        return sorted(cls.model_fields)


def to_flow_error(
    exc: pydantic.ValidationError, model: type[BaseModel], *, source: str | None = None
) -> ValidationError:
    """Translate pydantic's errors for ``model`` into one readable :class:`ValidationError`."""
    valid = sorted(model.model_fields)
    problems: list[str] = []
    suggestions: list[str] = []
    fields: list[str] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or model.__name__
        fields.append(loc)
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            guess = suggest_key(key, _valid_keys_at(model, err["loc"][:-1]) or valid)
            problems.append(f"unknown key '{loc}'")
            if guess:
                suggestions.append(f"did you mean '{guess}'? (instead of '{key}')")
            else:
                suggestions.append(f"valid keys: {', '.join(valid)}")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            msg, _, hint = msg.partition(HINT)
            problems.append(f"{loc}: {msg}" if err["loc"] else msg)
            hint = hint or FIELD_HINTS.get(str(err["loc"][0]) if err["loc"] else "", "")
            if hint:
                suggestions.append(hint)
    where = f" in {source}" if source else ""
    message = f"invalid {model.__name__}{where}: " + "; ".join(problems)
    if not suggestions:
        suggestions.append(f"see the {model.__name__} fields in docs/configuration.md")
    return ValidationError(message, suggestions=dict.fromkeys(suggestions), fields=fields)


def _valid_keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the nested model found at ``loc``, where it is a model."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields: Mapping[str, Any] = getattr(current, "model_fields", {})
        if part not in fields:
            return None
        current = _model_in(fields[part].annotation)
        if current is None:
            return None
    return sorted(getattr(current, "model_fields", {})) or None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
