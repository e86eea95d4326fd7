"""Pins crash safety: a training job killed with SIGKILL mid-run resumes, when the workflow is rerun,
from its last checkpoint and ends with exactly the weights of an uninterrupted run; a process killed
in the middle of writing a checkpoint leaves the previous one intact; a corrupt or a foreign
checkpoint stops the job with a one-line error naming the file, not a stack trace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from icl_study.checkpoint import CheckpointError, load_checkpoint
from workflow_helpers import REPO, TINY

MODEL = "results/linreg/main/model.pt"
LAST = "results/linreg/main/checkpoints/last.pt"
# Long enough (600 tiny steps, a few seconds) that the kill lands between checkpoints.
OVERRIDE = "linreg:\n  runs: {main: {}}\n  train: {steps: 600, checkpoint_every: 50, log_every: 100}\n"


def _snakemake_cmd(workdir: Path, override: Path) -> list[str]:
    return [sys.executable, "-m", "snakemake", MODEL, "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(REPO / "config.yaml"), str(TINY), str(override)]


def _descendants(pid: int) -> list[int]:
    """All processes below `pid`, from /proc (children files list direct children)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            found += map(int, children)
            queue += map(int, children)
    return found


def _training_pid(snakemake_pid: int) -> int | None:
    for pid in _descendants(snakemake_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"train:train_rule" in cmdline:  # an argv element of python, not bash's whole -c string
            return pid
    return None


def _checkpoint_step(path: Path) -> int:
    try:
        return load_checkpoint(path)["step"]
    except CheckpointError:  # not written yet (renames are atomic, so never half-written)
        return 0


def _kill_training_after(workdir: Path, override: Path, min_step: int) -> int:
    """Run the workflow, SIGKILL the training process once last.pt holds >= min_step; its step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_snakemake_cmd(workdir, override), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while _checkpoint_step(workdir / LAST) < min_step:
        assert proc.poll() is None, f"workflow ended before the kill:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint appeared within 300 s"
        time.sleep(0.05)
    pid = _training_pid(proc.pid)
    assert pid is not None, "training process not found"
    os.kill(pid, signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, f"snakemake did not notice the kill:\n{output[-3000:]}"
    assert not (workdir / MODEL).exists()  # the job never finished
    return load_checkpoint(workdir / LAST)["step"]


def test_sigkilled_training_resumes_to_identical_weights(tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text(OVERRIDE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_snakemake_cmd(straight, override), env=env, check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    killed_at = _kill_training_after(killed, override, min_step=150)
    assert 150 <= killed_at < 600  # killed mid-run, after some checkpoints
    rerun = subprocess.run(_snakemake_cmd(killed, override), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    train_log = (killed / "logs/linreg/main/train.log").read_text()
    resumed = re.search(r"resuming from \S+last\.pt at step (\d+)", train_log)
    assert resumed and int(resumed.group(1)) == killed_at, train_log[-2000:]  # not from step 0
    expected, got = load_checkpoint(straight / MODEL)["model"], load_checkpoint(killed / MODEL)["model"]
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name  # bit-identical on the CPU
    metrics = "results/linreg/main/train_metrics.csv"
    assert (killed / metrics).read_text() == (straight / metrics).read_text()  # no lost or doubled rows


KILLED_DURING_SAVE = """
import os, signal, sys, torch
from icl_study.checkpoint import save_checkpoint
path = sys.argv[1]
save_checkpoint(path, {"step": 1, "run_config": {}, "model": {"w": torch.ones(3)}})
def dying_save(obj, f, *args, **kwargs):
    f.write(b"the first bytes of a checkpoint")  # part of the new file reaches the disk...
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # ...when the process is killed
torch.save = dying_save
save_checkpoint(path, {"step": 2, "run_config": {}, "model": {"w": torch.zeros(3)}})
"""


def test_kill_during_a_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    result = subprocess.run([sys.executable, "-c", KILLED_DURING_SAVE, str(path)], capture_output=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    state = load_checkpoint(path)  # still readable: the half-written file never replaced it
    assert state["step"] == 1 and torch.equal(state["model"]["w"], torch.ones(3))


TRAIN_PARAMS = {"task": "regression", "task_config": {"n_dims": 2, "n_points": 4},
                "model": {"n_layer": 1, "n_head": 2, "d_model": 16, "d_mlp": 16, "n_positions": 8, "n_dims_in": 2},
                "train": {"steps": 5, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 5, "log_every": 5,
                          "device": "cpu"}}


def _train_cli(out_dir: Path) -> subprocess.CompletedProcess:
    """The training rule's command, as the workflow runs it."""
    cmd = [sys.executable, "-m", "icl_study", "train:train_rule", "--params", json.dumps(TRAIN_PARAMS),
           "--out", str(out_dir / "model.pt")]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=300)


