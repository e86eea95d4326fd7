"""A throw-away venv that sees the running interpreter's packages, whatever kind it is.

`python -m venv --system-site-packages` layers a new venv over the *base* interpreter, so run from
inside a venv (or conda env) it cannot see that environment's packages (snakemake, icl_study). Here
the new venv gets a `.pth` file that adds each of the running interpreter's site directories with
`site.addsitedir`, which also runs their own `.pth` files (editable installs rely on them).
Packages installed into the new venv come first on its path; everything else comes from ours.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path


def site_dirs() -> list[str]:
    """The running interpreter's site-packages directories, its own environment's first."""
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def layered_venv(dest: Path) -> str:
    """Create a venv at `dest` over this interpreter's packages; returns its python's path."""
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True, capture_output=True, timeout=300)
    python = dest / "bin" / "python"
    own_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in site_dirs())
    (Path(own_site) / "_layered_over_parent.pth").write_text(lines)
    return str(python)
