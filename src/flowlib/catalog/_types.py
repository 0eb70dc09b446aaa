"""The catalog's values: GPU families, instance types and the offers that sell them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowlib.catalog._aliases import MAX_GPU_COUNT, MAX_GPU_MEMORY_GB
from flowlib.errors import ValidationError

if TYPE_CHECKING:
    from flowlib.catalog._shapes import OfferJson

__all__ = ["GpuSpec", "GpuVariant", "InstanceType", "Offer"]

_WORD = re.compile(r"[a-z0-9]+")
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _check_word(what: str, value: str) -> None:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ValidationError(f"{what} must be lowercase letters and digits, got {value!r}")


def _check_int(what: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationError(f"{what} must be an integer of at least {low}, got {value!r}")
    if high is not None and value > high:
        raise ValidationError(f"{what} must be at most {high}, got {value!r}")


@dataclass(frozen=True, order=True)
class GpuVariant:
    """One way a GPU model is built: memory per GPU and how it is attached.

    :ivar memory_gb: memory of one GPU, in GB (``80`` for an A100 80GB).
    :ivar interconnect: canonical interconnect: ``"sxm"`` (any SXM generation), ``"pcie"``,
        ``"nvl"`` (NVL cards such as H100 NVL).
    """

    memory_gb: int
    interconnect: str

    def __post_init__(self) -> None:
        _check_int("memory_gb", self.memory_gb, 1, MAX_GPU_MEMORY_GB)
        _check_word("interconnect", self.interconnect)

    def __str__(self) -> str:
        return f"{self.memory_gb}gb.{self.interconnect}"


@dataclass(frozen=True)
class GpuSpec:
    """A GPU family as the catalog knows it.

    :ivar model: canonical lowercase model, the value of
        :data:`~flowlib.catalog.GPU_ALIASES` (``"a100"``, ``"rtx4090"``).
    :ivar display_name: the vendor's name, for people (``"NVIDIA A100"``).
    :ivar variants: every memory size / interconnect the family is built in, sorted.
    :ivar default: the variant a bare name means (``a100`` -> 80 GB SXM); one of ``variants``.
    """

    model: str
    display_name: str
    variants: tuple[GpuVariant, ...]
    default: GpuVariant

    def __post_init__(self) -> None:
        _check_word("model", self.model)
        if not self.variants:
            raise ValidationError(f"GPU {self.model!r} lists no variants")
        if self.default not in self.variants:
            raise ValidationError(
                f"GPU {self.model!r}: default variant {self.default} is not one of its variants",
                suggestions=[str(v) for v in self.variants],
            )
        object.__setattr__(self, "variants", tuple(sorted(set(self.variants))))

    @property
    def memory_sizes(self) -> tuple[int, ...]:
        """The distinct memory sizes of the family, in GB, ascending."""
        return tuple(sorted({v.memory_gb for v in self.variants}))


@dataclass(frozen=True)
class InstanceType:
    """A machine shape: how many GPUs of which kind, and the host around them.

    Two instance types with the same :attr:`name` are the same shape; providers may still put
    different hosts around it (``vcpus``, ``ram_gb``, ``disk_gb``), which is why the catalog
    matches instance types by name.

    :ivar gpu: canonical lowercase GPU model (``"a100"``, ``"h100"``, ``"l40s"``, ``"rtx4090"``).
    :ivar gpu_count: GPUs in one instance, 1 to 64.
    :ivar gpu_memory_gb: memory of **one** GPU, in GB.
    :ivar interconnect: ``"sxm"``, ``"pcie"``, ``"nvl"``; None when the provider does not say.
    :ivar vcpus: host vCPUs, when known.
    :ivar ram_gb: host memory in GB, when known.
    :ivar disk_gb: local disk in GB (boot plus local scratch, as the provider lists it).
    """

    gpu: str
    gpu_count: int
    gpu_memory_gb: int
    interconnect: str | None = None
    vcpus: int | None = None
    ram_gb: int | None = None
    disk_gb: int | None = None

    def __post_init__(self) -> None:
        _check_word("gpu", self.gpu)
        _check_int("gpu_count", self.gpu_count, 1, MAX_GPU_COUNT)
        _check_int("gpu_memory_gb", self.gpu_memory_gb, 1, MAX_GPU_MEMORY_GB)
        if self.interconnect is not None:
            _check_word("interconnect", self.interconnect)
        _check_int("vcpus", self.vcpus, 1)
        _check_int("ram_gb", self.ram_gb, 1)
        _check_int("disk_gb", self.disk_gb, 0)

    @property
    def name(self) -> str:
        """The canonical name, ``{gpu}-{memory}gb.{interconnect}.{count}x``: ``a100-80gb.sxm.1x``.

        Without a known interconnect the segment is left out: ``a100-80gb.1x``. Every name parses
        back (:func:`~flowlib.catalog.parse_instance_type`) to this instance type's shape.
        """
        link = f".{self.interconnect}" if self.interconnect else ""
        return f"{self.gpu}-{self.gpu_memory_gb}gb{link}.{self.gpu_count}x"

    @property
    def total_gpu_memory_gb(self) -> int:
        """GPU memory of the whole instance: ``gpu_count * gpu_memory_gb``."""
        return self.gpu_count * self.gpu_memory_gb

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Offer:
    """One provider selling one instance type (in one region, spot or on demand).

    :ivar provider: the provider's flowlib name, lowercase (``"fcp"``, ``"hyperstack"``).
    :ivar instance_type: the shape sold, with this provider's host specs.
    :ivar provider_type_id: the provider's own id for it, what its API takes: an FCP FID
        (``"it_MsIRhxj3ccyVWGfP"``), a Hyperstack flavor name (``"n3-A100x1"``).
    :ivar price_per_hour: indicative price of one instance, US dollars per hour; None when unknown.
        Bundled prices are a snapshot; spot prices move.
    :ivar region: where it is sold; None when the catalog does not say.
    :ivar spot: True for spot/auction capacity that can be preempted.
    :ivar available: instances that can be started now, when the provider said; None: unknown.
    """

    provider: str
    instance_type: InstanceType
    provider_type_id: str
    price_per_hour: float | None = None
    region: str | None = None
    spot: bool = False
    available: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.provider, str) or not _PROVIDER.fullmatch(self.provider):
            raise ValidationError(
                f"provider must be a lowercase name like 'fcp', got {self.provider!r}"
            )
        if not isinstance(self.instance_type, InstanceType):
            raise ValidationError(
                f"instance_type must be an InstanceType, got {self.instance_type!r}"
            )
        if not isinstance(self.provider_type_id, str) or not self.provider_type_id.strip():
            raise ValidationError(f"{self.provider}: provider_type_id must be a non-empty string")
        price = self.price_per_hour
        if price is not None and (
            isinstance(price, bool)
            or not isinstance(price, (int, float))
            or not math.isfinite(price)
            or price < 0
        ):
            raise ValidationError(
                f"{self.provider} {self.provider_type_id}: price_per_hour must be a "
                f"non-negative number of dollars, got {price!r}"
            )
        if self.region is not None and (not isinstance(self.region, str) or not self.region):
            raise ValidationError(f"{self.provider}: region must be a non-empty string or None")
        if not isinstance(self.spot, bool):
            raise ValidationError(f"{self.provider}: spot must be True or False, got {self.spot!r}")
        _check_int("available", self.available, 0)

    @property
    def name(self) -> str:
        """The instance type's canonical name (``a100-80gb.sxm.1x``)."""
        return self.instance_type.name

    def to_dict(self) -> OfferJson:
        """The offer as JSON-ready data (``flow catalog --json``, plans, the live cache)."""
        t = self.instance_type
        return {
            "instance_type": self.name,
            "gpu": t.gpu,
            "gpu_count": t.gpu_count,
            "gpu_memory_gb": t.gpu_memory_gb,
            "interconnect": t.interconnect,
            "vcpus": t.vcpus,
            "ram_gb": t.ram_gb,
            "disk_gb": t.disk_gb,
            "provider": self.provider,
            "provider_type_id": self.provider_type_id,
            "price_per_hour": self.price_per_hour,
            "region": self.region,
            "spot": self.spot,
            "available": self.available,
        }
