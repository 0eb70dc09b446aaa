"""Validation matches the whole text: ``re.match(r"^...$")`` lets a trailing newline through
(``$`` also matches before a final ``\\n``), so every checked name, key and id is refused with one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flowlib.data._parse import parse_s3_url, volume_name
from flowlib.errors import AuthenticationError, ValidationError
from flowlib.models import MountSpec, TaskConfig
from flowlib.providers.fcp._settings import FcpSettings
from flowlib.providers.hyperstack._volumes import check_name as hyperstack_volume_name
from flowlib.providers.local._volumes import check_name as local_volume_name


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ({"name": "abc"}, {"name": "abc\n"}),
        ({"env": {"A": "1"}}, {"env": {"A\n": "1"}}),
        ({"instance_name": "box"}, {"instance_name": "box\n"}),
    ],
    ids=["name", "env-key", "instance_name"],
)
def test_task_config_refuses_a_trailing_newline(
    good: dict[str, object], bad: dict[str, object]
) -> None:
    TaskConfig(command="x", **good)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TaskConfig(command="x", **bad)  # type: ignore[arg-type]


def test_a_cache_key_with_a_trailing_newline_is_refused() -> None:
    MountSpec(source="s3://bkt/x", target="/d", cache_key="imagenet")
    with pytest.raises(ValidationError, match="cache_key"):
        MountSpec(source="s3://bkt/x", target="/d", cache_key="imagenet\n")


def test_a_bucket_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a valid S3 bucket name"):
        parse_s3_url("s3://my-bucket\n/x")


def test_a_volume_url_with_a_trailing_newline_is_refused() -> None:
    assert volume_name(MountSpec(source="volume://pretrained", target="/m")) == "pretrained"
    with pytest.raises(ValidationError, match="does not name a volume"):
        volume_name(MountSpec(source="volume://pretrained\n", target="/m"))


@pytest.mark.parametrize("check", [local_volume_name, hyperstack_volume_name])
def test_provider_volume_names_with_a_trailing_newline_are_refused(
    check: Callable[[str], None],
) -> None:
    check("data")
    with pytest.raises(ValidationError):
        check("data\n")


def test_an_fcp_key_with_a_trailing_newline_is_malformed() -> None:
    key = "fkey_" + "a" * 20
    assert FcpSettings.from_mapping({"api_key": key}).secret() == key
    with pytest.raises(AuthenticationError, match="malformed"):
        FcpSettings.from_mapping({"api_key": key + "\n"}).secret()
