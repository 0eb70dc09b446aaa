"""The official ``hyperstack`` SDK (PyPI, a test dependency) drives the Hyperstack emulator over
loopback HTTP through every route the emulator serves: its API classes build the requests, its
client sends them, its models read the answers. Each route is called at least once (the test
asserts it against the emulator's route table) and each step is checked in the emulator's state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from flowlib.testing.emulators.hyperstack import HyperstackEmulator, ManualClock, Timing

hyperstack = pytest.importorskip("hyperstack", reason="the `hyperstack` SDK is not installed")
from hyperstack import api as sdk  # noqa: E402
from hyperstack import models  # noqa: E402

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


@pytest.fixture
def emu() -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(clock=ManualClock(), timing=Timing.instant(), boot=False) as e:
        e.start()
        yield e


def client(emu: HyperstackEmulator) -> Any:
    config = hyperstack.Configuration(host=emu.url)  # the emulator URL ends in /v1
    config.api_key["apiKey"] = emu.api_key
    return hyperstack.ApiClient(config)


def served_routes() -> set[tuple[str, str]]:
    from flowlib.testing.emulators.hyperstack import _api

    return {
        (method, re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", regex.pattern[1:-2]))
        for method, regex, _h in _api._router._routes
    }


def test_the_sdk_drives_every_route_of_the_emulator(emu: HyperstackEmulator) -> None:
    with client(emu) as api:
        regions = sdk.RegionApi(api).list_regions()
        assert "CANADA-1" in {r.name for r in regions.regions or []}
        flavors = sdk.FlavorApi(api).list_flavors(region="CANADA-1")
        assert any(f.flavors for f in flavors.data or [])
        assert sdk.StockApi(api).get_gpu_stock().stocks
        assert sdk.PricebookApi(api).get_pricebook()
        images = sdk.ImageApi(api).list_images(region="CANADA-1")
        first = images.images[0].images[0]
        assert sdk.ImageApi(api).get_image(first.id).image.name == first.name
        with pytest.raises(hyperstack.ApiException) as missing:
            sdk.ImageApi(api).get_image(99_999)
        assert missing.value.status == 404

        envs = sdk.EnvironmentApi(api)
        env = envs.create_environment(models.CreateEnvironment(name="env", region="CANADA-1"))
        env_id = env.environment.id
        assert envs.get_environment(env_id).environment.name == "env"
        envs.update_environment(env_id, models.UpdateEnvironment(name="env"))
        assert [e.name for e in envs.list_environments(page="1", page_size="10").environments] == [
            "env"
        ]

        keys = sdk.KeypairApi(api)
        key = keys.import_key_pair(
            models.ImportKeypairPayload(name="key", environment_name="env", public_key=PUBLIC_KEY)
        )
        key_id = key.keypair.id
        keys.update_key_pair_name(key_id, models.UpdateKeypairName(name="key2"))
        assert [k.name for k in keys.list_key_pairs().keypairs] == ["key2"]
        keys.update_key_pair_name(key_id, models.UpdateKeypairName(name="key"))

        vms = sdk.VirtualMachineApi(api)
        assert vms.check_vm_name_availability("vm").available is True
        rule = models.CreateSecurityRulePayload(
            direction="ingress", ethertype="IPv4", protocol="tcp",
            remote_ip_prefix="0.0.0.0/0", port_range_min=22, port_range_max=22,
        )  # fmt: skip
        made = vms.create_vms(
            models.CreateInstancesPayload(
                name="vm", environment_name="env", flavor_name="n3-RTX-A6000x1",
                key_name="key", count=1, assign_floating_ip=True,
                image_name="Ubuntu Server 22.04 LTS R535 CUDA 12.2",
                user_data="#!/bin/bash\ntrue\n", labels=["flowlib"], security_rules=[rule],
            )
        )  # fmt: skip
        vm_id = made.instances[0].id
        emu.advance(10)
        assert vms.get_vm(vm_id).instance.status == "ACTIVE"
        assert [v.id for v in vms.list_vms(page=1, page_size=5, search="vm").instances] == [vm_id]
        opened = vms.create_firewall_rule_for_vm(
            vm_id, rule.model_copy(update={"port_range_min": 8888, "port_range_max": 8888})
        )
        vms.delete_firewall_rule_for_vm(vm_id, opened.security_rule.id)

        volumes = sdk.VolumeApi(api)
        assert volumes.list_volume_types().volume_types
        vol = volumes.create_volume(
            models.CreateVolumePayload(
                name="d", environment_name="env", size=5, volume_type="Cloud-SSD"
            )
        )
        vol_id = vol.volume.id
        emu.advance(5)
        attach = sdk.VolumeAttachmentApi(api)
        attach.attach_volumes_to_vm(vm_id, models.AttachVolumesPayload(volume_ids=[vol_id]))
        assert [v.id for v in volumes.list_volumes().volumes] == [vol_id]
        assert volumes.get_volume(vol_id).volume.status == "in-use"
        attach.detach_volumes_from_vm(vm_id, models.DetachVolumesPayload(volume_ids=[vol_id]))
        emu.advance(5)
        volumes.delete_volume(vol_id)

        ips = sdk.FloatingIpApi(api)
        ips.detach_public_ip_from_vm(vm_id)
        ips.attach_public_ipto_vm(vm_id)
        statuses = []
        for act in (
            vms.stop_vm, vms.start_vm, lambda i: vms.hibernate_vm(i, retain_ip="true"),
            vms.restore_vm_from_hibernation, vms.hard_reboot_vm,
        ):  # fmt: skip
            act(vm_id)
            emu.advance(10)
            statuses.append(vms.get_vm(vm_id).instance.status)
        assert statuses == ["SHUTOFF", "ACTIVE", "HIBERNATED", "ACTIVE", "ACTIVE"]
        vms.delete_vm(vm_id)
        emu.advance(10)
        with pytest.raises(hyperstack.ApiException) as gone:
            vms.get_vm(vm_id)
        assert gone.value.status == 404
        keys.delete_key_pair(key_id)
        envs.delete_environment(env_id)
        assert emu.state.environments == {}

    assert emu.errors == []
    called = {(c.method, c.path) for c in emu.calls}
    served = served_routes()
    untouched = [
        f"{m} {p}"
        for m, p in sorted(served)
        if not any(
            cm == m and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", p), cp) for cm, cp in called
        )
    ]
    assert untouched == []
    print(f"\nhyperstack SDK: {len(served)}/{len(served)} emulator routes, {len(emu.calls)} calls")
