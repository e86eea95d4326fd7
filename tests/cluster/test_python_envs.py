"""The SLURM test's plugin venv must see the project's packages from a venv, conda or system Python
(it once used --system-site-packages, which inside a venv sees only the base interpreter's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import python_envs
from python_envs import layered_venv

IMPORTS = "import snakemake, icl_study, torch; print(snakemake.__file__)"


def _imports_in(python: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", IMPORTS], capture_output=True, text=True, timeout=120)


def test_layered_venv_sees_this_interpreters_packages(tmp_path):
    python = layered_venv(tmp_path / "plugin")
    result = _imports_in(python)
    assert result.returncode == 0, result.stderr[-2000:]


def test_layered_venv_from_inside_a_venv(tmp_path):
    """The other way round: the interpreter running the tests is a venv (made here, layered over
    this one), and the plugin venv built from *it* still sees snakemake and icl_study."""
    outer = layered_venv(tmp_path / "outer")
    script = ("import sys; sys.path.insert(0, {tests!r}); from pathlib import Path; "
              "from python_envs import layered_venv; print(layered_venv(Path({dest!r})))")
    tests = str(Path(python_envs.__file__).parent)  # where python_envs.py lives
    made = subprocess.run([outer, "-c", script.format(tests=tests, dest=str(tmp_path / "inner"))],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    inner = made.stdout.strip().splitlines()[-1]
    result = _imports_in(inner)
    assert result.returncode == 0, result.stderr[-2000:]
