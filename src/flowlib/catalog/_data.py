"""The catalog's data format, and the bundled ``data.json``.

Imported on first use only (it needs pydantic and the package's data file). The format::

    {"schema_version": 1, "as_of": "2025-07-02", "about": "...",
     "gpus": [{"model": "a100", "display_name": "NVIDIA A100",
               "variants": ["40gb.sxm", "80gb.sxm", ...], "default": "80gb.sxm"}, ...],
     "providers": {"fcp": {"about": "...", "spot": true, "instance_types": [
         {"id": "it_MsIRhxj3ccyVWGfP", "name": "a100-80gb.sxm.1x", "vcpus": 24, "ram_gb": 224,
          "disk_gb": 950, "price_per_hour": 1.8, "regions": ["us-central1-a"]}, ...]}}}

A row's GPU shape comes from its canonical ``name`` alone (``{gpu}-{memory}gb.{interconnect}.
{count}x``), so the shape and the name cannot disagree. A row with several ``regions`` is one
offer per region; no ``regions`` is one offer with an unknown region.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict

from flowlib.catalog._types import GpuSpec, GpuVariant, InstanceType, Offer
from flowlib.errors import FlowError, ValidationError

__all__ = ["parse_data", "read_bundled"]

_NAME = re.compile(r"([a-z0-9]+)-([0-9]+)gb(?:\.([a-z0-9]+))?\.([0-9]+)x", re.ASCII)
_VARIANT = re.compile(r"([0-9]+)gb\.([a-z0-9]+)", re.ASCII)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _GpuRow(_Row):
    model: str
    display_name: str
    variants: list[str]
    default: str


class _TypeRow(_Row):
    id: str
    name: str
    vcpus: int | None = None
    ram_gb: int | None = None
    disk_gb: int | None = None
    price_per_hour: float | None = None
    regions: list[str] = []
    available: int | None = None


class _ProviderBlock(_Row):
    about: str = ""
    spot: bool
    instance_types: list[_TypeRow]


class _DataFile(_Row):
    schema_version: Literal[1]
    as_of: str
    about: str = ""
    gpus: list[_GpuRow]
    providers: dict[str, _ProviderBlock]


def read_bundled() -> dict[str, Any]:
    """The bundled ``data.json`` of ``flowlib.catalog``, as JSON data."""
    from importlib.resources import files

    text = files("flowlib.catalog").joinpath("data.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def parse_data(data: Mapping[str, object]) -> tuple[list[GpuSpec], list[Offer]]:
    """GPU specs and offers from catalog data in the format above.

    :raises ValidationError: naming the first row that cannot be right.
    """
    try:
        parsed = _DataFile.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ValidationError(
            "catalog data: " + "; ".join(problems),
            suggestions=["see the format in the docstring of flowlib.catalog._data"],
        ) from None
    gpus = [_gpu(row) for row in parsed.gpus]
    offers: list[Offer] = []
    for provider, block in parsed.providers.items():
        for index, row in enumerate(block.instance_types):
            where = f"catalog data: providers.{provider}.instance_types[{index}] ({row.id})"
            try:
                offers.extend(_offers(provider, block.spot, row))
            except FlowError as exc:
                raise ValidationError(
                    f"{where}: {exc.message}", suggestions=exc.suggestions
                ) from None
    return gpus, offers


def _gpu(row: _GpuRow) -> GpuSpec:
    try:
        return GpuSpec(
            model=row.model,
            display_name=row.display_name,
            variants=tuple(_variant(v) for v in row.variants),
            default=_variant(row.default),
        )
    except FlowError as exc:
        raise ValidationError(
            f"catalog data: gpus[{row.model}]: {exc.message}", suggestions=exc.suggestions
        ) from None


def _variant(text: str) -> GpuVariant:
    match = _VARIANT.fullmatch(text)
    if match is None:
        raise ValidationError(
            f"variant {text!r} is not '<memory>gb.<interconnect>'", suggestions=["80gb.sxm"]
        )
    return GpuVariant(int(match.group(1)), match.group(2))


def _offers(provider: str, spot: bool, row: _TypeRow) -> list[Offer]:
    match = _NAME.fullmatch(row.name)
    if match is None:
        raise ValidationError(
            f"name {row.name!r} is not '{{gpu}}-{{memory}}gb.{{interconnect}}.{{count}}x'",
            suggestions=["a100-80gb.sxm.1x"],
        )
    gpu, memory, link, count = match.groups()
    shape = InstanceType(
        gpu=gpu,
        gpu_count=int(count),
        gpu_memory_gb=int(memory),
        interconnect=link,
        vcpus=row.vcpus,
        ram_gb=row.ram_gb,
        disk_gb=row.disk_gb,
    )
    if shape.name != row.name:  # e.g. '01x' or '080gb'
        raise ValidationError(f"name {row.name!r} is not canonical", suggestions=[shape.name])
    regions: list[str | None] = list(row.regions) or [None]
    return [
        Offer(
            provider=provider,
            instance_type=shape,
            provider_type_id=row.id,
            price_per_hour=row.price_per_hour,
            region=region,
            spot=spot,
            available=row.available,
        )
        for region in regions
    ]
