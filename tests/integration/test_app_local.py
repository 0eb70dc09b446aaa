"""Modal-style apps as real local tasks: values, exceptions, maps, retries, preemption, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flowlib
from flowlib.errors import CapacityError, RemoteError, ValidationError

app = flowlib.App("tests")


@pytest.fixture(autouse=True)
def fresh_client(isolated_home: Path) -> None:
    """Each test has its own FLOW_HOME: give the module's app a client that uses it."""
    app.flow = flowlib.Flow()


@app.function
def square(x: int) -> int:
    return x * x


@app.function
def fail_on_sevens(x: int) -> int:
    if x % 250 == 7:
        raise ValueError(f"input {x} is unlucky")
    return x + 1


def _count(marks: str, x: int) -> int:
    """Record one run of input ``x``; how many runs it has had, this one included."""
    with open(Path(marks) / f"ran-{x}", "a") as fh:
        fh.write(".")
    return len((Path(marks) / f"ran-{x}").read_text())


@app.function(retries=flowlib.Retries(max_retries=2, initial_delay=0.0))
def flaky(x: int, marks: str) -> int:
    if x % 2 and _count(marks, x) < 3:  # odd inputs fail twice, then succeed
        raise RuntimeError(f"transient failure of {x}")
    if not x % 2:
        _count(marks, x)
    return x


@app.function(retries=1)
def always_fails(x: int) -> int:
    raise KeyError(x)


@app.function
def killed_once(x: int, marks: str) -> int:
    if _count(marks, x) == 1 and x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # the machine goes away under input 3
    return x


@app.function(timeout=0.5)
def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function
def interval(x: int) -> tuple[float, float]:
    start = time.time()
    time.sleep(0.3)
    return start, time.time()


@app.function(gpu=["H100:8", "B200:8"])
def needs_gpus() -> int:
    return 1


def test_remote_returns_the_value(project: Path) -> None:
    assert square.remote(7) == 49


def test_local_and_a_direct_call_run_in_this_process(project: Path) -> None:
    assert square.local(5) == 25 and square(6) == 36
    assert flowlib.list_tasks() == []


def test_a_remote_exception_keeps_its_type_and_the_remote_traceback(project: Path) -> None:
    with pytest.raises(ValueError, match="input 7 is unlucky") as info:
        fail_on_sevens.remote(7)
    assert "Remote traceback" in info.value.__notes__[0]
    assert "fail_on_sevens" in info.value.__notes__[0]


def test_spawn_returns_a_handle_that_a_later_process_rebuilds_by_id(project: Path) -> None:
    call = square.spawn(12)
    assert call.object_id.startswith("fc-")
    code = f"import flowlib; print(flowlib.FunctionCall.from_id({call.object_id!r}).get())"
    later = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert later.stdout.strip() == "144", later.stderr
    assert call.get(timeout=30) == 144


def test_get_with_a_timeout_raises_while_the_call_runs_and_cancel_stops_it(
    project: Path,
) -> None:
    call = sleeps.with_options(timeout=60).spawn(30)
    with pytest.raises(TimeoutError):
        call.get(timeout=0)
    call.cancel()
    with pytest.raises(RemoteError, match="cancelled"):
        call.get(timeout=30)
    assert flowlib.get_task(call.task_ids[0]).status.value == "cancelled"


def test_cancel_ends_an_input_that_waits_for_its_retry(project: Path) -> None:
    patient = always_fails.with_options(retries=flowlib.Retries(max_retries=3, initial_delay=30))
    call = patient.spawn(1)
    flowlib.wait(call.task_ids[0], timeout=60)
    with pytest.raises(TimeoutError):
        call.get(timeout=0.2)  # reads the failure; the retry is due in 30 s
    call.cancel()
    with pytest.raises(RemoteError, match="cancelled"):
        flowlib.FunctionCall.from_id(call.object_id).get(timeout=10)
    assert len(call.task_ids) == 1


def test_a_map_of_1000_inputs_where_a_few_fail_loses_no_result(project: Path) -> None:
    results = list(fail_on_sevens.map(range(1000), return_exceptions=True, batch_size=250))
    assert len(results) == 1000
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [7, 257, 507, 757]
    assert all(isinstance(results[i], ValueError) for i in failed)
    assert all(results[i] == i + 1 for i in range(1000) if i not in failed)
    assert len(flowlib.list_tasks()) == 4  # one task per batch


