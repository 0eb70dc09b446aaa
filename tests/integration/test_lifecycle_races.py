"""The lifecycle where it used to lose things: a cancel racing a submit, the last create attempt
lost, one failing call in a status batch, a submitter killed before it created anything, a cancel
racing a task's natural end. Every test ends on the emulator's own state: nothing live, billing,
under a task flowlib calls ended."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from clouds import fcp_flow, hs_flow

from flowlib import Flow
from flowlib.core.http import AmbiguousRequestError
from flowlib.errors import ValidationError
from flowlib.models import TaskConfig, TaskStatus
from flowlib.testing.emulators.fcp import FcpEmulator
from flowlib.testing.emulators.hyperstack import HyperstackEmulator


def live_keys(emu: FcpEmulator) -> list[str]:
    keys = emu.state.api_keys.values()
    return [k.name for k in keys if k.name != "emulator" and k.deactivated_at is None]


class TestCancelDuringSubmit:
    def test_the_submit_releases_what_it_created_and_the_task_ends_cancelled(
        self, fcp: FcpEmulator, project: Path
    ) -> None:
        # The task's key is made, then its answer is slow: the cancel comes before the bid.
        fcp.faults.slow(1.0, method="POST", path="/v2/api-keys")
        with fcp_flow(fcp) as flow:
            result: dict[str, object] = {}
            submit = threading.Thread(
                target=lambda: result.update(task=flow.run("sleep 600", instance_type="a100"))
            )
            submit.start()
            assert fcp.wait_until(lambda: len(live_keys(fcp)) == 1, timeout=10)
            assert fcp.bid_count() == 0
            (record,) = flow.store.list()
            with fcp_flow(fcp) as other:  # a second client, as `flow cancel` would be
                answer = other.cancel(record.task_id)
            submit.join(20)
            assert answer.status == TaskStatus.CANCELLED
            assert flow.get_task(record.task_id).status == TaskStatus.CANCELLED
        assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=10)  # nothing billing
        assert live_keys(fcp) == []  # and the task's own key is gone too

    def test_a_cancel_from_another_process_is_honoured_by_the_submitter(
        self, fcp: FcpEmulator, project: Path
    ) -> None:
        fcp.faults.slow(1.5, method="POST", path="/v2/api-keys")
        section = fcp.provider_settings(poll_interval_s=0.05, timeout_s=5)
        child = (
            "from flowlib import Flow\n"
            f"f = Flow(provider='fcp', api_url={fcp.url!r}, api_key={fcp.api_key!r}, "
            f"providers={{'fcp': {section!r}}})\n"
            "t = f.run('sleep 600', instance_type='a100')\n"
            "print(t.status.value)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        try:
            assert fcp.wait_until(lambda: len(live_keys(fcp)) == 1, timeout=15)
            assert fcp.bid_count() == 0
            with fcp_flow(fcp) as flow:
                (record,) = flow.store.list()
                answer = flow.cancel(record.task_id)
                out, _ = proc.communicate(timeout=30)
                assert out.strip() == "cancelled"  # flow run itself returned a cancelled task
                assert answer.status == TaskStatus.CANCELLED
        finally:
            proc.kill()
        assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=10)

    def test_a_second_cancel_releases_a_machine_left_under_an_ended_task(
        self, fcp: FcpEmulator, project: Path
    ) -> None:
        with fcp_flow(fcp) as flow:
            task = flow.run("sleep 600", instance_type="a100")
            # What older flowlib left behind: the task says cancelled, its bid still bills.
            flow.store.update(task.task_id, status=TaskStatus.CANCELLED, cancel_requested=True)
            assert fcp.bid_count() == 1
            with pytest.raises(ValidationError, match="already ended"):
                flow.cancel(task.task_id)
        assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=10)
        assert live_keys(fcp) == []


class TestAmbiguousCreates:
    def test_the_last_lost_answer_is_looked_up_by_name(
        self, fcp: FcpEmulator, project: Path
    ) -> None:
        # Three tries are lost on the way in; the fourth (the last) is processed, its answer lost.
        fcp.faults.drop_connection("POST", "/v2/spot/bids", times=3)
        fcp.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True, every=4, times=1)
        with fcp_flow(fcp) as flow:
            task = flow.run("echo once", instance_type="a100")
            fcp.faults.clear()
            assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
        assert len(fcp.state.bids) == 1  # never a second bid
        assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=10)

    def test_an_unknown_outcome_stays_pending_and_a_later_status_adopts_the_bid(
        self, fcp: FcpEmulator, project: Path
    ) -> None:
        fcp.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True, times=None)
        fcp.faults.server_errors(method="GET", path="/v2/spot/bids", times=None)  # no look-up
        with fcp_flow(fcp) as flow:
            with pytest.raises(AmbiguousRequestError) as caught:
                flow.run("echo adopted", instance_type="a100")
            assert any("flow status" in s for s in caught.value.suggestions)
            (record,) = flow.store.list()
            assert (record.status, record.provider_state) == (TaskStatus.PENDING, "unconfirmed")
            fcp.faults.clear()  # the API answers again
            assert flow.wait(record.task_id, timeout=30).status == TaskStatus.COMPLETED
        assert len(fcp.state.bids) == 1
        assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=10)
        assert live_keys(fcp) == []

    def test_a_refused_create_revokes_the_task_key_it_made(
        self, fcp: FcpEmulator, project: Path
    ) -> None:
        fcp.faults.server_errors(method="POST", path="/v2/spot/bids", status=400, times=None)
        with fcp_flow(fcp) as flow:
            with pytest.raises(Exception):  # noqa: B017 - the API's refusal, translated
                flow.run("echo never", instance_type="a100")
            (record,) = flow.store.list()
            assert record.status == TaskStatus.FAILED
        assert fcp.state.bids == {} or not fcp.live_bids()
        assert live_keys(fcp) == []


class TestHyperstackStatus:
    def test_one_failing_delete_keeps_what_the_batch_learned_about_the_others(
        self, hyperstack: HyperstackEmulator, project: Path
    ) -> None:
        with hs_flow(hyperstack) as flow:
            tasks = [flow.run(f"exit {code}") for code in (0, 3)]
            assert hyperstack.wait_until(
                lambda: (
                    all(
                        (hyperstack.instance_root(vm.id) / "var/run/flow/exit_code").exists()
                        for vm in hyperstack.live_vms()
                    )
                    and len(hyperstack.live_vms()) == 2
                ),
                timeout=20,
            )
            first_vm = flow.store.get(tasks[0].task_id).provider_data["vm_id"]
            with hyperstack.faults.server_errors(
                method="DELETE", path=f"/v1/core/virtual-machines/{first_vm}", times=None
            ):
                flow.list_tasks()
            second = flow.store.get(tasks[1].task_id)
            assert (second.status, second.exit_code) == (TaskStatus.FAILED, 3)  # kept
            ended = [flow.wait(t.task_id, timeout=30) for t in tasks]
            assert [(t.status, t.exit_code) for t in ended] == [
                (TaskStatus.COMPLETED, 0),  # its VM went on the next look, its result kept
                (TaskStatus.FAILED, 3),
            ]
        assert hyperstack.wait_until(lambda: not hyperstack.live_vms(), timeout=10)

    def test_a_result_kept_before_a_lost_delete_answer_is_not_lost(
        self, hyperstack: HyperstackEmulator, project: Path
    ) -> None:
        with hs_flow(hyperstack) as flow:
            task = flow.run("exit 0")
            assert hyperstack.wait_until(
                lambda: any(
                    (hyperstack.instance_root(vm.id) / "var/run/flow/exit_code").exists()
                    for vm in hyperstack.live_vms()
                ),
                timeout=20,
            )
            # The VM is deleted, and the answer never comes back: the status fails.
            hyperstack.faults.drop_connection(
                "DELETE", "/v1/core/virtual-machines/*", after_processing=True, times=None
            )
            flow.list_tasks()
            hyperstack.faults.clear()
            assert hyperstack.wait_until(lambda: not hyperstack.live_vms(), timeout=10)
            done = flow.wait(task.task_id, timeout=20)
            assert (done.status, done.exit_code) == (TaskStatus.COMPLETED, 0)

    def test_a_submit_that_died_before_creating_a_vm_is_resolved_not_pending_forever(
        self, hyperstack: HyperstackEmulator, project: Path
    ) -> None:
        dead = subprocess.Popen(["true"])
        dead.wait()
        with hs_flow(hyperstack, submit_settle_s=0) as flow:
            config = flow.provider().prepare(
                TaskConfig(command=["echo", "never"], upload_code=False)
            )
            record, _ = flow.lifecycle.record(config, "hyperstack")
            who = {**record.provider_data["submitter"], "pid": dead.pid}
            flow.store.update(record.task_id, data={"submitter": who})  # ... then it died
            time.sleep(0.01)
            task = flow.get_task(record.task_id)
            assert task.status == TaskStatus.FAILED
            assert "before a VM was created" in (task.message or "")
        assert hyperstack.live_vms() == []


def test_a_task_that_ended_before_a_racing_cancel_keeps_its_own_result(
    isolated_home: Path, project: Path
) -> None:
    with Flow(provider="local") as flow:
        task = flow.run("exit 0")
        root = Path(flow.store.get(task.task_id).provider_data["root"])
        deadline = time.monotonic() + 10
        while not (root / "var/run/flow/exit_code").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        # The cancel was asked for before any status had seen the end.
        flow.store.update(task.task_id, cancel_requested=True)
        done = flow.wait(task.task_id, timeout=10)
        assert (done.status, done.exit_code) == (TaskStatus.COMPLETED, 0)


def test_a_cancel_that_stops_the_workload_is_cancelled(isolated_home: Path, project: Path) -> None:
    with Flow(provider="local") as flow:
        task = flow.run("trap 'exit 0' TERM; sleep 600 & wait")  # exits 0 on the stop signal
        deadline = time.monotonic() + 10
        while not flow.get_task(task.task_id).is_running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flow.cancel(task.task_id).status == TaskStatus.CANCELLED


def test_the_same_idempotency_key_gives_the_same_task(isolated_home: Path, project: Path) -> None:
    with Flow(provider="local") as flow:
        first = flow.run("echo once", idempotency_key="nightly-2026-12-01")
        again = flow.run("echo once", idempotency_key="nightly-2026-12-01")
        assert again.task_id == first.task_id
        assert flow.store.count() == 1
        other = flow.run("echo once", idempotency_key="nightly-2026-12-02")
        assert other.task_id != first.task_id


def test_a_local_submit_that_died_before_starting_is_failed_not_pending(
    isolated_home: Path, project: Path
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    with Flow(provider="local", submit_settle_s=0) as flow:
        record, _ = flow.lifecycle.record(TaskConfig(command=["true"]), "local")
        who = {**record.provider_data["submitter"], "pid": dead.pid}
        flow.store.update(record.task_id, data={"submitter": who})
        task = flow.get_task(record.task_id)
        assert (task.status, task.provider_state) == (TaskStatus.FAILED, "submit-lost")


@pytest.mark.parametrize("cloud", ["fcp", "hyperstack"])
def test_a_finished_tasks_log_outlives_its_machine(
    cloud: str, request: pytest.FixtureRequest, project: Path
) -> None:
    import shutil

    emu = request.getfixturevalue(cloud)
    flow = fcp_flow(emu) if cloud == "fcp" else hs_flow(emu)
    with flow:
        task = flow.run(
            "echo kept; exit 0", **({"instance_type": "a100"} if cloud == "fcp" else {})
        )
        assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
        assert emu.wait_until(
            lambda: not (emu.live_bids() if cloud == "fcp" else emu.live_vms()), timeout=15
        )
        shutil.rmtree(emu.workdir / "instances")  # the machines' disks are gone with them
        assert flow.logs(task.task_id) == "kept"
        assert list(flow.follow_logs(task.task_id)) == ["kept"]


def test_a_second_vm_a_late_create_made_is_deleted_by_the_next_status(
    hyperstack: HyperstackEmulator, project: Path
) -> None:
    from flowlib.providers.hyperstack._provider import vm_name

    with hs_flow(hyperstack) as flow:
        task = flow.run("sleep 600")
        data = flow.store.get(task.task_id).provider_data
        provider = flow.provider()
        late = {  # what an answer that came after the look-up by name had created
            "name": vm_name(task.task_id),
            "environment_name": data["environment"],
            "flavor_name": data["flavor"],
            "image_name": provider.settings.image,  # type: ignore[attr-defined]
            "key_name": provider.keypair(data["environment"]),  # type: ignore[attr-defined]
            "count": 1,
            "user_data": "#!/bin/bash\nsleep 600\n",
        }
        provider.api.create_vm(late)  # type: ignore[attr-defined]
        assert len(hyperstack.live_vms()) == 2
        flow.list_tasks()
        assert hyperstack.wait_until(lambda: len(hyperstack.live_vms()) == 1, timeout=10)
        assert [vm.id for vm in hyperstack.live_vms()] == [data["vm_id"]]
        flow.cancel(task.task_id)
    assert hyperstack.wait_until(lambda: not hyperstack.live_vms(), timeout=10)
