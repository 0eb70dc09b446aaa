"""``flow ssh`` and ``flow tunnel``: reaching a task's machine."""

from __future__ import annotations

import argparse
import sys

from flowlib.errors import ProviderError
from flowlib.flow import Flow

__all__ = ["cmd_ssh", "cmd_tunnel"]

# How often `flow tunnel` looks at the forward (cheap) and at the task (a provider call).
_CHECK_S = 0.5
_STATUS_EVERY = 10


def cmd_ssh(args: argparse.Namespace) -> int:
    """A shell on the task's machine, or ``COMMAND`` there; its exit code is flow's."""
    command = " ".join(args.remote_command) if args.remote_command else None
    with Flow(home=args.home) as flow:
        return flow.ssh(args.task, command=command, node=args.node)


def cmd_tunnel(args: argparse.Namespace) -> int:
    """Forward the port, print where it is, and hold it open until Ctrl-C or the task ends."""
    remote, local = args.ports
    with Flow(home=args.home) as flow:
        task = flow.get_task(args.task)
        forward = flow.tunnel(task.task_id, remote, local, node=args.node)
        try:
            node = f" (node {args.node})" if args.node else ""
            print(f"http://127.0.0.1:{forward.local_port}", flush=True)
            print(
                f"port {remote} of {task.task_id} ({task.name}){node} is at "
                f"127.0.0.1:{forward.local_port}; press Ctrl-C to close the tunnel",
                file=sys.stderr,
                flush=True,
            )
            checks = 0
            while forward.is_open():
                flow.clock.sleep(_CHECK_S)
                checks += 1
                if checks % _STATUS_EVERY == 0:
                    status = flow.status(task.task_id)
                    if status.is_terminal:
                        print(
                            f"task {task.task_id} ended ({status.value}): tunnel closed",
                            file=sys.stderr,
                        )
                        return 0
            raise ProviderError(
                f"the tunnel to port {remote} of {task.task_id} closed: the connection to "
                "its machine dropped",
                suggestions=[
                    f"`flow status {task.task_id}` shows whether the task still runs",
                    f"open it again: flow tunnel {task.task_id} {remote}:{forward.local_port}",
                ],
                task_id=task.task_id,
            )
        except KeyboardInterrupt:
            print("\ntunnel closed", file=sys.stderr)
            return 0
        finally:
            forward.close()
