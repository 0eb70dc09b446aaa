"""A real S3 API server on loopback (moto's server mode), for examples and offline demos.

Needs ``moto[server]`` (in flowlib's ``[test]`` extra).
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["loopback_s3", "s3_filesystem"]


def loopback_s3() -> Any:
    """Start a moto S3 server on a free loopback port and point this process (and the tasks it
    submits, through ``FLOW_S3_ENDPOINT_URL``) at it, with throwaway credentials where none are
    set. Returns the server; call ``.stop()`` when done."""
    from flowlib._extras import import_optional

    ThreadedMotoServer = import_optional(
        "moto.server", "a loopback S3 server (flowlib.testing.s3)"
    ).ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["FLOW_S3_ENDPOINT_URL"] = f"http://{host}:{port}"
    for var, value in (("AWS_ACCESS_KEY_ID", "example"), ("AWS_SECRET_ACCESS_KEY", "example")):
        os.environ.setdefault(var, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return server


def s3_filesystem() -> Any:
    """An fsspec S3 filesystem on ``FLOW_S3_ENDPOINT_URL`` (or AWS's own endpoint); a
    ConfigError naming ``flowlib[s3]`` when fsspec/s3fs are not installed."""
    from flowlib._extras import import_optional

    fsspec = import_optional("fsspec", "S3 access")
    import_optional("s3fs", "S3 access")
    endpoint = os.environ.get("FLOW_S3_ENDPOINT_URL")
    return fsspec.filesystem("s3", **({"endpoint_url": endpoint} if endpoint else {}))
