"""The instance catalog: what ``"8xh100"`` means, and who rents it out at what price.

>>> from flowlib.catalog import parse_instance_type, resolve_instance_type, find_instances
>>> parse_instance_type("8xh100")
InstanceRequest(gpu='h100', count=8, memory_gb=None, interconnect=None, fid=None, text='8xh100')
>>> resolve_instance_type("h100").name        # 1 GPU; no 1-GPU SXM H100 is sold, so PCIe
'h100-80gb.pcie.1x'
>>> [o.provider_type_id for o in find_instances(instance_type="a100", provider="fcp")]
['it_MsIRhxj3ccyVWGfP', 'it_MsIRhxj3ccyVWGfP']

Three steps, each usable alone:

- :func:`parse_instance_type` reads any accepted spelling (``a100``, ``8xh100``, ``h100:8``,
  ``NVIDIA A100``, ``a100-80gb.sxm.2x``, an FCP FID) into an :class:`InstanceRequest`. Pure: no
  data needed. Spelling variants live in :data:`GPU_ALIASES`.
- :meth:`Catalog.resolve` turns it into the one :class:`InstanceType` it means, or explains what
  exists instead.
- :meth:`Catalog.find_instances` lists the :class:`Offer` objects matching filters, cheapest
  first.

The bundled data (``data.json``: GPU specs and indicative prices of ``fcp``, ``hyperstack`` and
common ``market`` GPUs) is read on the first call of :func:`get_catalog`, never at import.
Provider plugins refresh their rows with :meth:`Catalog.replace_offers`.

:func:`plan_offers` turns a task's :class:`~flowlib.models.Requirements` into a priced
:class:`Plan` (the chosen offer, the others that fit, the nearest that do not and why);
:class:`LiveCatalog` keeps what ``flow catalog --refresh`` fetched under FLOW_HOME, and
:func:`planning_catalog` plans against it while it is fresh.
"""

from __future__ import annotations

from flowlib.catalog._aliases import GPU_ALIASES
from flowlib.catalog._catalog import Catalog, find_instances, get_catalog, resolve_instance_type
from flowlib.catalog._live import LiveCatalog, planning_catalog
from flowlib.catalog._parse import InstanceRequest, parse_instance_type
from flowlib.catalog._plan import Plan, Rejection, plan_offers
from flowlib.catalog._types import GpuSpec, GpuVariant, InstanceType, Offer

__all__ = [
    "GPU_ALIASES",
    "Catalog",
    "GpuSpec",
    "GpuVariant",
    "InstanceRequest",
    "InstanceType",
    "LiveCatalog",
    "Offer",
    "Plan",
    "Rejection",
    "find_instances",
    "get_catalog",
    "parse_instance_type",
    "plan_offers",
    "planning_catalog",
    "resolve_instance_type",
]
