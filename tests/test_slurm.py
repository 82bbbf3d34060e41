"""The workflow on a real Slurm cluster, through workflow/profiles/slurm.

tests/slurm/local-slurm.sh installs Debian's Slurm and starts a one-node cluster on this machine, shaped
like a GPU node, with accounting. The tiny demo then runs with the profile, and Slurm's accounting must
show every job with the partition, account, time limit, memory, CPUs and GPUs that the profile and the
rules ask for. Needs root, as CI has.
"""

import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from workflow_runs import REPO, TINY, copy_checkout, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

CLUSTER_SCRIPT = REPO / "tests" / "slurm" / "local-slurm.sh"
PROFILE = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
# The profile reads its partitions and account from these variables, and the script names its partitions
# and account after them too.
SLURM_NAMES = {
    "QACLIMS_SLURM_PARTITION": "cpu",
    "QACLIMS_SLURM_GPU_PARTITION": "gpu",
    "QACLIMS_SLURM_ACCOUNT": "qaclims",
}


def cluster_script(command: str) -> subprocess.CompletedProcess:
    # Installing the packages may wait for another apt to let go of its lock.
    return subprocess.run(["bash", str(CLUSTER_SCRIPT), command], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **SLURM_NAMES})


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node Slurm cluster; its daemons are stopped afterwards, whatever happened."""
    try:
        began = time.monotonic()
        started = cluster_script("start")
        if started.returncode != 0:
            pytest.fail(f"local-slurm.sh start failed (exit {started.returncode}):\n{started.stdout}{started.stderr}")
        print(f"Slurm cluster started in {time.monotonic() - began:.0f} s")
        yield
    finally:
        stopped = cluster_script("stop")
        if stopped.returncode != 0:
            pytest.fail(f"local-slurm.sh stop failed (exit {stopped.returncode}):\n{stopped.stdout}{stopped.stderr}")


@dataclass
class SlurmRun:
    workdir: Path
    result: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """The tiny demo, run to the end through the Slurm profile."""
    root = tmp_path_factory.mktemp("slurm")
    checkout = copy_checkout(root / "checkout")
    workdir = root / "work"
    workdir.mkdir()
    tiny = write_config(root / "tiny.yaml", TINY)
    # No --cores, as on a login node: Snakemake would cap every Slurm job's threads at it. Only the
    # first status check comes sooner than the plugin's 40 s; the rest is the profile's.
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"),
               "--directory", str(workdir), "--configfile", tiny,
               "--workflow-profile", str(checkout / "workflow" / "profiles" / "slurm"),
               "--slurm-init-seconds-before-status-checks", "2"]
    began = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500, env={**os.environ, **SLURM_NAMES})
    print(f"workflow on Slurm ran in {time.monotonic() - began:.0f} s")
    return SlurmRun(workdir, result)


@dataclass
class LoggedJob:
    """A job as Snakemake's log describes it when it schedules it."""

    rule: str
    local: bool
    jobid: str
    threads: int
    resources: dict[str, str]


JOB_HEADER = re.compile(r"^(local)?rule (\w+):$")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


def logged_jobs(log: str) -> list[LoggedJob]:
    """Each job block of the log: a `rule NAME:` line, then indented `key: value` lines."""
    blocks = []
    for line in log.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            blocks.append({"rule": header[2], "local": bool(header[1])})
        elif blocks and line.startswith("    ") and "rule" in blocks[-1] and ": " in line:
            key, value = line.strip().split(": ", 1)
            blocks[-1].setdefault(key, value)
    return [LoggedJob(block["rule"], block["local"], block["jobid"], int(block.get("threads", 1)),
                      dict(item.split("=", 1) for item in block.get("resources", "").split(", ") if "=" in item))
            for block in blocks]


def planned_counts(log: str) -> Counter:
    """The jobs of each rule in the `Job stats:` table that Snakemake prints before it starts."""
    table = log.split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({row[1]: int(row[2]) for row in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)})


