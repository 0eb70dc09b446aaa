"""Which TaskConfig field asks for which provider feature: one table, checked before any call.

:data:`FIELD_NEEDS` maps each field that may ask for a :class:`~flowlib.providers.base.Feature`
to the rules that say when it does; :data:`NEEDS_NOTHING` lists every other field, so a field
added to :class:`~flowlib.models.TaskConfig` without a decision here fails a unit test. Adding a
field that needs a feature is one line::

    "spot": (Need(Feature.SPOT, lambda spot: spot is True, "--spot"),),

:func:`check_features` refuses, in one :class:`~flowlib.errors.UnsupportedError`, every feature
the provider lacks, each with what to drop and which installed providers can do it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowlib._provider import able_providers
from flowlib.errors import UnsupportedError, ValidationError
from flowlib.providers import get_registry
from flowlib.providers.base import Feature

if TYPE_CHECKING:
    from flowlib.models import MountSpec, TaskConfig
    from flowlib.providers.base import Provider, ProviderSpec

__all__ = [
    "FIELD_NEEDS",
    "NEEDS_NOTHING",
    "Need",
    "Wanted",
    "asked_features",
    "check_features",
    "wanted_features",
]


@dataclass(frozen=True)
class Need:
    """A field asks for ``feature`` when ``when(value)`` is true; ``option`` is how the
    command line spells the field (None: only the API and task files set it)."""

    feature: Feature
    when: Callable[[Any], bool]
    option: str | None = None


@dataclass(frozen=True)
class Wanted:
    """A feature a task asks for, and the field (and its option) that asks."""

    feature: Feature
    field: str
    option: str | None

    @property
    def asked_by(self) -> str:
        return f"{self.field} ({self.option})" if self.option else self.field


def _names_a_gpu(instance_type: str | None) -> bool:
    """True when the text names a GPU model (``a100``, ``8xh100``). A provider's own id
    (an FCP FID, a flavor) or a name that is no GPU (``cpu``, a partition) says nothing."""
    if not instance_type:
        return False
    from flowlib.catalog._parse import parse_instance_type

    try:
        return parse_instance_type(instance_type).gpu is not None
    except ValidationError:
        return False


def _volume_mounts(mounts: list[MountSpec]) -> bool:
    return any(m.mount_type == "volume" for m in mounts)


def _other_mounts(mounts: list[MountSpec]) -> bool:
    return any(m.mount_type != "volume" for m in mounts)


FIELD_NEEDS: Mapping[str, tuple[Need, ...]] = {
    "instance_type": (Need(Feature.GPU, _names_a_gpu, "-i/--instance-type"),),
    "min_gpu_memory_gb": (Need(Feature.GPU, lambda gb: gb is not None, "--min-gpu-memory"),),
    "gpu_count": (Need(Feature.GPU, bool, "--gpus"),),
    "spot": (Need(Feature.SPOT, lambda spot: spot is True, "--spot"),),
    "num_instances": (Need(Feature.MULTI_NODE, lambda n: n > 1),),
    "volumes": (Need(Feature.VOLUMES, bool),),
    "data_mounts": (
        Need(Feature.VOLUMES, _volume_mounts, "--volume/--data /PATH=volume://NAME"),
        Need(Feature.VOLUME_MOUNTS, _volume_mounts, "--volume/--data /PATH=volume://NAME"),
        Need(Feature.DATA_MOUNTS, _other_mounts, "--data"),
    ),
    "outputs": (Need(Feature.DATA_MOUNTS, bool, "--output"),),
    "image": (Need(Feature.CONTAINER_IMAGE, bool, "--image"),),
    "ssh_keys": (Need(Feature.SSH, bool),),
    "instance_name": (Need(Feature.HIBERNATE, bool, "--on"),),  # a persistent instance sleeps
    "max_price_per_hour": (Need(Feature.MAX_PRICE, lambda usd: usd is not None, "--max-price"),),
    "region": (Need(Feature.REGION, bool),),
    # Restarts after a preemption: only a spot market preempts.
    "retries": (Need(Feature.SPOT, lambda n: n > 0),),
}

# Fields every provider honours: what to run, how, for how long, and with which code.
NEEDS_NOTHING = frozenset(
    {
        "name",
        "command",
        "shell",
        "script",
        "env",
        "max_run_time_hours",
        "working_dir",
        "priority",
        "auto_terminate",
        "upload_code",
        "code_dir",
        "min_vcpus",
        "min_ram_gb",
        "results",
        "stop_grace_s",
    }
)


def wanted_features(config: TaskConfig) -> list[Feature]:
    """Every feature ``config`` asks for, once each, in table order."""
    return [w.feature for w in asked_features(config)]


def asked_features(config: TaskConfig) -> list[Wanted]:
    """Every feature ``config`` asks for, once each, with the first field that asks."""
    wanted: dict[Feature, Wanted] = {}
    for field_name, needs in FIELD_NEEDS.items():
        value = getattr(config, field_name)
        for need in needs:
            if need.feature not in wanted and need.when(value):
                wanted[need.feature] = Wanted(need.feature, field_name, need.option)
    return list(wanted.values())


def check_features(
    provider: Provider,
    config: TaskConfig,
    specs: Mapping[str, ProviderSpec] | None = None,
) -> None:
    """Raise one :class:`UnsupportedError` naming every feature ``config`` asks for that
    ``provider`` cannot do, with its reasons; ``specs`` (default: the installed providers)
    name who can. Creates nothing and calls no API."""
    wanted = asked_features(config)
    missing = provider.capabilities.missing(w.feature for w in wanted)
    if not missing:
        return
    asks = [w for w in wanted if w.feature in missing]
    others = _other_specs(provider.name, specs)
    lines = [f"{w.asked_by} needs {w.feature}: {missing[w.feature]}" for w in asks]
    suggestions = [_suggestion(provider.name, w, others) for w in asks]
    every = [n for n, spec in others.items() if not (set(missing) & set(spec.unsupported))]
    if len(asks) > 1 and every:
        suggestions.append(f"providers that can do all of it: {', '.join(every)}")
    raise UnsupportedError(
        f"provider '{provider.name}' cannot run this task: " + "; ".join(lines),
        suggestions=suggestions,
        provider=provider.name,
        unsupported=[str(w.feature) for w in asks],
    )


def _suggestion(name: str, wanted: Wanted, others: Mapping[str, ProviderSpec]) -> str:
    able = able_providers(others, wanted.feature, but=name)
    where = f" or use {_either(able)} (--provider)" if able else ""
    return f"provider {name} has no {wanted.feature}: drop {wanted.asked_by}{where}"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _other_specs(name: str, specs: Mapping[str, ProviderSpec] | None) -> dict[str, ProviderSpec]:
    if specs is None:
        try:
            specs = get_registry().specs()
        except Exception:  # naming the alternatives must never hide the real error
            specs = {}
    return {n: s for n, s in sorted(specs.items()) if n != name}
