"""`python -m icl_study <module:function> [inputs ...] --params JSON --out FILE ...`: what rules call.

A rule names one function of the package, relative to `icl_study` (e.g. `studies.linreg:errors`).
Every such *rule entry* has the signature

    fn(inputs: list[str], params: dict, outputs: list[str]) -> None

and receives the rule's config slice as JSON, so Snakemake reruns a job exactly when the slice it
uses changes. Torch threads are limited through the environment before the module is imported, so
a figure entry never pays for importing torch. Errors a user can act on (bad config or data, an
unusable checkpoint, a diverged training run: `config.StudyError`) end with one line,
`icl_study: <kind>: <message>`, and exit status 2, not a stack trace.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import os
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m icl_study", description=__doc__.splitlines()[0])
    parser.add_argument("entry", help="rule entry as module:function under icl_study, e.g. train:train_rule")
    parser.add_argument("inputs", nargs="*", help="input files (checkpoints or tables)")
    parser.add_argument("--params", default="{}", help="the rule's config slice, as JSON")
    parser.add_argument("--out", nargs="*", default=[], help="output file(s)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for this job")
    return parser.parse_args(argv)


def entry_function(entry: str):
    """The function named by `module:function` (module relative to icl_study)."""
    module_name, _, function_name = entry.partition(":")
    if not function_name:
        raise SystemExit(f"icl_study: entry {entry!r} must look like module:function")
    try:
        module = importlib.import_module(f"icl_study.{module_name}")
    except ModuleNotFoundError as err:  # the entry's own module only: a missing dependency keeps its traceback
        if not f"icl_study.{module_name}".startswith(err.name or "\0"):
            raise
        raise SystemExit(f"icl_study: entry {entry!r}: there is no module icl_study.{module_name}") from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise SystemExit(f"icl_study: icl_study.{module_name} has no function {function_name!r}") from None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Before any import of torch: its thread pool size is read once, from the environment.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(max(1, args.threads))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    from icl_study.config import StudyError
    from icl_study.tables import damaged

    fn = entry_function(args.entry)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as err:
        raise SystemExit(f"icl_study: --params is not JSON: {err.msg} at character {err.pos} of {args.params!r}") from None
    if not isinstance(params, dict):
        raise SystemExit(f"icl_study: --params must be a JSON object, got {args.params!r}")

    # The workflow's own tables this job reads (under results/) are checked before it starts, so a
    # table cut short by a crash or a full disk is never averaged in as a row of NaNs.
    reason = damaged([path for path in args.inputs if "results" in Path(path).parts], quick=True)
    if reason is not None:
        print(f"icl_study: data error: {reason}", file=sys.stderr)
        sys.exit(2)
    if "torch" in sys.modules:
        from icl_study.device import set_threads

        set_threads(args.threads)
    try:
        fn(args.inputs, params, args.out)
    except StudyError as err:  # a config or data error (a damaged table too); anything else is a bug or a damaged input
        print(f"icl_study: {err.kind}: {err}", file=sys.stderr)
        sys.exit(2)
    except IndexError as err:
        if args.out:
            raise_unless_damaged_input(args, err)
        print(f"icl_study: {args.entry} writes output files: name them with --out FILE ...", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # a full disk: one line; Snakemake removes the failed job's partial outputs
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise_unless_damaged_input(args, err)
        where = f" writing {err.filename}" if err.filename else ""
        print(f"icl_study: disk full{where}: {err.strerror}; free space and rerun (the job's outputs are "
              f"incomplete and Snakemake removes them; finished results are untouched)", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001  a damaged input table is the cause to report; else a bug
        raise_unless_damaged_input(args, err)


def raise_unless_damaged_input(args: argparse.Namespace, err: BaseException) -> None:
    """A job that failed while one of its input tables is damaged (cut short, empty, header-only,
    text in a number column: icl_study/tables.py) ends with one line naming that table; any other
    failure keeps its traceback."""
    from icl_study.tables import damaged

    reason = damaged(args.inputs)
    if reason is None:
        raise err
    print(f"icl_study: data error: {reason} [the job stopped on it with {type(err).__name__}]", file=sys.stderr)
    sys.exit(2)
