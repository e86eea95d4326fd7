"""Runs Snakemake on this repository's workflow in a scratch directory (used by workflow tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (in the repository) where importing torch fails: proves
    that what Snakemake imports when it parses the workflow stays torch-free, and so fast."""
    block = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    return subprocess.run([sys.executable, "-c", block + code + "assert 'torch' not in sys.modules\n"],
                          capture_output=True, text=True, cwd=REPO)


def snakemake(workdir: Path, *args: str, configfiles: tuple[Path, ...] = (REPO / "config.yaml", TINY),
              check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """`snakemake <args> --directory workdir --configfile ...`; targets must come first in args."""
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", *map(str, configfiles)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result
