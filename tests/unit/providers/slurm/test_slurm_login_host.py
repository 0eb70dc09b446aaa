"""``providers.slurm.login_host`` is ``user@host[:port]``; anything else is a ConfigError."""

from __future__ import annotations

import pytest

from flowlib.errors import ConfigError
from flowlib.providers.slurm import parse_login_host


def test_user_host_and_port_are_read() -> None:
    address = parse_login_host("alice@login.cluster:2222")
    assert (address.user, address.host, address.port) == ("alice", "login.cluster", 2222)
    assert parse_login_host("bob@login").port == 22


@pytest.mark.parametrize("text", ["alice@login:²", "alice@login:٣", "alice@login:ssh", "@:22"])
def test_a_bad_port_or_host_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="is not user@host"):
        parse_login_host(text)
