"""`data=` and `outputs=` before anything is looked up: shapes, names, overlaps."""

from __future__ import annotations

import pytest

from flowlib.data import DEFAULT_VOLUME_GB, expand, parse_data, parse_s3_url
from flowlib.describe import data_mounts, wanted_features
from flowlib.errors import ValidationError
from flowlib.models import MountSpec, TaskConfig, VolumeSpec


def test_a_url_alone_is_mounted_at_data() -> None:
    [mount] = parse_data("s3://bucket/dataset")
    assert (mount.source, mount.target, mount.mount_type) == (
        "s3://bucket/dataset",
        "/data",
        "s3fs",
    )


def test_a_mapping_gives_each_source_its_mount_path_and_kind() -> None:
    mounts = parse_data(
        {"/datasets": "s3://ml-bucket/imagenet", "/models": "volume://pretrained", "/ref": "/srv/x"}
    )
    assert [(m.target, m.mount_type) for m in mounts] == [
        ("/datasets", "s3fs"),
        ("/models", "volume"),
        ("/ref", "bind"),
    ]


def test_mount_specs_pass_through_and_flow_uses_the_same_parser() -> None:
    spec = MountSpec(source="s3://b-1/x", target="/x", read_only=True)
    assert parse_data(spec) == [spec] == parse_data([spec]) == data_mounts([spec])


def test_the_mount_type_follows_the_source_unless_given() -> None:
    assert MountSpec(source="s3://bkt/x", target="/d").mount_type == "s3fs"
    assert MountSpec(source="volume://v", target="/d").mount_type == "volume"
    assert MountSpec(source="my-volume", target="/d", mount_type="volume").mount_type == "volume"


def test_a_contradicting_mount_type_is_refused_with_the_right_one() -> None:
    with pytest.raises(ValidationError) as err:
        MountSpec(source="s3://bkt/x", target="/d", mount_type="bind")
    assert err.value.suggestions == ["leave mount_type out: flowlib picks 's3fs' for this source"]


def test_the_references_readonly_option_means_read_only() -> None:
    assert MountSpec(source="s3://bkt/x", target="/d", options={"readonly": True}).read_only


@pytest.mark.parametrize("source", ["gs://bucket/x", "https://example.com/x", "hdfs://x/y"])
def test_unsupported_schemes_are_refused(source: str) -> None:
    with pytest.raises(ValidationError, match="is not supported"):
        MountSpec(source=source, target="/d")


def test_a_cache_key_is_a_plain_name() -> None:
    with pytest.raises(ValidationError, match="cache_key"):
        MountSpec(source="s3://bkt/x", target="/d", cache_key="../escape")


@pytest.mark.parametrize(
    ("url", "bucket", "key", "prefix"),
    [
        ("s3://my-bucket", "my-bucket", "", True),
        ("s3://my-bucket/", "my-bucket", "", True),
        ("s3://my-bucket/a/b/", "my-bucket", "a/b/", True),
        ("s3://my.bucket/a/file.csv", "my.bucket", "a/file.csv", False),
    ],
)
def test_s3_urls_split_into_bucket_and_key(url: str, bucket: str, key: str, prefix: bool) -> None:
    parsed = parse_s3_url(url)
    assert (parsed.bucket, parsed.key, parsed.is_prefix) == (bucket, key, prefix)


@pytest.mark.parametrize("url", ["s3://Bad_Bucket/x", "s3://ab/x", "s3:///x", "s3://a..b/x"])
def test_bucket_names_s3_would_refuse_are_refused_here(url: str) -> None:
    with pytest.raises(ValidationError, match="not a valid S3 bucket name"):
        parse_s3_url(url)


def test_dot_dot_in_a_key_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"'\.\.'"):
        parse_s3_url("s3://bucket/a/../b")


def test_volume_mounts_become_volumes_that_are_created_when_missing() -> None:
    config = TaskConfig(
        command="true",
        data_mounts=parse_data({"/models": "volume://pretrained", "/data": "s3://bkt/d"}),
    )
    out = expand(config)
    assert [m.target for m in out.data_mounts] == ["/data"]
    assert out.volumes == [
        VolumeSpec(name="pretrained", mount_path="/models", size_gb=DEFAULT_VOLUME_GB)
    ]


def test_a_volume_mount_may_say_its_size() -> None:
    mount = MountSpec(source="volume://big", target="/big", options={"size_gb": 500})
    out = expand(TaskConfig(command="true", data_mounts=[mount]))
    assert out.volumes[0].size_gb == 500


def test_a_volume_url_must_name_a_volume() -> None:
    with pytest.raises(ValidationError, match="does not name a volume"):
        expand(TaskConfig(command="true", data_mounts=parse_data({"/m": "volume://a/b c"})))


@pytest.mark.parametrize(
    ("data", "outputs", "message"),
    [
        ({"/data": "s3://bkt/a", "/data/sub": "s3://bkt/b"}, {}, "overlap"),
        ({"/data": "s3://bkt/a"}, {"/data": "s3://bkt/out"}, "overlap"),
        ({"/workspace/data": "s3://bkt/a"}, {}, "working directory"),
        ({"/etc": "s3://bkt/a"}, {}, "would hide the machine's /etc"),
        ({"/data": "relative/path"}, {}, "neither a URL nor an absolute path"),
    ],
)
def test_mount_paths_are_checked_before_any_lookup(
    data: dict[str, str], outputs: dict[str, str], message: str
) -> None:
    config = TaskConfig(command="true", data_mounts=parse_data(data), outputs=outputs)
    with pytest.raises(ValidationError, match=message):
        expand(config)


def test_outputs_map_absolute_directories_to_s3_urls() -> None:
    config = TaskConfig(command="true", outputs={"/results": "s3://bkt/run1"})
    assert config.outputs == {"/results": "s3://bkt/run1"}
    with pytest.raises(ValidationError, match="not an s3:// URL"):
        TaskConfig(command="true", outputs={"/results": "/tmp/out"})
    with pytest.raises(ValidationError, match="absolute directory"):
        TaskConfig(command="true", outputs={"results": "s3://bkt/x"})


def test_the_features_a_task_wants_follow_its_data() -> None:
    volumes_only = TaskConfig(command="true", data_mounts=parse_data({"/m": "volume://m"}))
    assert wanted_features(volumes_only) == ["volumes", "volume_mounts"]
    s3 = TaskConfig(command="true", data_mounts=parse_data("s3://bkt/d"))
    assert wanted_features(s3) == ["data_mounts"]
    outputs = TaskConfig(command="true", outputs={"/r": "s3://bkt/r"})
    assert wanted_features(outputs) == ["data_mounts"]
