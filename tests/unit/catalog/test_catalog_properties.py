"""Whatever the text, parsing and resolving either succeed or raise a FlowError: never a crash."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flowlib.catalog import GPU_ALIASES, Catalog, parse_instance_type
from flowlib.errors import FlowError

PIECES = [
    *GPU_ALIASES,
    "nvidia", "NVIDIA ", "gpu", "tesla", "rtx",
    "x", "X", "*", ":", "-", ".", "_", " ", "gb", "g",
    "sxm", "sxm4", "pcie", "nvl", "nvlink",
    "0", "1", "2", "8", "64", "65", "80", "-1", "1x", "8x", "80gb", "²", "٣",
    "it_", "n3-", "MsIRhxj3ccyVWGfP",
]  # fmt: skip

# Text built from the words instance types are made of, in any order.
grammarish = st.lists(
    st.one_of(st.sampled_from(PIECES), st.integers(-5, 5000).map(str)), max_size=8
).map("".join)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def parse_or_flow_error(text: str) -> None:
    try:
        request = parse_instance_type(text)
    except FlowError as exc:
        assert exc.message
        return
    # A successful parse is a complete request.
    assert request.fid is not None or request.gpu in GPU_ALIASES.values()
    assert request.count is None or 1 <= request.count <= 64


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_any_text(text: str) -> None:
    parse_or_flow_error(text)


@settings(max_examples=500, deadline=None)
@given(grammarish)
@example("a100x8x8")
@example("8x" * 60)
@example("4090x" * 20)
def test_parse_grammarish_text(text: str) -> None:
    parse_or_flow_error(text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(st.text(max_size=30), grammarish),
    provider=st.sampled_from([None, "fcp", "hyperstack", "market", "local"]),
)
def test_resolve_any_text(catalog: Catalog, text: str, provider: str | None) -> None:
    try:
        resolved = catalog.resolve(text, provider=provider)
    except FlowError as exc:
        for suggestion in exc.suggestions:
            assert isinstance(suggestion, str) and suggestion
        return
    assert resolved.name in {t.name for t in catalog.instance_types(provider)}


@settings(max_examples=200, deadline=None)
@given(grammarish)
def test_a_parsed_spelling_parses_back_to_itself(text: str) -> None:
    try:
        request = parse_instance_type(text)
    except FlowError:
        return
    again = parse_instance_type(request.spelling)
    assert (again.gpu, again.count, again.memory_gb, again.interconnect, again.fid) == (
        request.gpu,
        request.count,
        request.memory_gb,
        request.interconnect,
        request.fid,
    )
