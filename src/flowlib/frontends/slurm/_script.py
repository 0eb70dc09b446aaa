"""Reading an sbatch script's header exactly as sbatch 22.05 does (checked against real SLURM).

- Directives are lines that start, in column 0, with ``#SBATCH`` (also ``#SLURM``, which sbatch
  reads with a complaint), then ``#PBS`` and ``#BSUB`` lines, which override the ``#SBATCH``
  values whatever their order (``--ignore-pbs`` turns them off).
- Scanning stops at the first line that is neither blank nor a comment; ``#SBATCH`` lines after
  it are ignored with a warning.
- A directive line is split like sbatch splits it: whitespace separates words, single and double
  quotes group (and are removed), a backslash escapes the next character, and an unquoted ``#``
  ends the line. Long options may be abbreviated to a unique prefix; short ones take their value
  attached (``-N2``) or as the next word. The last value of an option wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from flowlib.errors import ValidationError
from flowlib.frontends.slurm import _values as v
from flowlib.frontends.slurm._options import (
    SHORT_OPTIONS,
    Arg,
    OptionSpec,
    UnknownOptionError,
    lookup_long,
)

__all__ = ["Directive", "SbatchScript", "parse_sbatch"]

_SBATCH_PREFIXES = ("#SBATCH", "#SLURM")


@dataclass(frozen=True)
class Directive:
    """One option read from the header: ``--time=10`` on line 3 of ``#SBATCH`` lines.

    :ivar option: the canonical long name (``time`` for ``-t``, ``--ti`` or ``--time``); for
        ``#PBS``/``#BSUB`` options flowlib does not interpret, ``PBS -X`` / ``BSUB -X``.
    :ivar value: the value as sbatch reads it (quotes removed); None for a flag.
    :ivar prefix: ``#SBATCH``, ``#SLURM``, ``#PBS`` or ``#BSUB``.
    :ivar line: the 1-based line number; ``text`` the whole line.
    :ivar written: for a ``#PBS``/``#BSUB`` option read as an sbatch one, how the script wrote
        it (``-l walltime=01:00:00``); None for ``#SBATCH`` lines.
    """

    option: str
    value: str | None
    line: int
    text: str
    prefix: str = "#SBATCH"
    written: str | None = None

    @property
    def spelling(self) -> str:
        """How a person would write it: ``--time=10``; a ``#PBS``/``#BSUB`` option as the
        script wrote it (``#PBS -l walltime=01:00:00``)."""
        if self.written is not None:
            return f"{self.prefix} {self.written}"
        if self.option.startswith(("PBS ", "BSUB ")):
            return self.option.split(" ", 1)[1] + (f" {self.value}" if self.value else "")
        return f"--{self.option}" + (f"={self.value}" if self.value is not None else "")


@dataclass(frozen=True)
class SbatchScript:
    """An sbatch script as SLURM reads it. Every field is the effective value after all
    directives (None: not given, so the cluster's default applies).

    Times are whole minutes (``UNLIMITED`` = -1 for no limit); memory is MB.
    """

    text: str
    source: str = "job.sbatch"
    directives: tuple[Directive, ...] = ()
    late_directives: tuple[Directive, ...] = ()
    warnings: tuple[str, ...] = ()
    job_name: str | None = None
    time_minutes: int | None = None
    nodes: v.NodeRange | None = None
    ntasks: int | None = None
    ntasks_per_node: int | None = None
    cpus_per_task: int | None = None
    mem_mb: int | None = None
    mem_per_cpu_mb: int | None = None
    mem_per_gpu_mb: int | None = None
    gres: tuple[tuple[str, str], ...] = ()
    gpus: v.GpuRequest | None = None
    gpus_per_node: v.GpuRequest | None = None
    gpus_per_task: v.GpuRequest | None = None
    array: v.ArraySpec | None = None
    output: str | None = None
    error: str | None = None
    chdir: str | None = None
    export: str | None = None
    constraint: str | None = None
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    exclusive: bool = False
    requeue: bool | None = None
    hold: bool = False
    signal: str | None = None
    dependency: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    comment: str | None = None
    nice: int | None = None
    first_command_line: int = 0
    extra: tuple[tuple[str, str | None], ...] = ()
    """Options read but not interpreted here, as (long name, value), last value each."""

    @property
    def name(self) -> str:
        """The job name SLURM uses: ``--job-name``, else the script's file name."""
        return self.job_name if self.job_name is not None else PurePosixPath(self.source).name

    @property
    def num_nodes(self) -> int:
        """Nodes the job gets: ``--nodes`` minimum, else what the tasks need, else 1."""
        if self.nodes is not None:
            return self.nodes.minimum
        if self.ntasks and self.ntasks_per_node:
            return -(-self.ntasks // self.ntasks_per_node)
        return 1

    @property
    def num_tasks(self) -> int:
        """``SLURM_NTASKS``: ``--ntasks``, else tasks-per-node x nodes, else one per node."""
        if self.ntasks is not None:
            return self.ntasks
        if self.ntasks_per_node is not None:
            return self.ntasks_per_node * self.num_nodes
        return self.num_nodes

    @property
    def gpu_request_per_node(self) -> v.GpuRequest | None:
        """GPUs each node needs, from ``--gres``, ``--gpus-per-node``, ``--gpus`` or
        ``--gpus-per-task`` (in that order of preference); None: no GPU asked for."""
        for item in self.gres:
            request = v.gres_gpu_request(item)
            if request is not None:
                return request
        if self.gpus_per_node is not None:
            return self.gpus_per_node
        if self.gpus is not None:
            per_node = -(-self.gpus.count // self.num_nodes)
            return v.GpuRequest(per_node, self.gpus.gpu_type)
        if self.gpus_per_task is not None:
            tasks_per_node = self.ntasks_per_node or -(-self.num_tasks // self.num_nodes)
            per_task = self.gpus_per_task
            return v.GpuRequest(per_task.count * tasks_per_node, per_task.gpu_type)
        return None

    def workdir(self, submit_dir: str) -> str:
        """The job's working directory: ``--chdir`` (relative to ``submit_dir``), else that."""
        if self.chdir is None:
            return submit_dir
        return str(PurePosixPath(submit_dir) / self.chdir)


# ---------------------------------------------------------------- splitting a directive line


def split_words(rest: str) -> list[str]:
    """Split what follows ``#SBATCH`` into words the way sbatch does."""
    words: list[str] = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t\r\n\f\v":
            i += 1
        if i >= n or rest[i] == "#":
            break
        word: list[str] = []
        quote: str | None = None
        while i < n:
            ch = rest[i]
            if ch == "\\" and i + 1 < n:
                word.append(rest[i + 1])
                i += 2
                continue
            if quote is not None:
                if ch == quote:
                    quote = None
                else:
                    word.append(ch)
            elif ch in "\"'":
                quote = ch
            elif ch in " \t\r\n\f\v":
                break
            elif ch == "#":
                i = n  # an unquoted '#' ends the line
                break
            else:
                word.append(ch)
            i += 1
        if quote is not None:
            raise ValueError(f"unterminated {quote} quote")
        words.append("".join(word))
    return words


def _read_options(words: list[str]) -> list[tuple[OptionSpec, str | None]]:
    """getopt_long over one directive line's words."""
    found: list[tuple[OptionSpec, str | None]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":  # getopt's end of options; sbatch accepts it
            continue
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            spec = lookup_long(name)  # KeyError: unknown / ambiguous
            if spec.arg is Arg.NONE:
                if eq:
                    raise KeyError(f"option '--{spec.name}' doesn't allow an argument")
                found.append((spec, None))
            elif eq:
                found.append((spec, value))
            elif spec.arg is Arg.OPTIONAL:
                found.append((spec, None))
            elif i < len(words):
                found.append((spec, words[i]))
                i += 1
            else:
                raise KeyError(f"option '--{spec.name}' requires an argument")
        elif word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                letter = word[j]
                j += 1
                short = SHORT_OPTIONS.get(letter)
                if short is None:
                    raise KeyError(f"invalid option -- '{letter}'")
                if short.arg is Arg.NONE:
                    found.append((short, None))
                    continue
                if j < len(word):
                    found.append((short, word[j:]))
                elif short.arg is Arg.OPTIONAL:
                    found.append((short, None))
                elif i < len(words):
                    found.append((short, words[i]))
                    i += 1
                else:
                    raise KeyError(f"option requires an argument -- '{letter}'")
                break
        else:
            raise KeyError(f"invalid directive {word!r} (every word must be an option)")
    return found


# ---------------------------------------------------------------- PBS and BSUB

_PBS_MAP = {
    "N": "job-name",
    "o": "output",
    "e": "error",
    "q": "partition",
    "A": "account",
    "t": "array",
    "J": "array",
    "M": "mail-user",
    "h": "hold",
}
_PBS_FLAGS = set("hIVz")
_BSUB_MAP = {
    "J": "job-name",
    "o": "output",
    "e": "error",
    "q": "partition",
    "n": "ntasks",
    "W": "time",
}


def _pbs_directives(words: list[str], line: int, text: str, prefix: str) -> list[Directive]:
    """``#PBS``/``#BSUB`` words as the sbatch directives they stand for."""
    out: list[Directive] = []
    i = 0
    pbs = prefix == "#PBS"
    while i < len(words):
        word = words[i]
        i += 1
        if not (word.startswith("-") and len(word) >= 2):
            raise KeyError(f"invalid {prefix} directive {word!r}")
        letter = word[1]
        value: str | None = word[2:] or None
        if value is None and not (pbs and letter in _PBS_FLAGS) and i < len(words):
            value = words[i]
            i += 1
        if pbs and letter == "l" and value is not None:
            out.extend(_pbs_resources(value, line, text))
            continue
        mapping = _PBS_MAP if pbs else _BSUB_MAP
        option = mapping.get(letter)
        written = f"-{letter}" + (f" {value}" if value is not None else "")
        if option == "hold":
            out.append(Directive("hold", None, line, text, prefix, written))
        elif option == "time" and value is not None and ":" in value:  # BSUB -W HH:MM
            hours, _, minutes = value.partition(":")
            out.append(Directive("time", f"{hours}:{minutes}:00", line, text, prefix, written))
        elif option is not None:
            out.append(Directive(option, value, line, text, prefix, written))
        else:
            out.append(Directive(f"{prefix[1:]} -{letter}", value, line, text, prefix))
    return out


def _pbs_resources(spec: str, line: int, text: str) -> list[Directive]:
    out: list[Directive] = []
    for item in spec.split(","):
        key, _, value = item.partition("=")
        written = f"-l {item}"
        if key == "walltime":
            out.append(Directive("time", value, line, text, "#PBS", written))
        elif key == "mem":
            out.append(Directive("mem", value, line, text, "#PBS", written))
        elif key == "nodes":
            count, _, rest = value.partition(":")
            out.append(Directive("nodes", count, line, text, "#PBS", written))
            match = re.search(r"ppn=([0-9]+)", rest)
            # sbatch asks for nodes x ppn tasks; not count.isdigit(), which takes '²'
            if match and re.fullmatch(r"[0-9]+", count, re.ASCII):
                tasks = str(int(count) * int(match.group(1)))
                out.append(Directive("ntasks", tasks, line, text, "#PBS", written))
        else:
            out.append(Directive(f"PBS -l {key}", value or None, line, text, "#PBS"))
    return out


# ---------------------------------------------------------------- the header scan


def _is_command(line: str) -> bool:
    stripped = line.lstrip()
    return bool(stripped) and not stripped.startswith("#")


def parse_sbatch(text: str, *, source: str = "job.sbatch") -> SbatchScript:
    """Read an sbatch script. Raises :class:`ValidationError` naming the line for an unknown or
    malformed directive, for a script without ``#!`` and for one without a command."""
    if "\x00" in text:
        raise ValidationError(f"{source}: the script contains a NUL byte", source=source)
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#!"):
        raise ValidationError(
            f"{source}:1: an sbatch script must start with #! and an interpreter",
            suggestions=["add `#!/bin/bash` as the first line"],
            source=source,
            line=1,
        )
    slurm: list[Directive] = []
    pbs: list[Directive] = []
    late: list[Directive] = []
    warnings: list[str] = []
    first_command = 0
    for number, line in enumerate(lines[1:], start=2):
        if first_command:
            if line.startswith("#SBATCH"):
                late.append(Directive("(after first command)", None, number, line))
                warnings.append(
                    f"{source}:{number}: #SBATCH after the first command (line "
                    f"{first_command}) is ignored, as sbatch ignores it"
                )
            continue
        prefix = next((p for p in (*_SBATCH_PREFIXES, "#PBS", "#BSUB") if line.startswith(p)), None)
        if prefix is None:
            if _is_command(line):
                first_command = number
            continue
        try:
            words = split_words(line[len(prefix) :])
            if prefix in _SBATCH_PREFIXES:
                if prefix == "#SLURM":
                    warnings.append(f"{source}:{number}: #SLURM is read as #SBATCH")
                for spec, value in _read_options(words):
                    slurm.append(Directive(spec.name, value, number, line, prefix))
            else:
                pbs.extend(_pbs_directives(words, number, line, prefix))
        except (KeyError, ValueError) as exc:
            reason = exc.args[0] if exc.args else str(exc)
            tips = ["see `sbatch --help` for the options sbatch accepts"]
            meant = ""
            if isinstance(exc, UnknownOptionError) and exc.close:
                meant = f"; did you mean --{exc.close}?"
                fixed = line.strip().replace(f"--{exc.name}", f"--{exc.close}", 1)
                tips.insert(0, f"write: {fixed}")
            raise ValidationError(
                f"{source}:{number}: {reason}: {line.strip()}{meant}",
                suggestions=tips,
                source=source,
                line=number,
            ) from None
    if not first_command:
        raise ValidationError(
            f"{source}: the script has no command after its #SBATCH header",
            suggestions=["add the commands the job should run"],
            source=source,
        )
    if any(d.option == "ignore-pbs" for d in slurm):
        pbs = []
    return _effective(text, source, tuple(slurm + pbs), tuple(late), tuple(warnings), first_command)


def _effective(
    text: str,
    source: str,
    directives: tuple[Directive, ...],
    late: tuple[Directive, ...],
    warnings: tuple[str, ...],
    first_command: int,
) -> SbatchScript:
    fields: dict[str, object] = {}
    extra: dict[str, str | None] = {}
    memory_options: dict[str, Directive] = {}
    for d in directives:
        try:
            _apply(d, fields, extra, memory_options)
        except ValueError as exc:
            raise ValidationError(
                f"{source}:{d.line}: {d.spelling}: {exc}",
                source=source,
                line=d.line,
                option=d.option,
            ) from None
    if len(memory_options) > 1:
        last = max(memory_options.values(), key=lambda d: d.line)
        raise ValidationError(
            f"{source}:{last.line}: --mem, --mem-per-cpu and --mem-per-gpu are mutually "
            f"exclusive (given: {', '.join('--' + k for k in sorted(memory_options))})",
            source=source,
            line=last.line,
        )
    return SbatchScript(
        text=text,
        source=source,
        directives=directives,
        late_directives=late,
        warnings=warnings,
        first_command_line=first_command,
        extra=tuple(extra.items()),
        **fields,  # type: ignore[arg-type]
    )


def _positive(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text.strip(), re.ASCII) or int(text) < 1:
        raise ValueError(f"expected a positive whole number, got {text!r}")
    return int(text)


def _apply(
    d: Directive,
    fields: dict[str, object],
    extra: dict[str, str | None],
    memory_options: dict[str, Directive],
) -> None:
    value = d.value if d.value is not None else ""
    option = d.option
    if option == "time":
        fields["time_minutes"] = v.parse_time_minutes(value)
    elif option == "nodes":
        fields["nodes"] = v.parse_nodes(value)
    elif option in ("ntasks", "ntasks-per-node", "cpus-per-task"):
        fields[option.replace("-", "_")] = _positive(value)
    elif option in ("mem", "mem-per-cpu", "mem-per-gpu"):
        mb = v.parse_memory_mb(value, pbs=d.prefix == "#PBS")
        fields[{"mem": "mem_mb"}.get(option, option.replace("-", "_") + "_mb")] = mb
        memory_options[option] = d
    elif option == "gres":
        fields["gres"] = v.parse_gres(value)
    elif option in ("gpus", "gpus-per-node", "gpus-per-task"):
        fields[option.replace("-", "_")] = v.parse_gpu_count(value)
    elif option == "array":
        fields["array"] = v.parse_array(value)
    elif option in (
        "job-name",
        "output",
        "error",
        "chdir",
        "export",
        "constraint",
        "partition",
        "qos",
        "account",
        "signal",
        "dependency",
        "mail-type",
        "mail-user",
        "comment",
    ):
        fields[option.replace("-", "_")] = value
    elif option == "exclusive":
        fields["exclusive"] = True
    elif option in ("requeue", "no-requeue"):
        fields["requeue"] = option == "requeue"
    elif option == "hold":
        fields["hold"] = True
    elif option == "nice":
        fields["nice"] = int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else 100
    else:
        extra[option] = d.value
