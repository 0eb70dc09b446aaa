"""Data in and results out on the local provider, against a real S3 API server on loopback.

The task's startup script stages `s3://` sources into its sandbox and syncs `outputs` back
with the same code a cloud VM runs; the client checks buckets and credentials before anything
is created.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from s3server import S3, SECRET_KEY, S3Server

from flowlib.errors import AuthenticationError, ResourceNotFoundError, ValidationError
from flowlib.flow import Flow
from flowlib.models import MountSpec, Task, TaskStatus

pytest.importorskip("s3fs", reason="the data tests need flowlib[s3]")

WAIT = 60


@pytest.fixture
def flow(isolated_home: Path) -> Flow:
    return Flow(provider="local", home=isolated_home / ".flow")


def read(root: str) -> str:
    """A workload line that prints every file under FLOW_ROOT/<root>, sorted."""
    return (
        "import os, sys\n"
        f"base = os.environ.get('FLOW_ROOT', '') + {root!r}\n"
        "for d, _, names in sorted(os.walk(base, followlinks=True)):\n"
        "    for n in sorted(names):\n"
        "        p = os.path.join(d, n)\n"
        "        print(os.path.relpath(p, base), open(p).read().strip())\n"
    )


def run_python(flow: Flow, code: str, **fields: Any) -> Task:
    return flow.run(["python", "-c", code], upload_code=False, **fields)


def test_a_prefix_is_staged_at_data_before_the_workload_starts(flow: Flow, s3: S3) -> None:
    s3.put("ds/train/a.txt", "alpha")
    s3.put("ds/train/sub/b.txt", "beta")
    s3.put("other/c.txt", "not mine")
    task = flow.submit(
        ["python", "-c", read("/data")], data=f"s3://{s3.bucket}/ds", upload_code=False
    )
    done = task.wait(timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
    assert flow.logs(task.task_id).splitlines() == ["train/a.txt alpha", "train/sub/b.txt beta"]


def test_the_client_records_the_resolved_source_and_its_size(flow: Flow, s3: S3) -> None:
    s3.put("ds/x.bin", b"0" * 2000)
    task = flow.submit("true", data={"/datasets": f"s3://{s3.bucket}/ds"}, upload_code=False)
    [mount] = task.config.data_mounts if task.config else []
    assert mount.source == f"s3://{s3.bucket}/ds/"  # a prefix, as the machine will read it
    assert mount.mount_type == "s3fs"
    assert mount.size_estimate_gb == pytest.approx(2000 / 1e9)
    assert task.config is not None
    assert task.config.env["FLOW_S3_ENDPOINT_URL"] == s3.url
    assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED


def test_a_single_object_lands_under_its_own_name(flow: Flow, s3: S3) -> None:
    s3.put("models/weights.json", '{"w": 1}')
    task = flow.submit(
        ["python", "-c", read("/models")],
        data={"/models": f"s3://{s3.bucket}/models/weights.json"},
        upload_code=False,
    )
    assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id).strip() == 'weights.json {"w": 1}'


def test_outputs_land_in_s3_when_the_task_ends(flow: Flow, s3: S3) -> None:
    code = (
        "import os\n"
        "out = os.environ.get('FLOW_ROOT', '') + '/results'\n"
        "os.makedirs(out + '/ckpt', exist_ok=True)\n"
        "open(out + '/metrics.json', 'w').write('{\"loss\": 0.1}')\n"
        "open(out + '/ckpt/last.pt', 'w').write('weights')\n"
    )
    task = run_python(flow, code, outputs={"/results": f"s3://{s3.bucket}/runs/one"})
    done = task.wait(timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, done.message
    assert s3.keys("runs/") == ["runs/one/ckpt/last.pt", "runs/one/metrics.json"]
    assert json.loads(s3.get("runs/one/metrics.json")) == {"loss": 0.1}


def test_outputs_are_synced_even_when_the_workload_fails(flow: Flow, s3: S3) -> None:
    code = (
        "import os, sys\n"
        "out = os.environ.get('FLOW_ROOT', '') + '/results'\n"
        "os.makedirs(out, exist_ok=True)\n"
        "open(out + '/partial.txt', 'w').write('half')\n"
        "sys.exit(3)\n"
    )
    task = run_python(flow, code, outputs={"/results": f"s3://{s3.bucket}/failed"})
    done = task.wait(timeout=WAIT)
    assert done.status == TaskStatus.FAILED and done.exit_code == 3
    assert s3.get("failed/partial.txt") == b"half"


def test_outputs_are_synced_when_the_task_is_cancelled(flow: Flow, s3: S3) -> None:
    code = (
        "import os, time\n"
        "out = os.environ.get('FLOW_ROOT', '') + '/results'\n"
        "os.makedirs(out, exist_ok=True)\n"
        "open(out + '/step-1.txt', 'w').write('one')\n"
        "print('written', flush=True)\n"
        "time.sleep(300)\n"
    )
    task = run_python(flow, code, outputs={"/results": f"s3://{s3.bucket}/cancelled"})
    for line in flow.follow_logs(task.task_id):
        if line == "written":
            break
    cancelled = flow.cancel(task.task_id)
    assert cancelled.status == TaskStatus.CANCELLED
    assert s3.get("cancelled/step-1.txt") == b"one"


def test_a_failed_output_sync_is_retried_then_reported_on_the_task(
    flow: Flow, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_SYNC_ATTEMPTS", "2")
    doomed = s3.new_bucket(f"{s3.bucket}-doomed")
    code = (
        "import os\n"
        "out = os.environ.get('FLOW_ROOT', '') + '/results'\n"
        "os.makedirs(out, exist_ok=True)\n"
        "open(out + '/r.txt', 'w').write('r')\n"
        "while not os.path.exists(os.environ['GO']): pass\n"
    )
    go = Path(os.environ["HOME"]) / "go"
    task = run_python(flow, code, outputs={"/results": f"s3://{doomed}/x"}, env={"GO": str(go)})
    s3.delete_bucket(doomed)  # the client checked it; now it is gone
    go.touch()
    done = task.wait(timeout=WAIT)
    assert done.status == TaskStatus.FAILED  # the workload exited 0, its results are lost
    assert done.message is not None
    assert f"syncing /results to s3://{doomed}/x/ failed after 2 attempts" in done.message
    startup_log = Path(flow.config.home, "tasks", done.task_id, "startup.log").read_text()
    assert "attempt 1 of 2 failed" in startup_log


def test_a_nonexistent_bucket_fails_before_anything_is_created(flow: Flow, s3: S3) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        flow.submit("true", data="s3://no-such-bucket-here/ds", upload_code=False)
    assert "bucket 'no-such-bucket-here' does not exist" in err.value.message
    assert err.value.suggestions
    assert flow.list_tasks() == []


def test_a_missing_prefix_is_named_in_the_error(flow: Flow, s3: S3) -> None:
    with pytest.raises(ResourceNotFoundError, match="has no object or prefix 'nothing/here'"):
        flow.submit("true", data=f"s3://{s3.bucket}/nothing/here", upload_code=False)


def test_an_output_bucket_is_checked_before_submission(flow: Flow, s3: S3) -> None:
    with pytest.raises(ResourceNotFoundError, match="no-such-output-bucket"):
        flow.run("true", outputs={"/results": "s3://no-such-output-bucket/x"}, upload_code=False)
    assert flow.list_tasks() == []


def test_an_invalid_bucket_name_fails_without_asking_s3(flow: Flow) -> None:
    with pytest.raises(ValidationError, match="not a valid S3 bucket name"):
        flow.submit("true", data="s3://Bad_Bucket/x", upload_code=False)


def test_a_read_only_mount_cannot_be_written_by_the_workload(flow: Flow, s3: S3) -> None:

    s3.put("ro/file.txt", "keep")
    code = (
        "import os\n"
        "p = os.environ.get('FLOW_ROOT', '') + '/data/file.txt'\n"
        "print(oct(os.stat(p).st_mode & 0o222))\n"
    )
    mount = MountSpec(source=f"s3://{s3.bucket}/ro", target="/data", read_only=True)
    task = run_python(flow, code, data_mounts=[mount])
    assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id).strip() == "0o0"


def test_a_cache_key_stages_once_and_later_tasks_reuse_it(flow: Flow, s3: S3) -> None:

    s3.put("cached/v.txt", "v1")
    mount = MountSpec(source=f"s3://{s3.bucket}/cached", target="/data", cache_key="ds-v1")
    first = run_python(flow, read("/data"), data_mounts=[mount])
    assert first.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    s3.put("cached/v.txt", "v2")  # the cache key says: same data; the copy is reused
    second = run_python(flow, read("/data"), data_mounts=[mount])
    assert second.wait(timeout=WAIT).status == TaskStatus.COMPLETED
    assert flow.logs(second.task_id).strip() == "v.txt v1"
    log = Path(flow.config.home, "tasks", second.task_id, "startup.log").read_text()
    assert "from the cache (ds-v1)" in log


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the aws CLI")
def test_the_aws_cli_stages_and_syncs_the_same_way(
    flow: Flow, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_DATA_TOOL", "aws")
    s3.put("viaaws/d/x.txt", "x")
    s3.put("viaaws/one.txt", "one")
    code = (
        read("/data")
        + read("/one")
        + (
            "out = os.environ.get('FLOW_ROOT', '') + '/out'\n"
            "os.makedirs(out, exist_ok=True)\n"
            "open(out + '/y.txt', 'w').write('y')\n"
        )
    )
    task = run_python(
        flow,
        code,
        data={"/data": f"s3://{s3.bucket}/viaaws/d", "/one": f"s3://{s3.bucket}/viaaws/one.txt"},
        outputs={"/out": f"s3://{s3.bucket}/viaaws/out"},
    )
    done = task.wait(timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, done.message
    assert flow.logs(task.task_id).splitlines() == ["x.txt x", "one.txt one"]
    assert s3.get("viaaws/out/y.txt") == b"y"
    log = Path(flow.config.home, "tasks", task.task_id, "startup.log").read_text()
    assert "(with aws)" in log and "(with python)" not in log


class TestCredentials:
    """A server of its own that checks access keys for real (moto's IAM authentication)."""

    @pytest.fixture(scope="class")
    @classmethod
    def auth(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, str, str]]:
        server = S3Server(tmp_path_factory.mktemp("moto-auth") / "moto.log")
        key_id, secret = server.require_auth()
        server.client(key=key_id, secret=secret).create_bucket(Bucket="guarded")
        yield server, key_id, secret
        server.stop()

    @pytest.fixture(autouse=True)
    def endpoint(self, auth: tuple[S3Server, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FLOW_S3_ENDPOINT_URL", auth[0].url)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def test_valid_credentials_pass_the_check(
        self, flow: Flow, auth: tuple[S3Server, str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth[1])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth[2])
        task = flow.run("true", outputs={"/out": "s3://guarded/run"}, upload_code=False)
        assert task.wait(timeout=WAIT).status == TaskStatus.COMPLETED

    def test_wrong_credentials_fail_early_and_the_secret_is_never_shown(
        self, flow: Flow, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        with pytest.raises(AuthenticationError) as err:
            flow.submit("true", data="s3://guarded/ds", upload_code=False)
        assert "refused the credentials for s3://guarded/ds" in err.value.message
        shown = str(err.value) + repr(err.value) + json.dumps(err.value.to_dict())
        assert SECRET_KEY not in shown
        assert flow.list_tasks() == []

    def test_no_credentials_at_all_is_its_own_clear_error(
        self, flow: Flow, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        with pytest.raises(AuthenticationError, match="no S3 credentials were found"):
            flow.submit("true", data="s3://guarded/ds", upload_code=False)
