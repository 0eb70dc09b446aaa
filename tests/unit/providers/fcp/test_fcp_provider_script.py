"""The startup script of an FCP bid: within 10,000 characters, the release key kept secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowlib.core.packaging import package_directory
from flowlib.data import VolumeMount
from flowlib.errors import ConfigError
from flowlib.models import TaskConfig
from flowlib.providers.fcp._script import MAX_SCRIPT, ReleaseKey, render, volume_device
from flowlib.providers.fcp._settings import FcpSettings
from flowlib.testing.emulators import SANDBOX_HOSTS

SECRET = "fkey_" + "R" * 30
KEY = ReleaseKey("http://127.0.0.1:1", "proj_x", "train-abc", "apikey_1", SECRET)


def code_dir(tmp_path: Path, random_bytes: int) -> Path:
    root = tmp_path / "code"
    root.mkdir()
    (root / "train.py").write_text("print('hi')\n")
    if random_bytes:
        (root / "weights.bin").write_bytes(os.urandom(random_bytes))
    return root


@pytest.mark.parametrize(
    ("random_bytes", "script_lines", "mode"),
    [(0, 0, "inline"), (0, 800, "compressed"), (40_000, 0, "upload")],
)
def test_the_script_fits_fcp_whatever_the_code_size(
    tmp_path: Path, random_bytes: int, script_lines: int, mode: str
) -> None:
    archive = package_directory(code_dir(tmp_path, random_bytes))
    workload = "#!/bin/bash\n" + "echo step\n" * script_lines if script_lines else None
    config = TaskConfig(script=workload) if workload else TaskConfig(command=["python", "t.py"])
    script = render("task-1", config, archive=archive, release=KEY, exit_grace_s=60)
    assert script.mode == mode
    assert script.text.startswith("#!/bin/bash")
    assert len(script.text) <= MAX_SCRIPT


def test_the_release_key_goes_to_a_private_file_never_to_the_environment() -> None:
    script = render("task-1", TaskConfig(command=["true"]), archive=None, release=KEY,
                    exit_grace_s=60).text  # fmt: skip
    assert script.count(SECRET) == 1
    line = next(x for x in script.splitlines() if SECRET in x)
    assert "umask 077" in line and '> "$hdr"' in line and "export" not in line
    assert 'hdr="$FLOW_LIB/release.header"' in script
    assert '-H @"$hdr"' in script  # curl reads the header from the file: not on a command line
    assert "apikey_1" in script  # the key revokes itself after the release


def test_without_auto_terminate_no_key_is_in_the_script() -> None:
    config = TaskConfig(command=["true"], auto_terminate=False)
    script = render("task-1", config, archive=None, release=None, exit_grace_s=60).text
    assert "flow_release" not in script and "fkey_" not in script


def test_a_multi_node_script_waits_for_its_rank() -> None:
    script = render("t", TaskConfig(command=["true"], num_instances=2), archive=None,
                    release=None, exit_grace_s=0).text  # fmt: skip
    assert "var/lib/flow/cluster.env" in script


def test_a_multi_node_script_derives_the_torchrun_contract_from_what_the_provider_writes() -> None:
    script = render("t", TaskConfig(command=["true"], num_instances=2), archive=None,
                    release=None, exit_grace_s=0, gpus_per_node=8).text  # fmt: skip
    sourced = script.index('. "$FLOW_ROOT/var/lib/flow/cluster.env"')
    contract = script.index('MASTER_ADDR="$FLOW_MAIN_IP"')
    assert sourced < contract < script.index("# the workload")
    assert 'export FLOW_NODE_RANK="$FLOW_NODE_RANK"' in script
    assert "export FLOW_GPUS_PER_NODE=8" in script and "PET_NPROC_PER_NODE" in script


def test_one_node_gets_no_multi_node_contract() -> None:
    script = render("t", TaskConfig(command=["true"]), archive=None, release=None,
                    exit_grace_s=0, gpus_per_node=8).text  # fmt: skip
    assert "MASTER_ADDR" not in script and "cluster.env" not in script


def test_volumes_are_found_by_their_serial_and_mounted_at_their_path() -> None:
    mounts = [VolumeMount("ckpt", "/ckpt", volume_device("vol_AbCdEfGh12345678"))]
    script = render("t", TaskConfig(command=["true"]), archive=None, release=None,
                    exit_grace_s=0, volume_mounts=mounts).text  # fmt: skip
    assert "flow_volume 0 ckpt /ckpt /dev/disk/by-id/virtio-vol_AbCdEfGh12345678" in script
    assert script.index("flow_volume 0") < script.index("# the workload")


def test_settings_refuse_unknown_keys_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        FcpSettings.from_mapping({"remote_hosts": "ssh"})
    assert caught.value.suggestions == ["did you mean 'remote_host'?"]


def test_the_sandbox_host_needs_its_directory() -> None:
    with pytest.raises(ConfigError, match=r"remote_host_options\.dir"):
        FcpSettings.from_mapping({"remote_host": SANDBOX_HOSTS})
