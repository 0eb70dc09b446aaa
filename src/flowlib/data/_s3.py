"""S3 as the client sees it before a submission: does the bucket exist, do the credentials work,
how big is the data. s3fs (the ``[s3]`` extra) is imported on first use only.

Credentials come from the standard AWS places (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, config files, instance roles) through botocore; flowlib never reads, stores or
prints them. An S3-compatible server (MinIO, Ceph, a loopback test server) is reached through
``FLOW_S3_ENDPOINT_URL``, else the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flowlib._extras import import_optional
from flowlib.data._parse import S3Url, parse_s3_url
from flowlib.errors import (
    AuthenticationError,
    FlowError,
    NetworkError,
    ResourceNotFoundError,
)

__all__ = ["ENDPOINT_VARS", "S3Access", "S3Data", "s3_endpoint"]

ENDPOINT_VARS = ("FLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_CREDENTIAL_TIPS = [
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for this bucket's account",
    "with an S3-compatible server (MinIO, Ceph...), set FLOW_S3_ENDPOINT_URL to its URL",
]


def s3_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """The S3 endpoint to use, or None for AWS itself."""
    environ = os.environ if environ is None else environ
    for var in ENDPOINT_VARS:
        if environ.get(var):
            return environ[var]
    return None


def _shown(endpoint: str | None) -> str:
    """An endpoint as it may be printed: without any user:password in it."""
    if endpoint is None:
        return "AWS S3"
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class S3Data:
    """What is at an S3 URL: one object, or a prefix holding ``objects`` objects."""

    url: S3Url
    is_prefix: bool
    size_bytes: int | None  # None: not measured (a size estimate was given)
    objects: int | None

    @property
    def size_gb(self) -> float | None:
        return None if self.size_bytes is None else self.size_bytes / 1e9


class S3Access:
    """One s3fs filesystem for a round of checks, errors translated to :class:`FlowError`."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.endpoint = s3_endpoint(environ)
        self._fs: Any = None
        self._buckets: set[str] = set()

    @property
    def fs(self) -> Any:
        if self._fs is None:
            s3fs = import_optional("s3fs", "s3:// data")
            fs = s3fs.S3FileSystem(
                endpoint_url=self.endpoint,
                skip_instance_cache=True,
                use_listings_cache=False,
                config_kwargs={
                    "connect_timeout": 5,
                    "read_timeout": 30,
                    "retries": {"max_attempts": 3, "mode": "standard"},
                },
            )
            fs.retries = 2
            self._fs = fs
        return self._fs

    def check_bucket(self, url: S3Url) -> None:
        """Raise unless the bucket exists and these credentials may use it."""
        if url.bucket in self._buckets:
            return
        try:
            self.fs.info(url.bucket)
        except Exception as exc:
            raise self._error(exc, url, bucket_level=True) from None
        self._buckets.add(url.bucket)

    def inspect(self, source: str, *, measure: bool = True) -> S3Data:
        """Check ``source`` exists and, with ``measure``, add up its size (one LIST request per
        1,000 objects under a prefix)."""
        url = parse_s3_url(source)
        self.check_bucket(url)
        if not url.key:
            is_prefix, size = True, None
        else:
            try:
                info = self.fs.info(url.path)
            except Exception as exc:
                raise self._error(exc, url, bucket_level=False) from None
            is_prefix = info.get("type") == "directory"
            size = None if is_prefix else int(info.get("size") or 0)
        if not is_prefix:
            return S3Data(S3Url(url.bucket, url.key.rstrip("/")), False, size, 1)
        prefix = S3Url(url.bucket, url.key if url.is_prefix else url.key + "/")
        if not measure:
            return S3Data(prefix, True, None, None)
        try:
            found = self.fs.find(prefix.path or prefix.bucket, detail=True)
        except Exception as exc:
            raise self._error(exc, url, bucket_level=False) from None
        files = [i for p, i in found.items() if not p.endswith("/")]
        return S3Data(prefix, True, sum(int(i.get("size") or 0) for i in files), len(files))

    def _error(self, exc: BaseException, url: S3Url, *, bucket_level: bool) -> FlowError:
        """A user-facing error for what S3 answered. Only the error code of the answer is
        kept: never the request, its headers or anything credential-like."""
        code = _error_code(exc)
        where = _shown(self.endpoint)
        name = type(exc).__name__
        if name == "NoCredentialsError":
            return AuthenticationError(
                f"no S3 credentials were found to read {url}",
                suggestions=_CREDENTIAL_TIPS,
                endpoint=where,
            )
        if isinstance(exc, PermissionError) or code in ("InvalidAccessKeyId", "AccessDenied"):
            reason = {
                "InvalidAccessKeyId": "the access key id is not known",
                "SignatureDoesNotMatch": "the secret key does not match the access key id",
                "AccessDenied": "access denied",
                "ExpiredToken": "the session token has expired",
            }.get(code or "", "access denied")
            return AuthenticationError(
                f"{where} refused the credentials for {url}: {reason}",
                suggestions=_CREDENTIAL_TIPS,
                endpoint=where,
                error_code=code,
            )
        if isinstance(exc, FileNotFoundError):
            if bucket_level or code == "NoSuchBucket":
                return ResourceNotFoundError(
                    f"bucket {url.bucket!r} does not exist at {where}",
                    suggestions=[
                        f"check the bucket name in {url}",
                        f"create it first: aws s3 mb s3://{url.bucket}",
                    ],
                    endpoint=where,
                )
            return ResourceNotFoundError(
                f"nothing at {url}: bucket {url.bucket!r} has no object or prefix {url.key!r}",
                suggestions=[f"list what is there: aws s3 ls s3://{url.bucket}/"],
                endpoint=where,
            )
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionError") or (
            isinstance(exc, (ConnectionError, TimeoutError))
        ):
            return NetworkError(
                f"cannot reach {where} to check {url}",
                suggestions=["check the network, or FLOW_S3_ENDPOINT_URL if you set it"],
                endpoint=where,
            )
        return FlowError(
            f"{where} could not be asked about {url}: {name}" + (f" ({code})" if code else ""),
            suggestions=["try again; if it persists, check the URL and your credentials"],
            endpoint=where,
        )


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchBucket``, ``InvalidAccessKeyId``...) behind ``exc``, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        seen = seen.__cause__ or seen.__context__
    return None