def test_a_failed_input_raises_from_map_without_return_exceptions(project: Path) -> None:
    with pytest.raises(ValueError, match="input 7"):
        list(fail_on_sevens.map(range(10), batch_size=5))


def test_unordered_map_and_starmap_give_every_value(project: Path) -> None:
    unordered = square.map(range(6), order_outputs=False, batch_size=2)
    assert sorted(unordered) == [x * x for x in range(6)]
    assert list(square.starmap([(2,), (3,)])) == [4, 9]


def test_retries_rerun_only_the_inputs_that_failed(project: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    assert list(flaky.map(range(6), kwargs={"marks": str(marks)}, batch_size=6)) == list(range(6))
    runs = {int(p.name.split("-")[1]): len(p.read_text()) for p in marks.iterdir()}
    assert runs == {0: 1, 1: 3, 2: 1, 3: 3, 4: 1, 5: 3}


def test_an_input_that_keeps_failing_raises_after_its_retries(project: Path) -> None:
    with pytest.raises(KeyError):
        always_fails.remote(1)
    assert len(flowlib.list_tasks()) == 2  # the first run and one retry


def test_a_preempted_input_runs_again_on_the_same_input(project: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    assert list(killed_once.map(range(6), kwargs={"marks": str(marks)}, batch_size=6)) == list(
        range(6)
    )
    runs = {int(p.name.split("-")[1]): len(p.read_text()) for p in marks.iterdir()}
    # inputs 0-2 ended before the kill, 3 ran twice, 4-5 had not started: once each
    assert runs == {0: 1, 1: 1, 2: 1, 3: 2, 4: 1, 5: 1}
    first = flowlib.list_tasks()[-1]
    assert first.status.value == "failed" and first.exit_code == 137


def test_an_input_over_its_timeout_raises_timeout_error(project: Path) -> None:
    with pytest.raises(TimeoutError, match=r"timeout of 0\.5 s"):
        sleeps.remote(30)


def test_map_runs_at_most_max_concurrency_tasks_at_once(project: Path) -> None:
    spans = list(interval.map(range(6), batch_size=1, max_concurrency=2))
    assert len(spans) == 6
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 2


def test_an_unpicklable_input_fails_before_any_task_is_created(project: Path) -> None:
    import threading

    with pytest.raises(ValidationError, match=r"input 1: argument 'x' \(lock\)"):
        list(square.map([1, threading.Lock()]))
    assert flowlib.list_tasks() == []


def test_a_gpu_fallback_list_tries_each_type_then_names_them(project: Path) -> None:
    with pytest.raises(CapacityError, match="no GPU of the fallback list") as info:
        needs_gpus.remote()
    assert "8x" in str(info.value) or "h100" in str(info.value).lower()


APP = """
import flowlib

app = flowlib.App("cli")


@app.function
def scale(x: float, factor: int = 2, loud: bool = False) -> str:
    return f"{x * factor}{'!' if loud else ''}"


@app.function
def broken(reason: str) -> None:
    raise ValueError(reason)


@app.local_entrypoint()
def main(count: int = 3) -> None:
    print("scaled:", list(scale.map(range(count))))
"""


def _flow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flow_run_app_py_runs_the_local_entrypoint(project: Path) -> None:
    (project / "app.py").write_text(textwrap.dedent(APP))
    done = _flow("run", "app.py", "--count", "2", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "scaled: ['0', '2']"


def test_flow_run_a_function_parses_its_arguments_from_the_signature(project: Path) -> None:
    (project / "app.py").write_text(textwrap.dedent(APP))
    done = _flow("run", "app.py::scale", "--x", "1.5", "--factor", "3", "--loud", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4.5!"
    missing = _flow("run", "app.py::scale", cwd=project)
    assert missing.returncode == 2 and "required: --x" in missing.stderr


def test_flow_run_of_a_raising_function_exits_with_the_remote_error_code(project: Path) -> None:
    (project / "app.py").write_text(textwrap.dedent(APP))
    done = _flow("run", "app.py::broken", "--reason", "no data", cwd=project)
    assert done.returncode == 15
    assert "error: broken raised ValueError: no data" in done.stderr
    assert "Traceback (most recent call last)" in done.stderr  # the remote one, as text


def test_flow_run_names_the_choices_for_an_unknown_function(project: Path) -> None:
    (project / "app.py").write_text(textwrap.dedent(APP))
    done = _flow("run", "app.py::nope", cwd=project)
    assert done.returncode == 2
    assert "hint: flow run app.py::scale" in done.stderr
