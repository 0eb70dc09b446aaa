"""The oracle: real sbatch reads every corpus script the way flowlib's parser does.

Each script in ``tests/fixtures/sbatch/`` is submitted held (``sbatch --hold``) to the local
single-node SLURM that ``scripts/slurm-up.sh`` brings up; ``scontrol show job -o`` is then
compared field by field with :func:`flowlib.frontends.slurm.parse_sbatch`.

SLURM comes from the session fixture ``slurm_cluster`` (``tests/integration/conftest.py``): started
once per session with ``scripts/slurm-up.sh`` when needed, skipped with the reason where it cannot
be, and a failure instead of a skip under ``FLOWLIB_REQUIRE_SLURM=1`` (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flowlib.frontends.slurm import UNLIMITED, SbatchScript, parse_sbatch

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "tests" / "fixtures" / "sbatch").glob("*.sbatch"))
ACCOUNTS = ("mllab",)
pytestmark = pytest.mark.slow


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "SLURM_"))}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def partition_default_times() -> dict[str, str]:
    """Partition -> the TimeLimit a job without --time gets ("" names the default partition)."""
    out = _run("scontrol", "show", "partition", "-o").stdout
    times: dict[str, str] = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        default = fields.get("DefaultTime", "NONE")
        times[fields["PartitionName"]] = "UNLIMITED" if default == "NONE" else default
        if fields.get("Default") == "YES":
            times[""] = times[fields["PartitionName"]]
    return times


@pytest.fixture(scope="module")
def slurm(slurm_cluster: None) -> dict[str, str]:
    """The session's SLURM (see conftest.py), with the accounts the corpus uses."""
    if shutil.which("sacctmgr") and _run("sacctmgr", "-n", "-P", "list", "cluster").returncode == 0:
        for account in ACCOUNTS:  # slurmdbd replaces unknown accounts silently
            _run("sacctmgr", "-i", "add", "account", account)
            _run("sacctmgr", "-i", "add", "user", "root", f"account={account}")
    return partition_default_times()


def show_job(job_id: str) -> dict[str, str]:
    """``scontrol show job -o`` as a dict; values may hold spaces, keys may hold / and :."""
    out = _run("scontrol", "show", "job", "-o", job_id)
    assert out.returncode == 0, out.stderr
    line = out.stdout.splitlines()[0].strip()
    pairs = re.split(r" (?=[A-Za-z][A-Za-z0-9_/:]*=)", line)
    return {k: val.strip() for k, _, val in (p.partition("=") for p in pairs)}


def _time(minutes: int) -> str:
    if minutes == UNLIMITED:
        return "UNLIMITED"
    days, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def _mb(text: str) -> int:
    number, unit = re.fullmatch(r"([0-9.]+)([KMGT]?)", text).groups()  # type: ignore[union-attr]
    return round(float(number) * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[unit])


def _path(pattern: str | None, s: SbatchScript, job: dict[str, str], user: str) -> str:
    """A --output/--error pattern as sbatch shows it at submit time."""
    array = s.array is not None
    if pattern is None:
        pattern = "slurm-%A_%a.out" if array else "slurm-%j.out"
    swaps = {
        "x": s.name,
        "j": job["JobId"],
        "u": user,
        "A": job.get("ArrayJobId", job["JobId"]),
        "a": "4294967294",
    }
    expanded = re.sub(r"%([xjuAa])", lambda m: swaps[m.group(1)], pattern)
    return expanded if expanded.startswith("/") else f"{job['WorkDir']}/{expanded}"


def expected_fields(
    s: SbatchScript, job: dict[str, str], submit_dir: Path, default_times: dict[str, str]
) -> dict[str, str]:
    """What scontrol should show for every field both sides know."""
    want = {
        "JobName": s.name,
        "NumTasks": str(s.num_tasks),
        "CPUs/Task": str(s.cpus_per_task or 1),
        "NtasksPerN:B:S:C": f"{s.ntasks_per_node or 0}:0:*:*",
        "WorkDir": s.workdir(str(submit_dir)),
        "NumNodes": str(s.nodes) if s.nodes else str(s.num_nodes),
        "Requeue": "0" if s.requeue is False else "1",
        "OverSubscribe": "NO" if s.exclusive else "OK",
    }
    if s.time_minutes is not None:
        want["TimeLimit"] = _time(s.time_minutes)
    else:  # the partition's default: proves late or PBS-overridden --time lines were not read
        want["TimeLimit"] = default_times[s.partition or ""]
    if s.mem_mb is not None:
        want["MinMemoryNode"] = str(s.mem_mb)
    if s.mem_per_cpu_mb is not None:
        want["MinMemoryCPU"] = str(s.mem_per_cpu_mb)
    if s.partition is not None:
        want["Partition"] = s.partition
    if s.account is not None:
        want["Account"] = s.account
    if s.qos is not None and job.get("QOS") not in ("(null)", None):
        want["QOS"] = s.qos
    if s.constraint is not None:
        want["Features"] = s.constraint
    for key, value in (
        ("Comment", s.comment),
        ("MailUser", s.mail_user),
        ("MailType", s.mail_type),
    ):
        if value is not None:
            want[key] = value
    if s.dependency is not None:
        want["Dependency"] = f"{s.dependency}(unfulfilled)"
    if s.nice is not None:
        want["Nice"] = str(s.nice)
    if s.gres:
        want["TresPerNode"] = ",".join(f"gres:{n}:{r}" if r else f"gres:{n}" for n, r in s.gres)
    elif s.gpus_per_node is not None:
        want["TresPerNode"] = f"gres:gpu:{s.gpus_per_node}"
    if s.gpus is not None:
        want["TresPerJob"] = f"gres:gpu:{s.gpus}"
    if s.gpus_per_task is not None:
        want["TresPerTask"] = f"gres:gpu:{s.gpus_per_task}"
    if s.array is not None:
        want["ArrayTaskId"] = ",".join(map(str, s.array.indices))
        if s.array.throttle:
            want["ArrayTaskThrottle"] = str(s.array.throttle)
    user = job["UserId"].split("(")[0]
    want["StdOut"] = _path(s.output, s, job, user)
    want["StdErr"] = _path(s.error if s.error is not None else s.output, s, job, user)
    return want


