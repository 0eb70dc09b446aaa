"""Reaching FCP instances: addresses, SSH keys, and the commands run over the remote-host seam.

Commands write every path as ``"${FLOW_ROOT:-}/..."``, so they work on a real VM (over OpenSSH)
and on an emulated instance (a :class:`~flowlib.core.hosts.SandboxHost`) alike.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flowlib.errors import ProviderError, ValidationError

if TYPE_CHECKING:
    from flowlib.core.hosts import HostAddress, RemoteHost
    from flowlib.providers.fcp._api import FcpApi
    from flowlib.providers.fcp._shapes import InstanceJson, SshKeyJson

__all__ = [
    "address",
    "follow_command",
    "own_key",
    "resolve_keys",
    "saved_key_path",
    "tail",
    "upload_code",
    "write_cluster_env",
]

TASK_LOG = "${FLOW_ROOT:-}/var/log/flow/task.log"
STARTUP_LOG = "${FLOW_ROOT:-}/var/log/foundry/startup_script.log"
EXIT_CODE = "${FLOW_ROOT:-}/var/run/flow/exit_code"


# ``host``, ``host:port``, ``[v6]:port``; a bare IPv6 address has colons and no port.
_DESTINATION = re.compile(
    r"\[(?P<v6>[^\]]+)\](?::(?P<v6port>[0-9]+))?"  # [2001:db8::1]:2222
    r"|(?P<host>[^:]+):(?P<port>[0-9]+)"  # 203.0.113.17:2222
)


def address(inst: InstanceJson, user: str, key_path: str | None) -> HostAddress:
    """Where an instance answers: ``ssh_destination`` is ``host``, ``host:port`` or
    ``[IPv6]:port`` (port 22 when none is given). Raises ProviderError for a port that is not
    one (1 to 65535), rather than guess."""
    from flowlib.core.hosts import HostAddress

    dest = str(inst.get("ssh_destination") or "").strip()
    host, port = dest, "22"
    match = _DESTINATION.fullmatch(dest)
    if match is not None:
        host = match["v6"] or match["host"]
        port = match["v6port"] or match["port"] or "22"
    elif dest.count(":") == 1:  # host:<something that is not a port>
        host, port = dest.split(":")
    if not (port.isascii() and port.isdecimal() and 0 < int(port) <= 65535):
        raise ProviderError(
            f"FCP reported an SSH destination flowlib cannot read: {dest!r}",
            suggestions=["check `flow status` again later; report it to the cloud if it stays"],
            provider="fcp",
        )
    return HostAddress(
        host=host,
        port=int(port),
        user=user,
        key_path=key_path,
        instance_id=str(inst.get("fid") or ""),
    )


# -- SSH keys --------------------------------------------------------------------------------


def _keys_file(home: Path) -> Path:
    return home / "keys" / "fcp.json"


def _saved(home: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_keys_file(home).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def saved_key_path(home: Path, project: str | None) -> str | None:
    entry = _saved(home).get(project or "", {})
    return entry.get("private_key_path")


def resolve_keys(names: Sequence[str], listed: list[SshKeyJson]) -> list[str]:
    fids = []
    for name in names:
        match = [k for k in listed if name in (k.get("fid"), k.get("name"))]
        if not match:
            known = sorted(str(k.get("name")) for k in listed)
            raise ValidationError(
                f"no SSH key {name!r} in the FCP project",
                suggestions=[f"keys in the project: {', '.join(known) or 'none'}"],
                provider="fcp",
            )
        fids.append(str(match[0]["fid"]))
    return fids


def own_key(api: FcpApi, home: Path, project: str, listed: list[SshKeyJson]) -> str:
    """flowlib's key for ``project``: reuse the saved one if the project still has it, else
    let FCP generate a pair and keep the private half (0600)."""
    saved = _saved(home)
    entry = saved.get(project)
    if entry and any(k.get("fid") == entry.get("fid") for k in listed):
        return entry["fid"]
    name = f"flowlib-{_user()}-{secrets.token_hex(3)}"
    created = api.create_ssh_key(project, name)
    keys = home / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys / f"fcp_{created['fid']}"
    private = created.get("private_key")
    if private:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(private))
    saved[project] = {"fid": str(created["fid"]), "private_key_path": str(path)}
    target = _keys_file(home)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(saved, fh, indent=1)
    return str(created["fid"])


def _user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "user"
    return "".join(c for c in name.lower() if c.isalnum())[:20] or "user"


# -- commands --------------------------------------------------------------------------------


def tail(host: RemoteHost, lines: int | None) -> list[str]:
    """The last ``lines`` lines of the workload's log; the startup log when there is none."""
    count = "+1" if lines is None else str(max(0, lines))
    command = (
        f'if [ -f "{TASK_LOG}" ]; then tail -n {count} "{TASK_LOG}"; '
        f'elif [ -f "{STARTUP_LOG}" ]; then tail -n {count} "{STARTUP_LOG}"; fi'
    )
    result = host.run(command, timeout=60)
    text = result.stdout
    if not text:
        return []
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def follow_command(lines: int | None) -> str:
    """A command that prints the log (from the last ``lines`` lines, or the start) as it grows
    and ends, having printed every byte, once the exit code is written."""
    start = (
        "pos=0"
        if lines is None
        else f'pos=$(( $(stat -c %s "$F" 2>/dev/null || echo 0) - '
        f'$(tail -n {max(0, lines)} "$F" 2>/dev/null | wc -c) ))'
    )
    return (
        f'F="{TASK_LOG}"; X="{EXIT_CODE}"; {start}; '
        "while :; do "
        'done=0; [ -f "$X" ] && done=1; '
        'size=$(stat -c %s "$F" 2>/dev/null || echo 0); '
        'if [ "$size" -gt "$pos" ]; then '
        'tail -c +$((pos + 1)) "$F" | head -c $((size - pos)); pos=$size; fi; '
        '[ "$done" = 1 ] && break; sleep 0.1; done'
    )


def upload_code(host: RemoteHost, archive: Path) -> None:
    """Copy the code archive in atomically (the script waits for the final name)."""
    host.upload(archive, "/var/lib/flow/code.tar.gz.part", mode=0o600)
    host.run(
        'mv -f "${FLOW_ROOT:-}/var/lib/flow/code.tar.gz.part" '
        '"${FLOW_ROOT:-}/var/lib/flow/code.tar.gz"',
        timeout=60,
    )


def write_cluster_env(
    hosts: Callable[[InstanceJson], RemoteHost], nodes: list[InstanceJson]
) -> None:
    """Tell each node its rank and where the others are (``var/lib/flow/cluster.env``)."""
    ips = [str(n.get("private_ip") or "") for n in nodes]
    for rank, node in enumerate(nodes):
        env = {
            "FLOW_NODE_RANK": str(rank),
            "FLOW_NUM_NODES": str(len(nodes)),
            "FLOW_MAIN_IP": ips[0],
            "FLOW_NODE_IPS": ",".join(ips),
        }
        text = "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items())
        hosts(node).run(
            'd="${FLOW_ROOT:-}/var/lib/flow"; mkdir -p "$d"; '
            'cat > "$d/cluster.env.tmp" && mv -f "$d/cluster.env.tmp" "$d/cluster.env"',
            input=text.encode(),
            timeout=60,
        )
