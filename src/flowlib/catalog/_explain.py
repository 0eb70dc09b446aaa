"""Errors that explain what the catalog has instead of what was asked for.

Each builder returns a :class:`~flowlib.errors.ValidationError` whose ``suggestions`` are
existing instance type names, closest first, so a user (or the CLI) can paste one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from flowlib.catalog._parse import InstanceRequest
from flowlib.catalog._types import GpuSpec, InstanceType, Offer
from flowlib.errors import ValidationError

__all__ = ["SUGGESTED", "ambiguous", "closest", "no_match", "not_sold", "unknown_provider"]

SUGGESTED = 3  # how many close names an error suggests
_Listed = TypeVar("_Listed", int, str)


def closest(
    types: Sequence[InstanceType],
    gpu: str,
    count: int,
    memory: int | None,
    link: str | None,
    default: GpuSpec | None = None,
) -> list[InstanceType]:
    """The ``SUGGESTED`` instance types nearest to the request: same GPU first, then what the
    user named (memory, interconnect), then the nearest count and memory, default variant first."""
    want_memory = memory if memory is not None else (default.default.memory_gb if default else 0)

    def distance(t: InstanceType) -> tuple[bool, bool, bool, int, int, bool, str]:
        return (
            t.gpu != gpu,
            memory is not None and t.gpu_memory_gb != memory,
            link is not None and t.interconnect != link,
            abs(t.gpu_count - count),
            abs(t.gpu_memory_gb - want_memory),
            default is not None
            and (t.gpu_memory_gb, t.interconnect)
            != (default.default.memory_gb, default.default.interconnect),
            t.name,
        )

    return sorted(types, key=distance)[:SUGGESTED]


def _label(gpu: str, memory: int | None, link: str | None) -> str:
    text = gpu + (f"-{memory}gb" if memory is not None else "")
    return text + (f".{link}" if link is not None else "")


def _listing(values: Iterable[_Listed], conjunction: str = "or") -> str:
    items = [str(v) for v in sorted(set(values))]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def no_match(
    request: InstanceRequest,
    family: list[InstanceType],
    count: int,
    key: str | None,
    spec: GpuSpec | None,
) -> ValidationError:
    gpu, memory, link = request.gpu or "", request.memory_gb, request.interconnect
    with_memory = [t for t in family if memory is None or t.gpu_memory_gb == memory]
    with_link = [t for t in with_memory if link is None or t.interconnect == link]
    if not with_memory:
        sizes = _listing(t.gpu_memory_gb for t in family)
        reason = f"no {gpu} instance type has {memory} GB per GPU; {gpu} comes with {sizes} GB"
    elif not with_link:
        label = _label(gpu, memory, None)
        links = _listing(t.interconnect or "unknown" for t in with_memory)
        reason = f"no {label} instance type uses {link}; {label} comes as {links}"
    else:
        label = _label(gpu, memory, link)
        counts = _listing(t.gpu_count for t in with_link)
        plural = "GPU" if count == 1 else "GPUs"
        reason = f"no {label} instance type has {count} {plural}; {label} comes with {counts} GPUs"
    at = f" at {key}" if key else ""
    sold = f"; {key} sells: {', '.join(t.name for t in family)}" if key else ""
    close = closest(family, gpu, count, memory, link, spec)
    fixes = [t.name for t in close]
    return ValidationError(
        f"{request.text.strip()!r}{at}: {reason}{sold}; did you mean "
        + " or ".join(f"'{f}'" for f in fixes)
        + "?",
        suggestions=fixes,
    )


def ambiguous(
    request: InstanceRequest, matches: list[InstanceType], key: str | None
) -> ValidationError:
    differ = []
    if len({t.gpu_memory_gb for t in matches}) > 1:
        differ.append("memory")
    if len({t.interconnect for t in matches}) > 1:
        differ.append("interconnect")
    at = f" at {key}" if key else ""
    names = [t.name for t in matches]
    return ValidationError(
        f"{request.text.strip()!r}{at} could mean {len(names)} instance types: "
        f"{', '.join(names)}; name the {' and '.join(differ) or 'variant'} too",
        suggestions=names,
    )


def not_sold(
    request: InstanceRequest,
    types: list[InstanceType],
    key: str | None,
    offers: Sequence[Offer],
) -> ValidationError:
    gpu = request.gpu or ""
    sellers = sorted({o.provider for o in offers if o.instance_type.gpu == gpu})
    models = _listing((t.gpu for t in types), "and") if types else "nothing"
    if key is not None:
        elsewhere = f"; {gpu} is sold by {', '.join(sellers)}" if sellers else ""
        message = f"{key} sells no {gpu} instance type; it sells {models}{elsewhere}"
    else:
        message = f"the catalog has no {gpu} instance type; it has {models}"
    count = request.count or 1
    close = closest(types, gpu, count, request.memory_gb, None)
    return ValidationError(
        f"{request.text.strip()!r}: {message}", suggestions=[t.name for t in close]
    )


def unknown_provider(key: str, offers: Sequence[Offer]) -> ValidationError:
    import difflib

    known = sorted({o.provider for o in offers})
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return ValidationError(
        f"provider {key!r} has no instance types in the catalog; providers with instance "
        f"types: {', '.join(known) or 'none'}",
        suggestions=close or known,
    )
