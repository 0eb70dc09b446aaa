"""What kind of TARGET ``flow run`` was given, told without the engine: the parser asks too
(what follows a script can only be flow's options), and parsing stays light."""

from __future__ import annotations

from pathlib import Path

__all__ = ["looks_like_sbatch"]

_SUFFIXES = (".sbatch", ".slurm")


def looks_like_sbatch(target: str) -> bool:
    """``job.sbatch`` / ``job.slurm``, or an existing script whose header has ``#SBATCH`` lines."""
    if any(ch.isspace() for ch in target.strip()):
        return False
    if target.endswith(_SUFFIXES):
        return True
    path = Path(target)
    try:
        if not path.is_file() or path.stat().st_size > 1_000_000:
            return False
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline() for _ in range(200)]
    except OSError:
        return False
    if not head[0].startswith("#!"):
        return False
    for line in head[1:]:
        if line.startswith(("#SBATCH", "#SLURM")):
            return True
        if line.strip() and not line.lstrip().startswith("#"):
            return False  # the first command: sbatch reads no directive after it
    return False
