"""Every option sbatch 22.05 accepts, as one typed table: its short letter, whether it takes a
value, and what flowlib does with it (interprets it, or ignores it for a stated reason).

Options not in this table are unknown to sbatch too (``sbatch: unrecognized option``) and are an
error. Long options may be abbreviated to any unique prefix, as getopt_long allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

__all__ = ["OPTIONS", "SHORT_OPTIONS", "Arg", "OptionSpec", "UnknownOptionError", "lookup_long"]


class Arg(Enum):
    NONE = "none"
    REQUIRED = "required"
    OPTIONAL = "optional"  # only as --name=value


@dataclass(frozen=True)
class OptionSpec:
    """One sbatch option. ``ignored`` is the reason flowlib gives when it does not map it
    (None: the translation interprets it)."""

    name: str
    arg: Arg = Arg.REQUIRED
    short: str | None = None
    ignored: str | None = None


_CLUSTER = "a SLURM scheduling setting with no meaning on a rented instance"
_ACCOUNTING = "SLURM accounting; flowlib bills the provider account instead"
_OUTPUT = "flowlib captures stdout and stderr in the task log (`flow logs`)"
_HW = "an instance type fixes the hardware; pick one with a GPU type or instance_type"
_CLIENT = "changes how the sbatch client behaves, not the job"

_TABLE: Final[tuple[OptionSpec, ...]] = (
    OptionSpec("account", short="A", ignored=_ACCOUNTING),
    OptionSpec("acctg-freq", ignored=_ACCOUNTING),
    OptionSpec("array", short="a"),
    OptionSpec("batch", ignored=_HW),
    OptionSpec("bb", ignored="burst buffers do not exist off-cluster"),
    OptionSpec("bbf", ignored="burst buffers do not exist off-cluster"),
    OptionSpec("begin", short="b", ignored="flowlib starts a task when it is submitted"),
    OptionSpec("chdir", short="D"),
    OptionSpec("cluster-constraint", ignored=_CLUSTER),
    OptionSpec("clusters", short="M", ignored=_CLUSTER),
    OptionSpec("comment", ignored="a note for the SLURM database"),
    OptionSpec("constraint", short="C"),
    OptionSpec("container", ignored="use TaskConfig.image for a container image"),
    OptionSpec("contiguous", Arg.NONE, ignored=_CLUSTER),
    OptionSpec("core-spec", short="S", ignored=_HW),
    OptionSpec("cores-per-socket", ignored=_HW),
    OptionSpec("cpu-freq", ignored=_HW),
    OptionSpec("cpus-per-gpu", ignored=_HW),
    OptionSpec("cpus-per-task", short="c"),
    OptionSpec("deadline", ignored=_CLUSTER),
    OptionSpec("delay-boot", ignored=_CLUSTER),
    OptionSpec("dependency", short="d", ignored="chain flowlib tasks by waiting on them"),
    OptionSpec("distribution", short="m", ignored=_CLUSTER),
    OptionSpec("error", short="e", ignored=_OUTPUT),
    OptionSpec("exclude", short="x", ignored=_CLUSTER),
    OptionSpec("exclusive", Arg.OPTIONAL, ignored="a rented instance is always the task's alone"),
    OptionSpec("export"),
    OptionSpec("export-file", ignored="pass variables through --export or TaskConfig.env"),
    OptionSpec("extra-node-info", short="B", ignored=_HW),
    OptionSpec("get-user-env", Arg.OPTIONAL, ignored=_CLUSTER),
    OptionSpec("gid", ignored=_CLUSTER),
    OptionSpec("gpu-bind", ignored=_HW),
    OptionSpec("gpu-freq", ignored=_HW),
    OptionSpec("gpus", short="G"),
    OptionSpec("gpus-per-node"),
    OptionSpec("gpus-per-socket", ignored=_HW),
    OptionSpec("gpus-per-task"),
    OptionSpec("gres"),
    OptionSpec("gres-flags", ignored=_HW),
    OptionSpec("help", Arg.NONE, short="h", ignored=_CLIENT),
    OptionSpec("hint", ignored=_HW),
    OptionSpec("hold", Arg.NONE, short="H", ignored="flowlib starts a task when it is submitted"),
    OptionSpec("ignore-pbs", Arg.NONE),
    OptionSpec("immediate", Arg.NONE, short="I", ignored=_CLIENT),
    OptionSpec("input", short="i", ignored="a task's stdin is /dev/null"),
    OptionSpec("job-name", short="J"),
    OptionSpec("kill-on-invalid-dep", ignored=_CLUSTER),
    OptionSpec("licenses", short="L", ignored=_CLUSTER),
    OptionSpec("mail-type", ignored="flowlib sends no mail; watch with `flow status`"),
    OptionSpec("mail-user", ignored="flowlib sends no mail; watch with `flow status`"),
    OptionSpec("mcs-label", ignored=_CLUSTER),
    OptionSpec("mem"),
    OptionSpec("mem-bind", ignored=_HW),
    OptionSpec("mem-per-cpu"),
    OptionSpec("mem-per-gpu"),
    OptionSpec("mincpus", ignored=_HW),
    OptionSpec("network", ignored=_CLUSTER),
    OptionSpec("nice", Arg.OPTIONAL, ignored="use TaskConfig.priority"),
    OptionSpec("no-kill", Arg.OPTIONAL, short="k", ignored=_CLUSTER),
    OptionSpec("no-requeue", Arg.NONE, ignored="flowlib does not requeue a task"),
    OptionSpec("nodefile", short="F", ignored=_CLUSTER),
    OptionSpec("nodelist", short="w", ignored=_CLUSTER),
    OptionSpec("nodes", short="N"),
    OptionSpec("ntasks", short="n"),
    OptionSpec("ntasks-per-core", ignored=_HW),
    OptionSpec("ntasks-per-gpu", ignored=_HW),
    OptionSpec("ntasks-per-node"),
    OptionSpec("ntasks-per-socket", ignored=_HW),
    OptionSpec("open-mode", ignored=_OUTPUT),
    OptionSpec("output", short="o", ignored=_OUTPUT),
    OptionSpec("overcommit", Arg.NONE, short="O", ignored=_HW),
    OptionSpec("oversubscribe", Arg.NONE, short="s", ignored=_CLUSTER),
    OptionSpec("parsable", Arg.NONE, ignored=_CLIENT),
    OptionSpec("partition", short="p"),
    OptionSpec("power", ignored=_CLUSTER),
    OptionSpec("priority", ignored="use TaskConfig.priority"),
    OptionSpec("profile", ignored=_ACCOUNTING),
    OptionSpec("propagate", Arg.OPTIONAL, ignored=_CLUSTER),
    OptionSpec("qos", short="q", ignored=_CLUSTER),
    OptionSpec("quiet", Arg.NONE, short="Q", ignored=_CLIENT),
    OptionSpec("reboot", Arg.NONE, ignored="a rented instance boots fresh"),
    OptionSpec("requeue", Arg.NONE, ignored="flowlib does not requeue a task"),
    OptionSpec("reservation", ignored=_CLUSTER),
    OptionSpec("signal", ignored="flowlib sends SIGTERM at the time limit, then SIGKILL"),
    OptionSpec("sockets-per-node", ignored=_HW),
    OptionSpec("spread-job", Arg.NONE, ignored=_CLUSTER),
    OptionSpec("switches", ignored=_CLUSTER),
    OptionSpec("test-only", Arg.NONE, ignored=_CLIENT),
    OptionSpec("thread-spec", ignored=_HW),
    OptionSpec("threads-per-core", ignored=_HW),
    OptionSpec("time", short="t"),
    OptionSpec("time-min", ignored="flowlib uses --time"),
    OptionSpec("tmp", ignored=_HW),
    OptionSpec("uid", ignored=_CLUSTER),
    OptionSpec("usage", Arg.NONE, ignored=_CLIENT),
    OptionSpec("use-min-nodes", Arg.NONE, ignored=_CLUSTER),
    OptionSpec("verbose", Arg.NONE, short="v", ignored=_CLIENT),
    OptionSpec("version", Arg.NONE, short="V", ignored=_CLIENT),
    OptionSpec("wait", Arg.NONE, short="W", ignored=_CLIENT),
    OptionSpec("wait-all-nodes", ignored=_CLUSTER),
    OptionSpec("wckey", ignored=_ACCOUNTING),
    OptionSpec("wrap", ignored="a script with a body has nothing to wrap"),
)

OPTIONS: Final[dict[str, OptionSpec]] = {spec.name: spec for spec in _TABLE}
"""Long name -> spec, for every option sbatch accepts."""

SHORT_OPTIONS: Final[dict[str, OptionSpec]] = {
    spec.short: spec for spec in _TABLE if spec.short is not None
}


def lookup_long(name: str) -> OptionSpec:
    """The option a (possibly abbreviated) long name means; ``KeyError`` with the reason."""
    if name in OPTIONS:
        return OPTIONS[name]
    matches = [spec for key, spec in OPTIONS.items() if key.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(f"--{m.name}" for m in matches)
        raise KeyError(f"option '--{name}' is ambiguous: {names}")
    import difflib  # only on the error path

    close = difflib.get_close_matches(name, list(OPTIONS), n=1, cutoff=0.6)
    raise UnknownOptionError(name, close[0] if close else None)


class UnknownOptionError(KeyError):
    """A long option sbatch does not have; ``close`` is the option probably meant (or None)."""

    def __init__(self, name: str, close: str | None) -> None:
        super().__init__(f"unrecognized option '--{name}'")
        self.name = name
        self.close = close
