"""The hyperstack provider passes the shared conformance suite against the emulator over
loopback HTTP: VMs really run their user_data, logs and exit codes are read from their disks."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import ACCESS_KEY, REGION, S3, SECRET_KEY

from flowlib import Flow
from flowlib.models import TaskStatus
from flowlib.providers.base import Feature
from flowlib.testing.conformance import ProviderConformance
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Timing


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(timing=Timing.instant(), workdir=tmp_path / "cloud") as emu:
        emu.start()
        yield emu


def hyperstack_flow(emu: HyperstackEmulator, **extra: object) -> Flow:
    section = emu.provider_settings(**extra)
    return Flow(provider="hyperstack", providers={"hyperstack": section})


class TestHyperstackProvider(ProviderConformance):
    wait_timeout = 30.0

    @pytest.fixture
    def flow(
        self, project: Path, isolated_home: Path, emulator: HyperstackEmulator
    ) -> Iterator[Flow]:
        flow = hyperstack_flow(emulator)
        yield flow
        flow.close()
        assert emulator.errors == []
        # Every task's VM is released: finished ones by auto_terminate, others by cancel.
        assert emulator.wait_until(lambda: emulator.vm_count() == 0, timeout=5)

    def test_data_mounts_and_volumes_are_supported(self, flow: Flow) -> None:
        missing = flow.provider().capabilities.missing(
            [Feature.DATA_MOUNTS, Feature.VOLUMES, Feature.VOLUME_MOUNTS]
        )
        assert missing == {}

    def test_s3_data_is_staged_and_outputs_are_synced(self, flow: Flow, s3: S3) -> None:
        pytest.importorskip("s3fs", reason="S3 data needs flowlib[s3]")
        s3.put("in/x.txt", "staged")
        task = flow.run(
            'cat "$FLOW_ROOT/data/x.txt"; echo out > "$FLOW_ROOT/results/r.txt"',
            data=f"s3://{s3.bucket}/in",
            outputs={"/results": f"s3://{s3.bucket}/out"},
            env={
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": REGION,
            },
            upload_code=False,
        )
        done = flow.wait(task.task_id, timeout=self.wait_timeout)
        assert done.status == TaskStatus.COMPLETED, done.message
        assert flow.logs(task.task_id) == "staged"
        assert s3.get("out/r.txt") == b"out\n"


def test_the_dry_run_script_is_the_user_data_the_vm_was_created_with(
    project: Path, isolated_home: Path, emulator: HyperstackEmulator
) -> None:
    from flowlib.core.packaging import package_directory
    from flowlib.providers.base import MASK, ScriptPreview

    with hyperstack_flow(emulator) as flow:
        task = flow.run("echo previewed", env={"TOKEN": "s3cret"})
        assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
        provider = flow.provider()
        assert isinstance(provider, ScriptPreview)
        preview = provider.preview_script(flow.store.get(task.task_id), package_directory(project))
    (vm,) = emulator.state.vms.values()
    key = emulator.api_key
    # the same render, but for the key the VM releases itself with, which a preview never shows
    assert key not in preview and MASK in preview
    shown = preview.replace(shlex.quote(MASK), MASK)
    assert shown == (vm.user_data or "").replace(key, MASK)
