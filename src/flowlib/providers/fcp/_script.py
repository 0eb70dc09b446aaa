"""The startup script of an FCP bid: flowlib's script (``core.startup``) plus what FCP needs.

FCP takes at most 10,000 characters, starting with ``#!/bin/bash``. In order of preference:

1. the script with the code archive embedded, inline;
2. the same, gzip+base64 in a hash-checked bootstrap (``core.startup.fit_script``);
3. the script without the code: it waits for the archive, which the provider copies over the
   remote-host seam once the instance answers (``code_upload`` in the provider data).

Extra sections:

- multi-node: every instance of a bid runs the same script, so it waits for
  ``var/lib/flow/cluster.env`` (rank, node count, the first node's private IP), which the
  provider writes to each node once all of them run; the multi-node contract of every provider
  (``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``, ``WORLD_SIZE``, ``PET_*``: docs/multi-node.md)
  is then derived from it on the node;
- volumes: each volume of the bid is found by its serial, the volume's FID
  (``/dev/disk/by-id/virtio-<FID>``), formatted when blank and mounted at its ``mount_path``;
- self-release (``auto_terminate``): after the exit code is written, wait up to
  ``exit_grace_s`` for flowlib to read it (it touches ``exit_code.read`` and cancels the bid
  itself; with a results location, not once the exit code reached it), then cancel the bid
  with a task-scoped API key and revoke that key. The key is written
  to a 0600 header file for curl (never on a command line, never echoed).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowlib.core._results_script import EXIT_READ, RESULTS_DONE
from flowlib.core.startup import (
    SECTIONS,
    MultiNode,
    ScriptContext,
    build_script,
    fit_script,
    section_code,
    section_env,
)
from flowlib.errors import PackagingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flowlib.core.packaging import CodeArchive
    from flowlib.core.startup import Section
    from flowlib.data import VolumeMount
    from flowlib.models import TaskConfig

__all__ = ["MAX_SCRIPT", "ReleaseKey", "StartupScript", "cluster_nodes", "render", "volume_device"]

MAX_SCRIPT = 10_000
CLUSTER_ENV = "var/lib/flow/cluster.env"
CODE_WAIT_S = 1800
CLUSTER_WAIT_S = 1800


@dataclass(frozen=True)
class ReleaseKey:
    """What the instance needs to cancel its own bid."""

    api_url: str
    project: str
    bid_name: str
    key_fid: str
    secret: str  # the task-scoped key; lives only in the script and a 0600 file on the VM

    def __repr__(self) -> str:
        return f"ReleaseKey(bid_name={self.bid_name!r}, key_fid={self.key_fid!r})"


@dataclass(frozen=True)
class StartupScript:
    text: str
    mode: str  # "inline", "compressed" or "upload"


def _q(value: str) -> str:
    return shlex.quote(value)


def volume_device(volume_fid: str) -> str:
    """The device of an attached FCP volume on its instance: the virtio disk whose serial is the
    volume's FID (udev links it by serial; a serial holds 20 characters, ``vol_`` + 16)."""
    return f"/dev/disk/by-id/virtio-{volume_fid[:20]}"


def cluster_nodes(gpus_per_node: int) -> MultiNode:
    """The multi-node contract on an FCP node, from what ``cluster.env`` says (literal GPUs)."""
    return MultiNode(
        node_rank='"$FLOW_NODE_RANK"',
        num_nodes='"$FLOW_NUM_NODES"',
        main_ip='"$FLOW_MAIN_IP"',
        gpus_per_node=str(max(0, gpus_per_node)),
    )


def section_cluster(ctx: ScriptContext) -> str:
    if ctx.config.num_instances < 2:
        return ""
    return f"""# multi-node: wait for the provider to say who is who
FLOW_WAITED=0
while [ ! -f "$FLOW_ROOT/{CLUSTER_ENV}" ]; do
  [ "$FLOW_WAITED" -ge {CLUSTER_WAIT_S} ] && flow_fail "the other nodes never came up"
  sleep 1; FLOW_WAITED=$((FLOW_WAITED + 1))
done
set -a; . "$FLOW_ROOT/{CLUSTER_ENV}"; set +a
"""