def _normalised(key: str, shown: str) -> str:
    if key in ("MinMemoryNode", "MinMemoryCPU"):
        return str(_mb(shown))
    if key == "ArrayTaskId":
        indices: list[int] = []
        for part in shown.split("%")[0].split(","):
            low, _, rest = part.partition("-")
            high, _, step = rest.partition(":")
            indices += range(int(low), int(high or low) + 1, int(step or 1))
        return ",".join(map(str, sorted(set(indices))))
    return shown


AGREEMENT: dict[str, int] = {"scripts": 0, "fields": 0}


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_sbatch_reads_the_script_as_flowlib_does(
    slurm: dict[str, str], path: Path, tmp_path: Path
) -> None:
    script = tmp_path / path.name
    (tmp_path / "wd").mkdir()
    (tmp_path / "logs").mkdir()
    jobs: list[str] = []
    try:
        text = _with_own_dependencies(path.read_text(), tmp_path, jobs)
        script.write_text(text)
        submitted = _run("sbatch", "--parsable", "--hold", str(script), cwd=tmp_path)
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip().split(";")[0]
        jobs.append(job_id)
        job = show_job(job_id)
        parsed = parse_sbatch(text, source=path.name)
        want = expected_fields(parsed, job, tmp_path, slurm)
        got = {key: _normalised(key, job.get(key, "<absent>")) for key in want}
        assert got == want
        AGREEMENT["scripts"] += 1
        AGREEMENT["fields"] += len(want)
    finally:
        if jobs:
            _run("scancel", *jobs)


def _with_own_dependencies(text: str, cwd: Path, jobs: list[str]) -> str:
    """The script with each job id its ``--dependency`` names replaced by a held job of this
    test's own: which jobs exist (and whether job 1 was an array) depends on what ran on the
    cluster before, and SLURM shows a dependency on an array job as ``afterok:1_*``."""

    def own_job(match: re.Match[str]) -> str:
        held = _run("sbatch", "--parsable", "--hold", "--wrap", "true", cwd=cwd)
        assert held.returncode == 0, held.stderr
        jobs.append(held.stdout.strip().split(";")[0])
        return f"{match.group(1)}{jobs[-1]}"

    def directive(line: re.Match[str]) -> str:
        return re.sub(r"((?:^|[:,?])(?:after\w*:)?)\d+(?=$|[:,?+\s])", own_job, line.group(0))

    return re.sub(r"(?m)(?<=--dependency=)\S+", directive, text)


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 50
    texts = [p.read_text() for p in CORPUS]
    assert sum("--array" in t for t in texts) >= 4
    assert sum("srun" in t for t in texts) >= 10
    assert any("#PBS" in t for t in texts) and any("#BSUB" in t for t in texts)


def test_sbatch_rejects_what_flowlib_rejects(slurm: dict[str, str], tmp_path: Path) -> None:
    from flowlib.errors import ValidationError

    bad = {
        "unknown": "--bogus=1",
        "bad_time": "--time=1:2:3:4",
        "bad_mem": "--mem=1.5G",
        "two_mem": "--mem=1G --mem-per-cpu=100",
        "ambiguous": "--ti=7",
        "word": "-N 2 extra",
        "quote": '--job-name="open',
        "no_arg": "--ntasks",
    }
    for name, directive in bad.items():
        script = tmp_path / f"{name}.sbatch"
        script.write_text(f"#!/bin/bash\n#SBATCH {directive}\necho hi\n")
        with pytest.raises(ValidationError, match=f"{name}.sbatch:2"):
            parse_sbatch(script.read_text(), source=script.name)
        result = _run("sbatch", "--parsable", "--hold", str(script), cwd=tmp_path)
        assert result.returncode != 0, f"sbatch accepted {directive}"


GPU_CORPUS = [p for p in CORPUS if parse_sbatch(p.read_text(), source=p.name).gpu_request_per_node]


@pytest.mark.parametrize("path", GPU_CORPUS, ids=[p.stem for p in GPU_CORPUS])
def test_sbatch_counts_the_gpus_and_cpus_flowlib_plans_for(
    slurm: dict[str, str], path: Path, tmp_path: Path
) -> None:
    """GPUs per node x nodes of the translated task (what the planner asks offers for) is the
    job's ``gres/gpu`` in SLURM's own TRES; so are its CPUs where ``--cpus-per-task`` is given."""
    from flowlib.catalog import parse_instance_type
    from flowlib.frontends.slurm import translate_sbatch

    (tmp_path / "logs").mkdir()
    script = tmp_path / path.name
    script.write_text(path.read_text())
    submitted = _run("sbatch", "--parsable", "--hold", str(script), cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    try:
        tres = dict(kv.split("=", 1) for kv in show_job(job_id)["TRES"].split(","))
    finally:
        _run("scancel", job_id)
    translation = translate_sbatch(path.read_text(), source=path.name)
    task = translation.tasks[0]
    per_node = task.gpu_count or parse_instance_type(task.instance_type or "").count
    assert per_node is not None
    assert per_node * task.num_instances == int(tres["gres/gpu"])
    parsed = translation.script
    if parsed.cpus_per_task is not None and not parsed.exclusive:
        assert task.min_vcpus is not None
        assert task.min_vcpus * task.num_instances == int(tres["cpu"])
