"""The one checked reader of the studies' CSV tables (what claims, figures and captions read).

`read_table(path)` refuses, with a one-line `DataError` naming the file, a table that a crash, a
full disk or a hand edit has left unusable, instead of letting pandas read it into NaN rows that
silently turn a verdict into `inconclusive`:

- a file that does not end with a newline, or whose rows have more or fewer fields than the
  header (a truncated write);
- an empty file, or a header without rows;
- text in a numeric column (a column whose other cells are all numbers);
- a table without the columns its known schema (icl_study/columns.py) lists.

A UTF-8 byte-order mark (a spreadsheet's export) is stripped, not refused. Torch-free; pandas is
imported when a table is read.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from icl_study import columns as known
from icl_study.config import DataError  # one data error for tables and user files: `data error: ...`

BOM = "\ufeff"
# The damage both the full check and the quick look at a file's ends report, in one wording.
EMPTY = "{path}: empty table (no header, no rows)"
CUT_SHORT = "{path}: does not end with a newline: the file was cut short (rerun the job that writes it)"
HEADER_ONLY = "{path}: header only, no rows (rerun the job that writes it)"


class MissingTable(DataError, FileNotFoundError):
    """A table that is not there: a DataError naming it, and still a FileNotFoundError."""


# Known table schemas: {path under results/: columns the table must have}; any other table is
# checked for its shape and cell types only.
SCHEMAS: dict[str, list[str]] = {
    "lenses/table.csv": known.LENS_COLUMNS,
    "lenses/members.csv": known.LENS_MEMBER_COLUMNS,
    "shen/perturbation.csv": known.PERTURB_COLUMNS,
}


def schema_of(path: Path) -> list[str] | None:
    """The columns a table at `path` must have, where its path says which table it is."""
    posix = Path(path).as_posix()
    for suffix, cols in SCHEMAS.items():
        if posix == suffix or posix.endswith("/" + suffix):
            return cols
    return None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell.strip().lower() in ("true", "false")  # pandas reads these as booleans
    return True


def check_text(text: str, path: str | Path, columns: list[str] | None = None) -> list[str]:
    """The header of the CSV `text` (BOM already stripped), after every structural check; raises a
    one-line DataError naming `path`."""
    if not text.strip():
        raise DataError(EMPTY.format(path=path))
    if not text.endswith("\n"):
        raise DataError(CUT_SHORT.format(path=path))
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], [row for row in rows[1:] if row]
    if not body:
        raise DataError(HEADER_ONLY.format(path=path))
    for line, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}: the file "
                            f"is cut short or corrupt (rerun the job that writes it)")
    for index, column in enumerate(header):
        cells = [(line, row[index]) for line, row in enumerate(rows[1:], start=2) if row and row[index] != ""]
        numbers = [_is_number(cell) for _, cell in cells]
        if any(numbers) and not all(numbers) and sum(numbers) >= sum(not n for n in numbers):
            line, cell = next((line, cell) for (line, cell), n in zip(cells, numbers) if not n)
            raise DataError(f"{path}: line {line}, column {column!r}: {cell!r} is not a number (the column's "
                            f"other cells are)")
    required = columns if columns is not None else schema_of(Path(path))
    missing = [c for c in required or [] if c not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (expected columns: {', '.join(required)})")
    return header


def read_table(path: str | Path, columns: list[str] | None = None):
    """The CSV table at `path` as a pandas DataFrame, after the checks above; `columns`: those it
    must have (default: its known schema, if any). A missing file is a DataError naming it."""
    import pandas as pd

    return pd.read_csv(io.StringIO(checked_text(path, columns)))


def damaged(paths, quick: bool = False) -> str | None:
    """The one-line reason the first damaged CSV among `paths` is unusable, or None (files that do
    not end in .csv, or are absent, are not judged): what a job that failed on it should say.
    `quick`: only what a look at both ends of the file shows (empty, header only, cut short: no
    final newline), at a cost that does not grow with the table, for checking every job's inputs."""
    for path in paths:
        if str(path).endswith(".csv") and Path(path).is_file():
            try:
                quick_check(path) if quick else checked_text(path)
            except DataError as err:
                return str(err)
    return None


def quick_check(path: str | Path) -> None:
    """Empty, header-only, or cut short (no final newline): a DataError naming `path`."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 1))
        last = f.read(1)
    text = head.decode("utf-8", errors="replace").removeprefix(BOM)
    if not text.strip():
        raise DataError(EMPTY.format(path=path))
    if last != b"\n":
        raise DataError(CUT_SHORT.format(path=path))
    if size <= len(head) and not text.strip().partition("\n")[2].strip():
        raise DataError(HEADER_ONLY.format(path=path))


def checked_text(path: str | Path, columns: list[str] | None = None) -> str:
    """The text of the CSV table at `path` (BOM stripped), after every check of read_table."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MissingTable(f"{path}: table not found (run the workflow first)") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    text = text.removeprefix(BOM)
    check_text(text, path, columns)
    return text


def finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
