"""What S3 answers, as the errors a user reads: the code of the answer, never a credential."""

from __future__ import annotations

import pytest

from flowlib.data import S3Access, parse_data, parse_s3_url, resolve, s3_endpoint
from flowlib.errors import (
    AuthenticationError,
    NetworkError,
    ResourceNotFoundError,
    ValidationError,
)
from flowlib.models import TaskConfig

botocore = pytest.importorskip("botocore.exceptions", reason="needs flowlib[s3]")

URL = parse_s3_url("s3://bucket-one/data/train")


def answered(code: str, kind: type[Exception]) -> Exception:
    """The exception s3fs raises for an S3 error response: its ClientError as the cause."""
    client_error = botocore.ClientError(
        {"Error": {"Code": code, "Message": "Credential=AKIASECRETKEYID/..."}}, "HeadBucket"
    )
    exc = kind(f"translated {code}")
    exc.__cause__ = client_error
    return exc


def test_the_endpoint_comes_from_flow_then_the_standard_aws_variables() -> None:
    assert s3_endpoint({}) is None
    assert s3_endpoint({"AWS_ENDPOINT_URL": "http://a"}) == "http://a"
    assert s3_endpoint({"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://b"}) == (
        "http://b"
    )
    both = {"AWS_ENDPOINT_URL_S3": "http://b", "FLOW_S3_ENDPOINT_URL": "http://c"}
    assert s3_endpoint(both) == "http://c"


def test_an_endpoint_with_a_password_is_refused_before_it_travels_to_the_machine() -> None:
    config = TaskConfig(command=["true"], data_mounts=parse_data("s3://bucket-one/data"))
    env = {"FLOW_S3_ENDPOINT_URL": "http://me:hunter2@s3.lab:9000"}
    with pytest.raises(ValidationError) as info:
        resolve(config, provider=None, environ=env)  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value) + repr(info.value)
    assert "http://s3.lab:9000" in info.value.message


def test_a_missing_bucket_says_which_and_where() -> None:
    err = S3Access({})._error(answered("NoSuchBucket", FileNotFoundError), URL, bucket_level=True)
    assert isinstance(err, ResourceNotFoundError)
    assert err.message == "bucket 'bucket-one' does not exist at AWS S3"


def test_a_missing_key_names_the_prefix() -> None:
    err = S3Access({})._error(answered("404", FileNotFoundError), URL, bucket_level=False)
    assert "has no object or prefix 'data/train'" in err.message


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidAccessKeyId", "the access key id is not known"),
        ("SignatureDoesNotMatch", "the secret key does not match"),
        ("AccessDenied", "access denied"),
    ],
)
def test_rejected_credentials_keep_only_the_error_code(code: str, reason: str) -> None:
    env = {"FLOW_S3_ENDPOINT_URL": "http://user:hunter2@127.0.0.1:9000"}
    err = S3Access(env)._error(answered(code, PermissionError), URL, bucket_level=True)
    assert isinstance(err, AuthenticationError)
    assert reason in err.message
    everything = str(err) + repr(err) + str(err.to_dict())
    assert "AKIASECRETKEYID" not in everything
    assert "hunter2" not in everything  # user:password of an endpoint URL is not shown
    assert "http://127.0.0.1:9000" in err.message


def test_an_unreachable_endpoint_is_a_network_error() -> None:
    exc = botocore.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/bucket-one")
    err = S3Access({"FLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9"})._error(
        exc, URL, bucket_level=True
    )
    assert isinstance(err, NetworkError)
    assert err.message == "cannot reach http://127.0.0.1:9 to check s3://bucket-one/data/train"
