"""Whatever the header holds, only FlowError escapes the parser and the translation."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from flowlib.errors import FlowError
from flowlib.frontends import slurm
from flowlib.frontends.slurm import parse_sbatch, translate_sbatch

_WORDS = st.sampled_from(
    [
        "--time=",
        "-t",
        "--mem=",
        "--gres=gpu:",
        "--array=",
        "-N",
        "--nodes=",
        "-n",
        "--export=",
        "--gpus=",
        "-J",
        "--constraint=",
        "-p",
        "--",
        "'",
        '"',
        "\\",
        "#",
        "%",
        ":",
        "-",
        ",",
        "=",
        "1",
        "0",
        "10",
        "a100",
        "UNLIMITED",
        "1-02:03",
        "G",
        "K",
        " ",
        "\t",
        "x",
    ]
)
_LINE = st.lists(_WORDS, max_size=8).map("".join)
_PREFIX = st.sampled_from(["#SBATCH ", "#SBATCH", "#PBS ", "#BSUB ", "#SLURM ", "# ", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_PREFIX, _LINE), max_size=6), st.text(max_size=30))
def test_only_flow_errors_escape(header: list[tuple[str, str]], body: str) -> None:
    text = "#!/bin/bash\n" + "".join(p + line + "\n" for p, line in header) + body
    with contextlib.suppress(FlowError):
        translate_sbatch(parse_sbatch(text), default_gpu="a100")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_flow_errors(text: str) -> None:
    with contextlib.suppress(FlowError):
        parse_sbatch("#!/bin/sh\n#SBATCH " + text)


def test_all_is_unique_and_every_name_resolves() -> None:
    assert len(slurm.__all__) == len(set(slurm.__all__))
    for name in slurm.__all__:
        assert getattr(slurm, name) is not None