def section_wait_code(ctx: ScriptContext) -> str:
    if not ctx.code_at_path:
        return ""
    return f"""# the code archive is copied in over SSH once the instance answers
FLOW_WAITED=0
while [ ! -f "$FLOW_LIB/code.tar.gz" ]; do
  [ "$FLOW_WAITED" -ge {CODE_WAIT_S} ] && flow_fail "the code archive never arrived"
  sleep 1; FLOW_WAITED=$((FLOW_WAITED + 1))
done
"""


def release_command(key: ReleaseKey, grace_s: float) -> str:
    bids = f"{key.api_url}/v2/spot/bids?project={key.project}&name={key.bid_name}"
    return f"""flow_release() {{
  local waited=0 hdr="$FLOW_LIB/release.header" bid="" code="" i
  trap '' TERM HUP INT  # the instance stops once its bid is gone: finish revoking the key first
  while [ ! -f "$FLOW_ROOT/{EXIT_READ}" ] && [ ! -f "$FLOW_ROOT/{RESULTS_DONE}" ] \\
    && [ "$waited" -lt {int(grace_s)} ]; do
    sleep 1; waited=$((waited + 1))
  done
  (umask 077; printf 'Authorization: Bearer %s\\n' {_q(key.secret)} > "$hdr")
  for i in 1 2 3 4 5 6 7 8; do
    bid=$(curl -fsS -H @"$hdr" {_q(bids)} | grep -o '"fid": *"bid_[A-Za-z0-9]*"' \\
      | head -n 1 | grep -o 'bid_[A-Za-z0-9]*') && [ -n "$bid" ] && break
    sleep "$i"
  done
  for i in 1 2 3 4 5 6 7 8; do
    [ -n "$bid" ] || break
    code=$(curl -sS -o /dev/null -w '%{{http_code}}' -X DELETE -H @"$hdr" \\
      {_q(key.api_url)}/v2/spot/bids/"$bid") || code=000
    case "$code" in 2*|404) flow_log "released bid $bid"; break ;; esac
    sleep "$i"
  done
  curl -fsS -o /dev/null -X DELETE -H @"$hdr" {_q(f"{key.api_url}/v2/api-keys/{key.key_fid}")}
  rm -f "$hdr"
}}
flow_release"""


def render(
    task_id: str,
    config: TaskConfig,
    *,
    archive: CodeArchive | None,
    release: ReleaseKey | None,
    exit_grace_s: float,
    gpus_per_node: int = 0,
    volume_mounts: Sequence[VolumeMount] = (),
    limit: int = MAX_SCRIPT,
) -> StartupScript:
    """The script for ``config``, fitting ``limit`` characters (see the module docstring).
    ``gpus_per_node``: the instance type's GPUs (multi-node tasks); ``volume_mounts``: the
    bid's volumes, each with its device (:func:`volume_device`)."""
    sections: list[Section] = list(SECTIONS)
    sections.insert(sections.index(section_env) + 1, section_cluster)
    sections.insert(sections.index(section_code), section_wait_code)
    command = release_command(release, exit_grace_s) if release is not None else None

    def build(embed: bool) -> str:
        ctx = ScriptContext(
            task_id=task_id,
            config=config,
            code=archive.data if archive is not None and embed else None,
            code_sha256=archive.sha256 if archive is not None else None,
            code_at_path=archive is not None and not embed,
            release_command=command,
            docker=config.image is not None,
            multi_node=cluster_nodes(gpus_per_node) if config.num_instances > 1 else None,
            volume_mounts=volume_mounts,
        )
        return build_script(ctx, sections)

    full = build(embed=True)
    if len(full) <= limit:
        return StartupScript(full, "inline")
    try:
        return StartupScript(fit_script(full, limit), "compressed")
    except PackagingError:
        if archive is None:
            raise
    lean = build(embed=False)
    return StartupScript(fit_script(lean, limit), "upload")
