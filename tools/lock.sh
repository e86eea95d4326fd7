#!/usr/bin/env bash
# Recompile the locks from pyproject.toml, then the conda env file from the run lock:
#   requirements.lock       the run dependencies (README command 1)
#   requirements-test.lock  the same plus the test extra (README command 2)
#   workflow/envs/icl_study.yaml  for `--sdm conda` users, generated from requirements.lock
# Needs uv (`pip install uv`). The locks are for CPython 3.11 on x86-64 Linux, with hashes; torch is
# the CPU wheel torch==2.13.0+cpu from the machine's pip find-links (/opt/wheels here, or
# FIND_LINKS=<folder or URL>, e.g. https://download.pytorch.org/whl/cpu/torch/). After a recompile,
# install requirements-test.lock and run the tests before committing: the lock is what was tested.
set -euo pipefail
cd "$(dirname "$0")/.."
FIND_LINKS=${FIND_LINKS:-/opt/wheels}
compile() {
    uv pip compile pyproject.toml "$@" --generate-hashes --python-version 3.11 \
        --python-platform x86_64-manylinux_2_28 --find-links "$FIND_LINKS" \
        --index-strategy unsafe-best-match --custom-compile-command tools/lock.sh --quiet
}
compile -o requirements.lock
compile --extra test -o requirements-test.lock
python -m icl_study environment:conda_yaml_rule requirements.lock --out workflow/envs/icl_study.yaml
