"""`flow run --data / --output / --volume`: the command line's form of ``data=``, ``outputs=``
and volumes, read by the same parser as ``flowlib.run(data=...)``."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib.cli._options import parse_data_options, task_config
from flowlib.cli._parser import parse_args
from flowlib.data import expand
from flowlib.errors import FlowError, ValidationError
from flowlib.models import MountSpec, VolumeSpec


def config_of(*argv: str):  # type: ignore[no-untyped-def]
    return task_config(parse_args(["run", *argv]))


def test_a_bare_url_is_mounted_at_data_as_flowlib_run_does() -> None:
    config = config_of("--data", "s3://bucket/ds", "python", "train.py")
    assert config.data_mounts == [
        MountSpec(source="s3://bucket/ds", target="/data", mount_type="s3fs")
    ]
    assert config.command == ["python", "train.py"]


def test_repeated_options_give_paths_volumes_and_outputs() -> None:
    config = config_of(
        "--data", "/datasets=s3://bucket/imagenet",
        "--data", "/cache=volume://build-cache",
        "--data", "/ref=/shared/reference",
        "--volume", "pretrained:/models",
        "--output", "/results=s3://bucket/runs/1",
        "--output", "/ckpt=s3://bucket/ckpt/1",
        "python train.py",
    )  # fmt: skip
    kinds = {m.target: (m.mount_type, m.source) for m in config.data_mounts}
    assert kinds == {
        "/datasets": ("s3fs", "s3://bucket/imagenet"),
        "/cache": ("volume", "volume://build-cache"),
        "/ref": ("bind", "/shared/reference"),
        "/models": ("volume", "volume://pretrained"),
    }
    assert config.outputs == {"/results": "s3://bucket/runs/1", "/ckpt": "s3://bucket/ckpt/1"}
    expanded = expand(config)  # the volumes become VolumeSpecs, as for flowlib.run(data=...)
    assert {v.name: v.mount_path for v in expanded.volumes} == {
        "build-cache": "/cache",
        "pretrained": "/models",
    }
    assert all(isinstance(v, VolumeSpec) for v in expanded.volumes)


def test_a_url_with_an_equals_sign_in_its_key_is_one_source() -> None:
    fields = parse_data_options(["s3://bucket/table/year=2024/"])
    assert [(m.target, m.source) for m in fields["data_mounts"]] == [
        ("/data", "s3://bucket/table/year=2024/")
    ]


def test_options_add_to_a_task_files_data_and_outputs(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        "command: python train.py\n"
        "data_mounts: [{source: 's3://bucket/a', target: /a}]\n"
        "outputs: {/out: 's3://bucket/out'}\n"
    )
    config = config_of(str(job), "--data", "/b=s3://bucket/b", "--output", "/o2=s3://bucket/o2")
    assert [m.target for m in config.data_mounts] == ["/a", "/b"]
    assert config.outputs == {"/out": "s3://bucket/out", "/o2": "s3://bucket/o2"}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--data", "dataset"], "--data 'dataset'"),
        (["--data", "/a=s3://bucket/x", "--data", "/a=s3://bucket/y"], "/a already has data"),
        (["--volume", "pretrained"], "not NAME:PATH"),
        (["--volume", "pretrained:models"], "not NAME:PATH"),
        (["--output", "s3://bucket/out"], "not DIR=URL"),
        (["--output", "results=s3://bucket/out"], "not DIR=URL"),
    ],
)
def test_malformed_specs_are_validation_errors_with_an_example(argv: list[str], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        config_of(*argv, "true")
    assert words in err.value.message and err.value.suggestions


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--data", "/x=ftp://host/file"], "ftp:// is not supported"),
        (["--data", "/x=relative/dir"], "neither a URL nor an absolute path"),
        (["--output", "/o=gs://bucket/o"], "not an s3:// URL"),
        (["--data", "s3://Bad_Bucket/x"], "not a valid S3 bucket name"),
    ],
)
def test_what_a_source_means_is_checked_by_the_data_parser(argv: list[str], words: str) -> None:
    with pytest.raises(FlowError, match=words) as err:
        expand(config_of(*argv, "true"))  # as check_and_prepare does, before anything exists
    assert err.value.suggestions
