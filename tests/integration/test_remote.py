"""Python calls as real local tasks: values, exceptions, limits, handles rebuilt by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib import remote
from flowlib.errors import ValidationError


def test_a_call_returns_its_value(project: Path) -> None:
    assert remote.run(divmod, (17, 5)) == (3, 2)


def test_a_function_of_a_project_module_travels_by_reference(project: Path) -> None:
    (project / "mathlib.py").write_text("def square(x):\n    return x * x\n")
    import sys

    sys.path.insert(0, str(project))
    try:
        import mathlib  # type: ignore[import-not-found]

        assert remote.run(mathlib.square, (9,)) == 81
    finally:
        sys.path.remove(str(project))
        sys.modules.pop("mathlib", None)


def test_an_exception_without_an_importable_type_is_a_remote_error(project: Path) -> None:
    def fail() -> None:
        class Private(Exception):
            def __init__(self, a: int, b: int) -> None:  # cannot be rebuilt from its args
                super().__init__(f"{a}/{b}")

        raise Private(1, 2)

    call = remote.spawn(fail)
    with pytest.raises(Exception) as info:
        call.result()
    assert "Private" in str(info.value)


def test_a_handle_is_rebuilt_from_the_task_id(project: Path) -> None:
    call = remote.spawn(sorted, ([3, 1, 2],))
    assert remote.RemoteCall.from_id(call.task_id).result() == [1, 2, 3]


def test_arguments_over_the_limit_fail_before_submitting(project: Path) -> None:
    with pytest.raises(ValidationError, match="limit on arguments"):
        remote.spawn(len, (b"x" * (remote.MAX_PAYLOAD_BYTES + 1),))


def test_invoke_runs_a_function_of_a_script_that_does_not_import_flowlib(project: Path) -> None:
    (project / "train.py").write_text(
        "def train_model(path, epochs=1):\n    return f'{path}:{epochs}'\n\n"
        "if __name__ == '__main__':\n    raise SystemExit('not run by invoke')\n"
    )
    assert remote.invoke("train.py", "train_model", args=["data.csv"], kwargs={"epochs": 3}) == (
        "data.csv:3"
    )
