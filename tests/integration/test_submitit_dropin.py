"""submitit's documented usage runs unchanged on flowlib's local provider, but for the import.

Each script is submitit's README/docs example with ``import submitit`` replaced by
``from flowlib import submitit``; it runs as its own process, so its functions live in
``__main__`` exactly as in a user's script.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README_ADD = """
from flowlib import submitit

def add(a, b):
    return a + b

# executor is the submission interface (logs are dumped in the folder)
executor = submitit.AutoExecutor(folder="log_test")
# set timeout in min, and partition for running the job
executor.update_parameters(timeout_min=1, slurm_partition="dev")
job = executor.submit(add, 5, 7)  # will compute add(5, 7)
print(job.job_id)  # ID of your job

output = job.result()  # waits for completion and returns output
assert output == 12  # 5 + 7 = 12...  your addition was computed in the cluster
"""

MAP_ARRAY = """
from flowlib import submitit

def add(a, b):
    return a + b

a = [1, 2, 3, 4]
b = [10, 20, 30, 40]
executor = submitit.AutoExecutor(folder="log_test")
executor.update_parameters(slurm_array_parallelism=2)
jobs = executor.map_array(add, a, b)  # just a list of jobs
assert [job.result() for job in jobs] == [11, 22, 33, 44]
"""

BATCH = """
from flowlib import submitit

def add(a, b):
    return a + b

executor = submitit.AutoExecutor(folder="log_test")
jobs = []
with executor.batch():
    for arg in range(4):
        job = executor.submit(add, arg, arg)
        jobs.append(job)
assert [job.result() for job in jobs] == [0, 2, 4, 6]
"""

CHECKPOINT = """
import time
from flowlib import submitit

class MultiplicationCheckpointing(submitit.helpers.Checkpointable):
    def __call__(self, n, start=0, total=0):
        for i in range(start, n):
            if i == 2 and start == 0:
                time.sleep(60)  # the time limit stops the first run here
            total += i
            self.i, self.total = i + 1, total
        return total

    def checkpoint(self, n, start=0, total=0):
        return submitit.helpers.DelayedSubmission(self, n, self.i, self.total)

executor = submitit.AutoExecutor(folder="log_test")
executor.update_parameters(timeout_min=0.02)  # about a second
job = executor.submit(MultiplicationCheckpointing(), 5)
assert job.result() == 0 + 1 + 2 + 3 + 4, job.result()
"""


def run_script(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "code",
    [README_ADD, MAP_ARRAY, BATCH, CHECKPOINT],
    ids=["readme-add", "map-array", "batch", "checkpoint-requeue"],
)
def test_submitit_documented_usage_runs_unchanged(code: str, project: Path) -> None:
    result = run_script(code, project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_gpu_request_on_a_machine_without_gpus_is_a_capacity_error(project: Path) -> None:
    from flowlib import submitit
    from flowlib.errors import CapacityError

    executor = submitit.AutoExecutor(folder=project / "logs", cluster="local")
    executor.update_parameters(gpus_per_node=1)
    import flowlib

    if flowlib.Flow().provider("local").gpus():  # type: ignore[attr-defined]
        pytest.skip("this machine has GPUs")
    with pytest.raises(CapacityError, match="no NVIDIA GPU"):
        executor.submit(abs, -1)


def test_a_job_is_rebuilt_from_its_id_by_a_later_process(project: Path) -> None:
    from flowlib import submitit

    executor = submitit.AutoExecutor(folder=project / "logs")
    job = executor.submit(divmod, 17, 5)
    later = submitit.Job(project / "logs", job.job_id)
    assert later.result() == (3, 2)
    assert later.state == "COMPLETED"
    assert later.done()


def test_a_remote_exception_keeps_its_type_and_traceback(project: Path) -> None:
    from flowlib import submitit

    executor = submitit.AutoExecutor(folder=project / "logs")
    job = executor.submit(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal") as info:
        job.result()
    assert "Remote traceback" in info.value.__notes__[0]
    assert job.state == "FAILED"
    assert isinstance(job.exception(), ValueError)


def test_an_unknown_parameter_lists_every_valid_one(project: Path) -> None:
    from flowlib import submitit
    from flowlib.errors import ValidationError

    executor = submitit.AutoExecutor(folder=project / "logs")
    with pytest.raises(ValidationError) as info:
        executor.update_parameters(timeout_mins=3)
    assert "timeout_min" in info.value.suggestions[0]
    for name in ("gpus_per_node", "slurm_partition", "flow_instance_type", "flow_provider"):
        assert name in info.value.message
