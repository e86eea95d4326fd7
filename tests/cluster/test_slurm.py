"""Pins the SLURM promise: the tiny-config workflow runs through a real SLURM scheduler with
`--profile workflow/profiles/slurm`, every non-local job goes through sbatch and completes, the
training job's GPU request is really scheduled (fake GPU gres), and every output exists.

It runs one study's chain (train -> evaluate -> figure) rather than the whole tiny DAG: the profile
and the scheduler do not depend on the study, the whole DAG is run locally by test_workflow.py, and
this keeps the test near two minutes on the 2-core machine.

The module starts a real one-node SLURM (tests/cluster/start.sh: Debian packages, munge, mariadb,
slurmdbd, slurmctld, slurmd, all on 127.0.0.1) and stops what it started by PID. The executor
plugin goes into a throw-away venv layered over this environment (tests/python_envs.py; it sees this
interpreter's packages whether that is a venv, conda or the system Python): installed in the main
environment it would slow every snakemake call by ~10 s whenever no controller is running.
Skipped, with the reason, only where the daemons cannot be installed or started (not root, no apt).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from python_envs import layered_venv
from workflow_helpers import REPO, TINY

CLUSTER = Path(__file__).resolve().parent  # install.sh, start.sh, stop.sh
CONFIGS = (REPO / "config.yaml", TINY)
TARGET = "results/figures/linreg_error_vs_k.png"  # linreg_train -> linreg_errors -> the figure
TRAIN_RULE = "linreg_train"  # the test asks SLURM for a GPU for this rule's job


def _controller_up() -> bool:
    if not shutil.which("scontrol"):
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    return "UP" in ping.stdout


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node SLURM; stopped afterwards if this fixture started it."""
    if os.geteuid() != 0:
        pytest.skip("SLURM test: needs root to install and start the slurm daemons")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("SLURM test: slurm is not installed and there is no apt-get to install it")
    started_here = not _controller_up()
    start = subprocess.run(["bash", str(CLUSTER / "start.sh")], capture_output=True, text=True, timeout=900)
    if start.returncode != 0:
        pytest.skip(f"SLURM test: the daemons could not start: {(start.stderr or start.stdout).strip()[-500:]}")
    yield
    if started_here:
        subprocess.run(["bash", str(CLUSTER / "stop.sh")], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory) -> str:
    """A venv layered over this interpreter's packages, with the SLURM executor plugin added."""
    python = layered_venv(tmp_path_factory.mktemp("slurm_venv"))
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "snakemake-executor-plugin-slurm>=2.7"],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, f"could not install the SLURM executor plugin:\n{pip.stderr[-2000:]}"
    return python


def _snakemake(python: str, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [python, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", *map(str, CONFIGS)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, plugin_python, tmp_path_factory):
    """The tiny workflow run through SLURM with the repository's profile: (workdir, log text)."""
    workdir = tmp_path_factory.mktemp("slurm_run")
    run = _snakemake(plugin_python, workdir, TARGET, "--profile", str(REPO / "workflow" / "profiles" / "slurm"),
                     # Test-only: poll SLURM every few seconds instead of the profile's cluster pace,
                     # and ask for a GPU for training so the fake gres is really scheduled.
                     "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
                     "--set-resources", f"{TRAIN_RULE}:gpu=1")
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"snakemake on SLURM failed ({run.returncode}):\n{log[-5000:]}"
    return workdir, log


def _sacct(slurm_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{slurm job id: (state, allocated TRES)} for the jobs' allocations."""
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,AllocTRES", "-j", ",".join(slurm_ids)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return {job: (state, tres) for job, state, tres in (line.split("|") for line in out.splitlines() if line)}


def test_every_cluster_job_went_through_sbatch_and_completed(slurm_run):
    """Each job Snakemake ran off the login node has an sbatch submission that SLURM lists as COMPLETED;
    the only jobs not submitted are the declared local rules (figures)."""
    _, log = slurm_run
    # Snakemake announces each job as "rule NAME:" (cluster) or "localrule NAME:" (here), then "jobid: N".
    announced = re.findall(r"^\[.*\]\n(localrule|rule) (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", log, re.M)
    remote = {jobid: rule for kind, rule, jobid in announced if kind == "rule"}
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    assert TRAIN_RULE in remote.values(), f"the training job was not sent to SLURM:\n{log[-3000:]}"
    assert set(remote) == set(submitted)  # every cluster job got exactly one sbatch
    assert {rule for kind, rule, _ in announced if kind == "localrule"} <= {"all"} | {
        rule for _, rule, _ in announced if rule.startswith("fig_")}  # nothing else ran locally
    accounting = _sacct(list(submitted.values()))
    for jobid, slurm_id in submitted.items():
        state, tres = accounting[slurm_id]
        assert state == "COMPLETED", f"{remote[jobid]} (SLURM job {slurm_id}) ended {state}"
        if remote[jobid] == TRAIN_RULE:
            assert "gres/gpu=1" in tres, f"training job {slurm_id} got no GPU: {tres}"


def test_every_output_exists(slurm_run):
    """Every output file of the target's DAG exists after the SLURM run (listed by `--summary`)."""
    workdir, _ = slurm_run
    summary = _snakemake(sys.executable, workdir, TARGET, "--summary")
    assert summary.returncode == 0, summary.stderr[-2000:]
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:] if line.strip()]
    assert rows, summary.stdout
    for output_file, *_ in rows:
        assert (workdir / output_file).is_file(), f"{output_file} is missing after the SLURM run"
        assert (workdir / output_file).stat().st_size > 0, f"{output_file} is empty"
