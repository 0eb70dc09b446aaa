"""How people may write an instance type, and what they get told when they cannot.

`parse_instance_type` only reads the text; whether such a machine exists is `Catalog.resolve`'s
business (see test_catalog_resolve.py).
"""

from __future__ import annotations

import re

import pytest

from flowlib.catalog import GPU_ALIASES, InstanceRequest, parse_instance_type
from flowlib.catalog._aliases import INTERCONNECT_ALIASES, VENDOR_PREFIXES
from flowlib.errors import FlowError, ValidationError

# text -> (gpu, count, memory_gb, interconnect)
ACCEPTED: dict[str, tuple[str, int | None, int | None, str | None]] = {
    # the reference's formats
    "a100": ("a100", None, None, None),
    "h100": ("h100", None, None, None),
    "1xa100": ("a100", 1, None, None),
    "2xa100": ("a100", 2, None, None),
    "4xa100": ("a100", 4, None, None),
    "8xa100": ("a100", 8, None, None),
    "8xh100": ("h100", 8, None, None),
    "a100-80gb.sxm.1x": ("a100", 1, 80, "sxm"),
    "a100-80gb.sxm.2x": ("a100", 2, 80, "sxm"),  # the reference's open bug
    "a100-80gb.sxm.8x": ("a100", 8, 80, "sxm"),
    "h100-80gb.sxm.8x": ("h100", 8, 80, "sxm"),
    "h100-80gb.pcie.1x": ("h100", 1, 80, "pcie"),
    # case, whitespace and count spellings
    "A100": ("a100", None, None, None),
    "  h100\t": ("h100", None, None, None),
    "8XH100": ("h100", 8, None, None),
    "h100:8": ("h100", 8, None, None),
    "H100 : 8": ("h100", 8, None, None),
    "8x h100": ("h100", 8, None, None),
    "8 x h100": ("h100", 8, None, None),
    "h100 8x": ("h100", 8, None, None),
    "h200.8x": ("h200", 8, None, None),
    # vendor prefixes and vendor spellings
    "nvidia-a100": ("a100", None, None, None),
    "NVIDIA A100": ("a100", None, None, None),
    "nvidia_h100": ("h100", None, None, None),
    "NVIDIA A100-SXM4-80GB": ("a100", None, 80, "sxm"),
    "Tesla T4": ("t4", None, None, None),
    "Tesla V100-SXM2-16GB": ("v100", None, 16, "sxm"),
    "NVIDIA GeForce RTX 4090": ("rtx4090", None, None, None),
    "2x NVIDIA L40S": ("l40s", 2, None, None),
    # partial variants
    "H100-80GB": ("h100", None, 80, None),
    "a100-40gb": ("a100", None, 40, None),
    "a100-80g": ("a100", None, 80, None),
    "a100 80gb": ("a100", None, 80, None),
    "h100.sxm": ("h100", None, None, "sxm"),
    "h100-pcie": ("h100", None, None, "pcie"),
    "8xa100-80gb.sxm": ("a100", 8, 80, "sxm"),
    "h100-94gb.nvl.1x": ("h100", 1, 94, "nvl"),
    # spelling variants from the alias table
    "a6000": ("a6000", None, None, None),
    "rtxa6000": ("a6000", None, None, None),
    "rtx-a6000": ("a6000", None, None, None),
    "RTX A6000": ("a6000", None, None, None),
    "rtx4090": ("rtx4090", None, None, None),
    "rtx-4090": ("rtx4090", None, None, None),
    "4090": ("rtx4090", None, None, None),
    "8x4090": ("rtx4090", 8, None, None),
    "l4": ("l4", None, None, None),
    "l40": ("l40", None, None, None),
    "a10g": ("a10g", None, None, None),
}


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_spellings(text: str) -> None:
    request = parse_instance_type(text)
    assert (request.gpu, request.count, request.memory_gb, request.interconnect) == ACCEPTED[text]
    assert request.fid is None
    assert request.text == text


@pytest.mark.parametrize(
    "fid", ["it_MsIRhxj3ccyVWGfP", "it_5ECSoHQjLBzrp5YM", "n3-A100x1", "n3-RTX-A6000x8"]
)
def test_a_provider_id_is_kept_verbatim_and_nothing_else_is_set(fid: str) -> None:
    assert parse_instance_type(f" {fid} ") == InstanceRequest(fid=fid, text=f" {fid} ")


# text -> the spelling the error must suggest
REJECTED: dict[str, str] = {
    # the count goes first
    "a100x8": "8xa100",
    "a100*8": "8xa100",
    "a100 x 8": "8xa100",
    "A100X2": "2xa100",
    "4090x2": "2xrtx4090",
    "a100-80gb.sxm x 8": "a100-80gb.sxm.8x",
    "8 h100": "8xh100",
    # prefixes that are not vendors
    "gpu.nvidia.a100": "a100",
    # near misses
    "a10o": "a100",
    "h10": "h100",
    "a100-80gb.sxm.foo": "a100-80gb.sxm",
    "a10o-80gb.sxm.1x": "a100-80gb.sxm.1x",
    # impossible counts
    "0xa100": "1xa100",
    "-1xa100": "1xa100",
    "-2 x h100": "1xh100",
    "h100:0": "1xh100",
    "h100:-2": "1xh100",
    "65xa100": "8xa100",
    "1000xh100": "8xh100",
    # said twice
    "8xa100.8x": "8xa100",
    "2xa100-80gb.sxm.8x": "a100-80gb.sxm.8x",
    # impossible memory
    "a100-0gb": "a100",
}


