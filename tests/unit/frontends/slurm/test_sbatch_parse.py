"""Reading #SBATCH headers as sbatch 22.05 does (each rule here was checked on real SLURM;
tests/integration/test_sbatch_oracle.py re-checks the corpus against it)."""

from __future__ import annotations

import pytest

from flowlib.errors import ValidationError
from flowlib.frontends.slurm import UNLIMITED, SbatchScript, parse_sbatch, split_words


def sbatch(*header: str, body: str = "python train.py\n") -> SbatchScript:
    text = "#!/bin/bash\n" + "".join(f"{line}\n" for line in header) + body
    return parse_sbatch(text, source="job.sbatch")


def test_long_short_attached_and_spaced_forms_mean_the_same() -> None:
    for header in (
        ("#SBATCH --time=60 --nodes=2 --job-name=x",),
        ("#SBATCH --time 60 --nodes 2 --job-name x",),
        ("#SBATCH -t 60 -N 2 -J x",),
        ("#SBATCH -t60 -N2 -Jx",),
        ("#SBATCH --time=60", "#SBATCH --nodes=2", "#SBATCH --job-n=x"),  # unique prefixes
    ):
        s = sbatch(*header)
        assert (s.time_minutes, s.num_nodes, s.name) == (60, 2, "x"), header


def test_only_the_header_counts_and_late_directives_are_kept_as_warnings() -> None:
    s = sbatch(
        "# a comment",
        "",
        "   # an indented comment",
        "#SBATCH -J before",
        body="echo hi\n#SBATCH -J after\n",
    )
    assert s.name == "before"
    assert [d.line for d in s.late_directives] == [7]
    assert "ignored" in s.warnings[0]


def test_near_misses_are_comments_not_directives() -> None:
    s = sbatch("# SBATCH -J a", "#sbatch -J b", "##SBATCH -J c", "  #SBATCH -J d")
    assert s.job_name is None and s.name == "job.sbatch"


def test_slurm_magic_word_is_read_with_a_warning() -> None:
    s = sbatch("#SLURM --job-name=old")
    assert s.name == "old"
    assert "#SLURM" in s.warnings[0]


def test_quotes_escapes_and_comments_split_like_sbatch() -> None:
    assert split_words(" --comment=\"a b\" -J 'c d'") == ["--comment=a b", "-J", "c d"]
    assert split_words(' --job-name=x"y z"w') == ["--job-name=xy zw"]
    assert split_words(r" --job-name=a\"b") == ['--job-name=a"b']
    assert split_words(" --comment=x#y -J z") == ["--comment=x"]
    assert split_words(' --comment="x#y"') == ["--comment=x#y"]


def test_the_last_value_wins() -> None:
    s = sbatch("#SBATCH -N 2 -N 3", "#SBATCH --nodes=2-4 -t 5", "#SBATCH -t 9")
    assert (str(s.nodes), s.time_minutes) == ("2-4", 9)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("45", 45),
        ("1:30", 2),
        ("0:30", 1),
        ("12:30:00", 750),
        ("1-02", 1560),
        ("2-12:30", 3630),
        ("1-02:03:04", 1564),
        ("UNLIMITED", UNLIMITED),
        ("0", UNLIMITED),
    ],
)
def test_every_slurm_time_format(text: str, minutes: int) -> None:
    assert sbatch(f"#SBATCH --time={text}").time_minutes == minutes


@pytest.mark.parametrize(
    ("text", "mb"), [("500M", 500), ("1000", 1000), ("2G", 2048), ("512K", 1), ("1T", 1048576)]
)
def test_memory_units(text: str, mb: int) -> None:
    assert sbatch(f"#SBATCH --mem={text}").mem_mb == mb


def test_gpu_requests_per_node() -> None:
    assert str(sbatch("#SBATCH --gres=gpu:a100:2").gpu_request_per_node) == "a100:2"
    assert str(sbatch("#SBATCH --gres=gpu").gpu_request_per_node) == "1"
    assert str(sbatch("#SBATCH --gpus-per-node=h100:4").gpu_request_per_node) == "h100:4"
    assert str(sbatch("#SBATCH --gpus=8 -N 2").gpu_request_per_node) == "4"
    assert str(sbatch("#SBATCH --gpus-per-task=1 --ntasks-per-node=4").gpu_request_per_node) == "4"
    assert sbatch("#SBATCH --gres=shard:1").gpu_request_per_node is None


