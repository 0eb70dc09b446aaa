"""`flowlib.App`: decorators, Modal's gpu grammar through the catalog, options, CLI arguments."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import flowlib
from flowlib.errors import ValidationError
from flowlib.frontends.app import Function, is_app_target, parse_cli_arguments, resolve_gpu


def test_the_bare_decorator_keeps_name_doc_and_signature() -> None:
    app = flowlib.App("unit")

    @app.function
    def train(lr: float, epochs: int = 3) -> str:
        """Train a model."""
        return f"{lr}:{epochs}"

    assert isinstance(train, Function)
    assert train.__name__ == "train" and train.__doc__ == "Train a model."
    assert str(inspect.signature(train)) == "(lr: 'float', epochs: 'int' = 3) -> 'str'"
    assert app.registered_functions == {"train": train}


def test_local_and_a_direct_call_run_the_function_here() -> None:
    app = flowlib.App()

    @app.function(gpu="A100", retries=2)
    def add(a: int, b: int) -> int:
        return a + b

    assert add.local(2, 3) == 5 and add(4, 5) == 9
    assert add.options.retries.max_retries == 2 and add.options.gpu == "A100"


def test_modal_gpu_strings_resolve_to_catalog_instance_types() -> None:
    (four,) = resolve_gpu("A100-80GB:4")
    assert four.startswith("a100-80gb.") and four.endswith(".4x")
    (eight,) = resolve_gpu("H100:8")
    assert eight.startswith("h100-") and eight.endswith(".8x")


def test_a_gpu_list_keeps_its_fallback_order() -> None:
    chosen = resolve_gpu(["H100:8", "A100:8"])
    assert [c.split("-")[0] for c in chosen] == ["h100", "a100"]


def test_an_unknown_gpu_is_refused_when_decorating() -> None:
    app = flowlib.App()
    with pytest.raises(ValidationError, match="not a GPU model flowlib knows"):
        app.function(gpu="Z9000")(len)


def test_gpu_and_instance_type_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        flowlib.App().function(gpu="A100", instance_type="a100")(len)


def test_a_gpu_count_nothing_sells_names_the_request() -> None:
    with pytest.raises(ValidationError, match="no instance type in the catalog matches"):
        resolve_gpu("T4:64")


def test_volumes_take_modals_mount_path_mapping() -> None:
    fn = flowlib.App().function(volumes={"/data": "datasets", "/ckpt": "vol_abc123"})(len)
    assert fn.options.volumes == (
        {"name": "datasets"},
        {"mount_path": "/ckpt", "volume_id": "vol_abc123"},
    )


def test_with_options_changes_one_option_and_keeps_the_rest() -> None:
    fn = flowlib.App().function(timeout=30, env={"A": "1"})(len)
    other = fn.with_options(timeout=60)
    assert other.options.timeout == 60 and other.options.env == {"A": "1"}
    assert fn.options.timeout == 30


def test_local_entrypoints_register_bare_and_called() -> None:
    app = flowlib.App()

    @app.local_entrypoint()
    def main() -> None: ...

    @app.local_entrypoint
    def other() -> None: ...

    assert app.local_entrypoints == {"main": main, "other": other}


def test_cli_arguments_are_typed_by_the_signature() -> None:
    def job(path: Path, steps: int, lr: float = 0.1, dry_run: bool = False) -> None: ...

    parsed = parse_cli_arguments(
        job, ["--path", "d.csv", "--steps", "3", "--dry-run"], prog="flow run a.py::job"
    )
    assert parsed == {"path": Path("d.csv"), "steps": 3, "lr": 0.1, "dry_run": True}


def test_a_missing_cli_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    def job(steps: int) -> None: ...

    with pytest.raises(SystemExit) as info:
        parse_cli_arguments(job, [], prog="flow run a.py::job")
    assert info.value.code == 2
    assert "required: --steps" in capsys.readouterr().err


def test_app_targets_are_py_files_that_define_an_app(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import flowlib\napp = flowlib.App('x')\n")
    (tmp_path / "train.py").write_text("print('training')\n")
    assert is_app_target(str(tmp_path / "app.py"))
    assert is_app_target("anything.py::fn")
    assert not is_app_target(str(tmp_path / "train.py"))
    assert not is_app_target("job.yaml")


def test_a_function_travels_without_its_app_or_client() -> None:
    import cloudpickle

    app = flowlib.App("heavy")

    @app.function(timeout=5)
    def double(x: int) -> int:
        return 2 * x

    copy = cloudpickle.loads(cloudpickle.dumps(double))
    assert copy.remote is not None and copy.local(4) == 8
    assert copy.app is not app and copy.options == double.options