def accounting(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """Slurm's accounting record of each job: state, partition, account, time limit and allocated TRES."""
    fields = ["JobIDRaw", "State", "Partition", "Account", "TimelimitRaw", "AllocTRES"]
    result = subprocess.run(["sacct", "--allocations", "--noheader", "--parsable2", "--units=M",
                             "--jobs", ",".join(job_ids), "--format", ",".join(fields)],
                            capture_output=True, text=True, timeout=60, check=True)
    records = [dict(zip(fields, line.split("|"))) for line in result.stdout.splitlines()]
    return {record["JobIDRaw"]: record for record in records}


def allocated(record: dict[str, str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in record["AllocTRES"].split(","))


def expected_cpus(job: LoggedJob) -> int:
    """The plugin asks for cpus_per_gpu per GPU when a GPU job sets it, and for the threads otherwise."""
    gpus = int(job.resources.get("gpu", 0))
    if gpus and "cpus_per_gpu" in job.resources:
        return gpus * int(job.resources["cpus_per_gpu"])
    return job.threads


def log_tail(run: SlurmRun) -> str:
    return run.result.stderr[-6000:]


def test_the_workflow_finishes_on_slurm(slurm_run):
    assert slurm_run.result.returncode == 0, log_tail(slurm_run)
    for output in ("eval/seg.json", "eval/pseudo.json", "eval/ritc/cam.json", "corpus/corpus.parquet"):
        assert (slurm_run.workdir / "results" / output).is_file(), output


def test_every_job_but_all_is_one_slurm_job(slurm_run):
    log = slurm_run.result.stderr
    jobs = logged_jobs(log)
    assert [job.rule for job in jobs if job.local] == ["all"]
    planned = planned_counts(log)
    assert planned.pop("all") == 1
    assert Counter(job.rule for job in jobs if not job.local) == planned, log_tail(slurm_run)
    submissions = Counter(match[1] for match in SUBMITTED.finditer(log))
    # One submission each: a resubmitted job would have run at a later attempt's time limit.
    assert submissions == Counter(job.jobid for job in jobs if not job.local), log_tail(slurm_run)


def test_slurm_gives_each_job_what_the_profile_and_rules_ask(slurm_run):
    log = slurm_run.result.stderr
    slurm_ids = {match[1]: match[2] for match in SUBMITTED.finditer(log)}
    jobs = [job for job in logged_jobs(log) if not job.local]
    records = accounting([slurm_ids[job.jobid] for job in jobs])
    for job in jobs:
        record = records[slurm_ids[job.jobid]]
        gpus = int(job.resources.get("gpu", 0))
        partition = SLURM_NAMES["QACLIMS_SLURM_GPU_PARTITION" if gpus else "QACLIMS_SLURM_PARTITION"]
        assert (record["State"], record["Partition"], record["Account"]) == (
            "COMPLETED", partition, SLURM_NAMES["QACLIMS_SLURM_ACCOUNT"]), (job, record)
        # The log shows the runtime at the first attempt, so the time limit is the rule's or the profile's.
        assert record["TimelimitRaw"] == job.resources["runtime"], (job, record)
        tres = allocated(record)
        assert tres["mem"] == f"{job.resources['mem_mb']}M", (job, record)
        assert int(tres["cpu"]) == expected_cpus(job), (job, record)
        assert int(tres.get("gres/gpu", 0)) == gpus, (job, record)


def test_the_profile_reaches_every_job(slurm_run):
    """The profile's own numbers, read from its file: GPU rules get its cpus_per_gpu, and CPU rules, which
    declare no time limit, its default runtime at the first attempt."""
    jobs = [job for job in logged_jobs(slurm_run.result.stderr) if not job.local]
    gpu_rules = {job.rule for job in jobs if int(job.resources.get("gpu", 0))}
    assert gpu_rules == set(PROFILE["set-resources"])
    default_runtime = eval(PROFILE["default-resources"]["runtime"], {"attempt": 1})
    for job in jobs:
        if job.rule in gpu_rules:
            assert job.resources["cpus_per_gpu"] == str(PROFILE["set-resources"][job.rule]["cpus_per_gpu"]), job
        else:
            assert job.resources["runtime"] == str(default_runtime), job
