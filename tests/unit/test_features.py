"""Capabilities as data: one table from TaskConfig fields to features, checked before any call."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from flowlib import Flow
from flowlib._features import FIELD_NEEDS, NEEDS_NOTHING, check_features, wanted_features
from flowlib.errors import UnsupportedError
from flowlib.models import TaskConfig
from flowlib.providers.base import Capabilities, Feature, ProviderSpec

SRC = Path(__file__).parents[2] / "src" / "flowlib"

# One value per field of FIELD_NEEDS that asks for the field's features.
ASKING = {
    "instance_type": "8xa100",
    "min_gpu_memory_gb": 40,
    "gpu_count": 4,
    "spot": True,
    "num_instances": 2,
    "volumes": [{"name": "models", "size_gb": 10}],
    "data_mounts": [
        {"source": "volume://models", "target": "/models"},
        {"source": "s3://bucket/data", "target": "/data"},
    ],
    "outputs": {"/results": "s3://bucket/run1"},
    "image": "python:3.12",
    "ssh_keys": ["my-key"],
    "instance_name": "box",
    "max_price_per_hour": 1.0,
    "region": "us-east-1",
    "retries": 2,
}


class _Refusing:
    """A provider that cannot do ``unsupported``; it fails the test if anything is created."""

    def __init__(self, name: str, unsupported: dict[Feature, str]) -> None:
        self.name = name
        self.capabilities = Capabilities(unsupported)

    def prepare(self, config: TaskConfig) -> TaskConfig:
        raise AssertionError("prepare was called after a capability was missing")

    def submit(self, record: Any) -> dict[str, Any]:
        raise AssertionError("submit was called after a capability was missing")


def test_every_field_is_mapped_or_needs_nothing() -> None:
    fields = set(TaskConfig.model_fields)
    assert not set(FIELD_NEEDS) & NEEDS_NOTHING
    assert set(FIELD_NEEDS) | NEEDS_NOTHING == fields, (
        "a TaskConfig field is neither in FIELD_NEEDS nor in NEEDS_NOTHING (flowlib/_features.py)"
    )


def test_every_feature_is_reachable_from_some_field() -> None:
    reachable = {need.feature for needs in FIELD_NEEDS.values() for need in needs}
    assert reachable == set(Feature)


@pytest.mark.parametrize("field", sorted(FIELD_NEEDS))
def test_each_field_asks_for_its_features_only_when_set(field: str) -> None:
    assert wanted_features(TaskConfig(command=["true"])) == []
    config = TaskConfig(command=["true"], **{field: ASKING[field]})
    asked = {need.feature for need in FIELD_NEEDS[field]}
    assert asked <= set(wanted_features(config))


def test_an_instance_type_asks_for_a_gpu_only_when_it_names_one() -> None:
    def gpu(instance_type: str) -> bool:
        config = TaskConfig(command=["x"], instance_type=instance_type)
        return Feature.GPU in wanted_features(config)

    assert gpu("a100") and gpu("8xh100") and gpu("h100:8")
    assert not gpu("cpu") and not gpu("debug") and not gpu("it_MsIRhxj3ccyVWGfP")


def test_every_missing_feature_is_reported_at_once_with_what_to_do() -> None:
    everything = {f: f"no {f} here" for f in Feature}
    config = TaskConfig(
        command=["true"],
        **{k: v for k, v in ASKING.items() if k != "min_gpu_memory_gb"},
    )
    specs = {
        "cheap": ProviderSpec("cheap", _no_factory),
        "clusterish": ProviderSpec(
            "clusterish", _no_factory, unsupported={Feature.MAX_PRICE: "not billed"}
        ),
    }
    with pytest.raises(UnsupportedError) as caught:
        check_features(_Refusing("nowhere", everything), config, specs)  # type: ignore[arg-type]
    error = caught.value
    assert sorted(error.context["unsupported"]) == sorted(str(f) for f in Feature)
    for feature in Feature:
        assert f"no {feature} here" in error.message
    assert "max_price_per_hour (--max-price) needs max_price" in error.message
    tips = "\n".join(error.suggestions)
    assert "nowhere has no max_price: drop max_price_per_hour (--max-price) or use cheap" in tips
    assert "has no gpu: drop instance_type (-i/--instance-type) or use cheap or clusterish" in tips
    assert "providers that can do all of it: cheap" in tips


def test_what_a_provider_can_do_passes() -> None:
    config = TaskConfig(command=["true"], max_price_per_hour=2.0, region="r")
    check_features(_Refusing("fine", {Feature.SPOT: "no"}), config, {})  # type: ignore[arg-type]


def test_capabilities_take_names_and_refuse_unknown_ones() -> None:
    caps = Capabilities({"ssh": "no sshd"})
    assert not caps.supports(Feature.SSH) and not caps.supports("ssh")
    assert caps.missing(["ssh", Feature.GPU]) == {Feature.SSH: "no sshd"}
    with pytest.raises(ValueError):
        Capabilities({"shh": "typo"})


# -- through the engine and the CLI --------------------------------------------------------


class _Plugin:
    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    from flowlib.hookspecs import hookimpl

    @hookimpl
    def flowlib_providers(self) -> list[ProviderSpec]:
        return [self.spec]


def _no_factory(context: Any) -> Any:
    raise AssertionError("not built")


@pytest.fixture
def cpu_only_flow(tmp_path: Path) -> Iterator[Flow]:
    """A Flow whose only provider is a third-party one without GPUs."""
    import pluggy

    from flowlib import hookspecs
    from flowlib.core.store import TaskStore
    from flowlib.providers import Registry

    refusing = _Refusing("cpuonly", {Feature.GPU: "cpuonly rents CPU machines only"})
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_Plugin(ProviderSpec("cpuonly", lambda context: refusing)), name="cpuonly")
    store = TaskStore(tmp_path / "tasks.db")
    with Flow(provider="cpuonly", store=store, registry=Registry(pm)) as flow:
        yield flow


def test_a_provider_without_gpus_refuses_a_gpu_task(cpu_only_flow: Flow) -> None:
    with pytest.raises(UnsupportedError, match="cpuonly rents CPU machines only"):
        cpu_only_flow.run("python train.py", instance_type="a100")
    assert cpu_only_flow.store.list() == []  # nothing recorded, nothing created


def test_flow_run_on_slurm_with_a_max_price_is_refused(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    from flowlib.cli import main

    assert main(["run", "--provider", "slurm", "--max-price", "1", "echo", "hi"]) == 14
    err = capsys.readouterr().err
    assert "a SLURM cluster does not bill per hour" in err
    assert "provider slurm has no max_price: drop max_price_per_hour (--max-price) or use" in err
    assert "fcp" in err


# -- provider names stay in the registry ---------------------------------------------------

_NAME_TEST = re.compile(r"""[!=]=\s*["'](local|fcp|hyperstack|slurm)["']""")
# Code about one provider's own settings may name it (not a trait any provider could have).
_ALLOWED = {
    ("cli/_options.py", 'config.provider != "local"'),  # --governor: the local provider's section
}


def _engine_files() -> Sequence[Path]:
    skip = {"providers", "testing"}
    return [p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] not in skip]


def test_engine_and_cli_code_never_test_a_provider_name() -> None:
    found = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in _engine_files()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _NAME_TEST.search(line)
        and not any(
            str(path.relative_to(SRC)) == where and snippet in line for where, snippet in _ALLOWED
        )
    ]
    assert not found, "use a trait of the provider's spec instead:\n" + "\n".join(found)


def test_the_local_spec_says_it_runs_here() -> None:
    from flowlib.providers import get_registry

    specs = get_registry().specs()
    assert specs["local"].runs_here
    assert not any(spec.runs_here for name, spec in specs.items() if name != "local")
    assert Feature.MAX_PRICE in specs["slurm"].unsupported
