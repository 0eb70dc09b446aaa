"""A real S3 API server on loopback for the data tests: moto's server mode in its own process.

Nothing here fakes a filesystem: s3fs, boto3 and the `aws` CLI talk HTTP to a server that
keeps buckets and objects, checks signatures and (with :meth:`S3Server.require_auth`) rejects
unknown access keys. Each server is a separate process, so one test may turn authentication on
without affecting the others.

Fixtures (registered in ``tests/integration/conftest.py``):

``s3_server``  one server for the whole session
``s3``         the session server, with ``FLOW_S3_ENDPOINT_URL`` and test credentials set in the
               environment (so flowlib, and the tasks it starts, use it) and a fresh bucket
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCESS_KEY = "AKIAFLOWTESTKEY00001"
SECRET_KEY = "flow-test-secret-never-printed"
REGION = "us-east-1"
_ALLOW_ALL = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    """``python -m moto.server`` on a free loopback port, stopped by :meth:`stop`."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1)
                return
            except httpx.TransportError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not start; see {log}") from None
                time.sleep(0.05)

    def client(self, service: str = "s3", **credentials: str) -> Any:
        """A boto3 client for ``service`` on this server (test credentials by default)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=credentials.get("key", ACCESS_KEY),
            aws_secret_access_key=credentials.get("secret", SECRET_KEY),
        )

    def require_auth(self) -> tuple[str, str]:
        """From now on, only a real IAM access key of this server is accepted. Returns a valid
        (key id, secret) pair, allowed everything."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"3").raise_for_status()
        iam = self.client("iam")
        iam.create_user(UserName="flow-test")
        key = iam.create_access_key(UserName="flow-test")["AccessKey"]
        iam.put_user_policy(UserName="flow-test", PolicyName="all", PolicyDocument=_ALLOW_ALL)
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


@dataclass
class S3:
    """The session server as a test sees it: a fresh bucket, and helpers to read and write."""

    server: S3Server
    bucket: str

    @property
    def url(self) -> str:
        return self.server.url

    def put(self, key: str, body: bytes | str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.server.client().put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str, bucket: str | None = None) -> bytes:
        obj = self.server.client().get_object(Bucket=bucket or self.bucket, Key=key)
        return bytes(obj["Body"].read())

    def keys(self, prefix: str = "", bucket: str | None = None) -> list[str]:
        client = self.server.client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket or self.bucket, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def new_bucket(self, name: str) -> str:
        self.server.client().create_bucket(Bucket=name)
        return name

    def delete_bucket(self, name: str) -> None:
        client = self.server.client()
        for key in self.keys(bucket=name):
            client.delete_object(Bucket=name, Key=key)
        client.delete_bucket(Bucket=name)


_buckets = itertools.count(1)


def s3_environment(url: str) -> dict[str, str]:
    """What a user sets to point flowlib (and the AWS tools) at this server."""
    return {
        "FLOW_S3_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="the data tests need moto[server] (the [test] extra)")
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    for var, value in s3_environment(s3_server.url).items():
        monkeypatch.setenv(var, value)
    bucket = f"flow-test-{next(_buckets)}-{os.getpid()}"
    s3_server.client().create_bucket(Bucket=bucket)
    return S3(s3_server, bucket)
