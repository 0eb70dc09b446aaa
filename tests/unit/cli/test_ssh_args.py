"""How `flow ssh` and `flow tunnel` read their arguments."""

from __future__ import annotations

import pytest

from flowlib.cli._parser import parse_args


@pytest.mark.parametrize(
    ("argv", "node", "command"),
    [
        (["ssh", "train"], 0, []),
        (["ssh", "train", "--", "echo", "hi"], 0, ["echo", "hi"]),
        (["ssh", "train", "--node", "1", "--", "nvidia-smi"], 1, ["nvidia-smi"]),
        (["ssh", "--node", "2", "train", "ls", "-la"], 2, ["ls", "-la"]),
        (["ssh", "train", "--node=3", "ls", "-la"], 3, ["ls", "-la"]),
        (["ssh", "train", "--node", "1"], 1, []),
    ],
)
def test_flows_options_end_where_the_remote_command_starts(
    argv: list[str], node: int, command: list[str]
) -> None:
    args = parse_args(argv)
    assert (args.task, args.node, args.remote_command) == ("train", node, command)


def test_words_after_the_separator_belong_to_the_command_even_when_they_look_like_options() -> None:
    assert parse_args(["ssh", "t", "--", "--node", "1"]).remote_command == ["--node", "1"]
    assert parse_args(["ssh", "t", "ls", "--", "-la"]).remote_command == ["ls", "--", "-la"]


def test_home_after_the_task_is_still_flows() -> None:
    args = parse_args(["ssh", "t", "--home", "/somewhere", "--", "ls"])
    assert (args.home, args.remote_command) == ("/somewhere", ["ls"])


def test_an_unknown_option_before_the_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["ssh", "t", "--bogus", "--", "ls"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("spec", "ports"), [("8888", (8888, 0)), ("8888:9999", (8888, 9999)), ("6006:0", (6006, 0))]
)
def test_a_tunnel_names_the_tasks_port_and_optionally_the_local_one(
    spec: str, ports: tuple[int, int]
) -> None:
    assert parse_args(["tunnel", "t", spec]).ports == ports


@pytest.mark.parametrize("spec", ["0", "70000", "abc", "8888:x", "8888:70000", ""])
def test_a_port_that_is_not_one_is_a_usage_error(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["tunnel", "t", spec])
    assert "argument PORT[:LOCAL_PORT]" in capsys.readouterr().err