def test_arrays_ranges_steps_lists_and_throttle() -> None:
    s = sbatch("#SBATCH --array=1,3,5-9:2%2")
    assert s.array is not None
    assert (s.array.indices, s.array.throttle) == ((1, 3, 5, 7, 9), 2)


def test_tasks_and_nodes_follow_slurm() -> None:
    assert (sbatch().num_nodes, sbatch().num_tasks) == (1, 1)
    s = sbatch("#SBATCH --ntasks=4 --ntasks-per-node=2")
    assert (s.num_nodes, s.num_tasks) == (2, 4)
    assert sbatch("#SBATCH --nodes=2-4").num_tasks == 2


def test_pbs_and_bsub_lines_override_sbatch_whatever_their_order() -> None:
    s = sbatch("#PBS -N pbsname", "#SBATCH --job-name=sb --time=5", "#PBS -l walltime=00:20:00")
    assert (s.name, s.time_minutes) == ("pbsname", 20)
    assert sbatch("#SBATCH --ignore-pbs -J kept", "#PBS -N dropped").name == "kept"
    b = sbatch("#BSUB -J bname", "#BSUB -W 1:30", "#BSUB -n 3")
    assert (b.name, b.time_minutes, b.num_tasks) == ("bname", 90, 3)


def test_a_pbs_node_count_in_unicode_digits_is_an_invalid_node_count() -> None:
    assert sbatch("#PBS -l nodes=2:ppn=3").num_tasks == 6
    with pytest.raises(ValidationError, match="invalid node count"):  # not int('²')
        sbatch("#PBS -l nodes=²:ppn=2")


def test_flags_and_cluster_settings_are_read() -> None:
    s = sbatch(
        "#SBATCH --exclusive --no-requeue -H --nice=10 --qos=normal -A lab",
        "#SBATCH --dependency=afterok:1 --mail-type=END --mail-user=a@b.c --signal=B:USR1@60",
    )
    assert (s.exclusive, s.requeue, s.hold, s.nice) == (True, False, True, 10)
    assert (s.qos, s.account, s.dependency, s.signal) == ("normal", "lab", "afterok:1", "B:USR1@60")


@pytest.mark.parametrize(
    ("directive", "reason"),
    [
        ("--bogus=1", "unrecognized option"),
        ("--ti=7", "ambiguous"),
        ("--time=1:2:3:4", "invalid time"),
        ("--time=abc", "invalid time"),
        ("--mem=1.5G", "invalid memory"),
        ("--mem=1G --mem-per-cpu=100", "mutually exclusive"),
        ("--array=3-1", "invalid array"),
        ("--nodes=0", "invalid node count"),
        ("-N 2 extra", "invalid directive"),
        ('--job-name="open', "unterminated"),
        ("--ntasks", "requires an argument"),
        ("--exclusive=user --hold=1", "doesn't allow an argument"),
    ],
)
def test_malformed_directives_name_the_line(directive: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as err:
        sbatch("# header", f"#SBATCH {directive}")
    assert err.value.message.startswith("job.sbatch:3:")
    assert err.value.context["line"] == 3


def test_a_script_needs_a_shebang_and_a_command() -> None:
    with pytest.raises(ValidationError, match="must start with #!"):
        parse_sbatch("#SBATCH -t 5\necho hi\n")
    with pytest.raises(ValidationError, match="no command"):
        parse_sbatch("#!/bin/bash\n#SBATCH -t 5\n\n# only comments\n")


def test_a_misspelled_directive_suggests_the_option_meant() -> None:
    with pytest.raises(ValidationError) as err:
        sbatch("#SBATCH --job-nme=train")
    assert err.value.message.endswith("did you mean --job-name?")
    assert err.value.suggestions[0] == "write: #SBATCH --job-name=train"


def test_an_option_like_no_other_has_no_guess() -> None:
    with pytest.raises(ValidationError) as err:
        sbatch("#SBATCH --zzzzqqq=1")
    assert "did you mean" not in err.value.message