@pytest.mark.parametrize("text", REJECTED)
def test_rejected_spellings_suggest_the_closest_valid_one(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_instance_type(text)
    fix = REJECTED[text]
    if "is not a GPU model" in caught.value.message:  # the best guess in the message, others hinted
        assert fix in " ".join([caught.value.message, *caught.value.suggestions])
    else:
        assert fix in caught.value.suggestions
        assert f"'{fix}'" in caught.value.message  # "did you mean '8xa100'?"
    parse_instance_type(fix)  # and the suggestion itself parses


def test_a_near_miss_model_is_one_message_with_the_best_guess() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_instance_type("a1000")
    assert caught.value.message == (
        "'a1000' is not a GPU model flowlib knows; did you mean 'a100'?"
    )
    assert caught.value.suggestions == [
        "also close: a6000, a10",
        "`flow catalog` lists every instance type you can ask for",
    ]


@pytest.mark.parametrize("text", ["z900", "!!!", "nvidia", "gpu"])
def test_an_unknown_gpu_lists_every_known_model(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_instance_type(text)
    assert caught.value.suggestions == ["`flow catalog` lists every instance type you can ask for"]
    assert "known GPU models: a10, a100" in caught.value.message


@pytest.mark.parametrize(
    "text", ["", "   ", "\n", "80gb", "sxm", "8x", "it_", "it_abc!", "a100-80gb-40gb", "x" * 101]
)
def test_text_without_a_gpu_is_rejected_with_examples(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_instance_type(text)
    assert caught.value.suggestions
    import re

    for suggestion in caught.value.suggestions:  # every spelling it suggests is one that works
        for spelling in re.findall(r"'([^']+)'", suggestion):
            parse_instance_type(spelling)


def test_a_non_string_is_a_flow_error_not_a_type_error() -> None:
    with pytest.raises(ValidationError):
        parse_instance_type(8)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_canonical_spelling_parses_back_to_the_same_request(text: str) -> None:
    request = parse_instance_type(text)
    again = parse_instance_type(request.spelling)
    assert (again.gpu, again.count, again.memory_gb, again.interconnect) == (
        request.gpu,
        request.count,
        request.memory_gb,
        request.interconnect,
    )


def test_spelling_examples() -> None:
    assert parse_instance_type("8 x H100").spelling == "8xh100"
    assert parse_instance_type("NVIDIA A100-SXM4-80GB").spelling == "a100-80gb.sxm"
    assert parse_instance_type("h100:8").spelling == "8xh100"
    assert parse_instance_type("it_MsIRhxj3ccyVWGfP").spelling == "it_MsIRhxj3ccyVWGfP"


@pytest.mark.parametrize("alias", GPU_ALIASES)
def test_every_alias_parses_to_its_model_alone_and_with_a_vendor(alias: str) -> None:
    model = GPU_ALIASES[alias]
    assert parse_instance_type(alias).gpu == model
    assert parse_instance_type(f"nvidia {alias}").gpu == model
    assert parse_instance_type(f"2x{alias}").count == 2


def test_alias_keys_are_lowercase_dash_joined_and_models_are_their_own_alias() -> None:
    for alias, model in GPU_ALIASES.items():
        assert alias == alias.lower().strip() and " " not in alias and "_" not in alias
        assert GPU_ALIASES[model] == model
    assert all(v == v.lower() for v in VENDOR_PREFIXES)
    assert set(INTERCONNECT_ALIASES.values()) == {"sxm", "pcie", "nvl"}


def test_errors_are_flow_errors_the_cli_can_print() -> None:
    with pytest.raises(FlowError) as caught:
        parse_instance_type("a100x8")
    assert "did you mean '8xa100'?" in str(caught.value)
    assert caught.value.exit_code == 2


# Characters str.isdigit()/isnumeric() accept but int() refuses ('²', '①', '½'), and decimal
# digits of other scripts ('٣'), which int() reads but no instance type is written with.
UNICODE_DIGITS = ["²", "³", "¹", "①", "½", "٣", "८", "\N{FULLWIDTH DIGIT ONE}"]


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
@pytest.mark.parametrize(
    "shape", ["{}_4090", "{} h100", "{}", "{}xh100", "h100:{}", "a100-{}gb", "h100.{}x", "a100x{}"]
)
def test_unicode_digits_are_a_validation_error_not_a_crash(shape: str, digit: str) -> None:
    text = shape.format(digit)
    with pytest.raises(ValidationError) as caught:
        parse_instance_type(text)
    assert caught.value.suggestions
    for suggestion in caught.value.suggestions:  # every spelling it suggests is one that works
        for spelling in re.findall(r"'([^']+)'", suggestion):
            parse_instance_type(spelling)