@pytest.mark.parametrize("content, reason", [
    ("truncated", "not a readable checkpoint"),  # e.g. a copy cut short
    ("foreign", "not an icl_study checkpoint"),  # a torch file of something else
])
def test_bad_checkpoint_is_refused_with_one_line_naming_it(tmp_path, content, reason):
    bad = tmp_path / "checkpoints" / "last.pt"
    bad.parent.mkdir(parents=True)
    if content == "truncated":
        torch.save({"format": "x", "model": torch.zeros(1000)}, bad)
        bad.write_bytes(bad.read_bytes()[:200])
    else:
        torch.save({"weights": torch.zeros(3), "epoch": 7}, bad)
    result = _train_cli(tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("icl_study: checkpoint error: ") and str(bad) in lines[-1] and reason in lines[-1]
    assert not (tmp_path / "model.pt").exists()


def test_forced_training_rule_retrains_after_a_code_edit(tmp_path):
    """Reproduction: train, edit the package (a learning rate of 0), rerun with
    `--forcerun linreg_train` as the README says: the job must retrain from step 0 (ending at the
    initial weights), not resume the finished run's last.pt at step N of N and rewrite old weights."""
    import shutil

    package = tmp_path / "pkg"
    shutil.copytree(REPO / "icl_study", package / "icl_study", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(package)}  # jobs import the copy
    cmd = [sys.executable, "-m", "snakemake", MODEL, "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path / "run"), "--configfile", str(REPO / "config.yaml"), str(TINY)]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    before = load_checkpoint(tmp_path / "run" / MODEL)["model"]

    train_py = package / "icl_study" / "run_state.py"  # lr_at lives there
    source = train_py.read_text()
    edited = source.replace('    """Linear warmup to `lr`, then cosine decay', '    return 0.0\n    """Linear warmup')
    assert edited != source
    train_py.write_text(edited)
    forced = subprocess.run([*cmd, "--forcerun", "linreg_train"], env=env, capture_output=True, text=True, timeout=600)
    assert forced.returncode == 0, forced.stderr[-3000:]
    train_log = (tmp_path / "run" / "logs/linreg/main/train.log").read_text()
    assert "INFO resuming" not in train_log and "starting at step 0 of" in train_log, train_log[-2000:]
    after = load_checkpoint(tmp_path / "run" / MODEL)["model"]
    # lr 0 from step 0: the weights are the initial ones, far from the trained ones
    assert max((after[name] - before[name]).abs().max().item() for name in before) > 1e-3


def test_rerun_after_snakemake_itself_was_killed_finishes(tmp_path):
    """With the default profile not loaded, a rerun after SIGKILLing Snakemake itself
    (and its jobs) stopped on IncompleteFilesException; `rerun-incomplete` from profiles/default
    reruns the incomplete job instead (after the `--unlock` the README asks for)."""
    override = tmp_path / "override.yaml"
    override.write_text(OVERRIDE)
    workdir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_snakemake_cmd(workdir, override), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while _checkpoint_step(workdir / LAST) < 50:
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the kill"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its job, as a killed terminal session would
    proc.wait(timeout=60)
    # Snakemake complains only about incomplete outputs that exist: as if the kill had come after
    # the job wrote them (a race too narrow to hit on purpose), put half-written ones in place.
    for output in (MODEL, "results/linreg/main/train_metrics.csv"):
        (workdir / output).write_bytes(b"half-written")
    subprocess.run([*_snakemake_cmd(workdir, override), "--unlock"], env=env, check=True, capture_output=True,
                   timeout=300)
    rerun = subprocess.run(_snakemake_cmd(workdir, override), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert load_checkpoint(workdir / MODEL)["step"] == 600  # the job reran and finished
