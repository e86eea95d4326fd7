"""Compare two result folders table by table: are two runs' CSVs bit-identical, and if not, where?

`python -m icl_study compare:main A B [--params '{"ignore_columns": ["seconds"]}'] [--out report.csv]`
prints one line per table that differs (missing on one side, other header, other row count, or
the first differing cell with both values) and a summary, and exits with status 1 when any table
differs. Tables are compared as text: equal bytes are identical; otherwise the parsed cells are
compared in order, so a number written differently is a difference too (results must be
bit-identical, not close). `ignore_columns` drops columns (e.g. wall-clock timings) from the
cell comparison. Torch- and pandas-free.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

REPORT_COLUMNS = ["table", "status", "row", "column", "a", "b"]


@dataclass(frozen=True)
class Difference:
    """How one table differs: status is only_in_a, only_in_b, header, rows or cell; `row` counts
    data rows from 1 (the header is row 0)."""

    table: str
    status: str
    row: int | None = None
    column: str | None = None
    a: str | None = None
    b: str | None = None

    def line(self) -> str:
        if self.status in ("only_in_a", "only_in_b"):
            return f"{self.table}: {self.status.replace('_', ' ')}"
        if self.status == "cell":
            return f"{self.table}: first difference at row {self.row}, column {self.column!r}: {self.a!r} vs {self.b!r}"
        return f"{self.table}: {self.status} differ: {self.a} vs {self.b}"


def tables(folder: Path, suffix: str = ".csv") -> set[str]:
    """Paths (relative, POSIX) of every table under `folder`."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob(f"*{suffix}") if path.is_file()}


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def compare_table(name: str, a: Path, b: Path, ignore_columns: frozenset[str] = frozenset()) -> Difference | None:
    """None when the two files are byte-identical (or equal outside `ignore_columns`)."""
    if a.read_bytes() == b.read_bytes():
        return None
    rows_a, rows_b = read_rows(a), read_rows(b)
    header_a, header_b = (rows_a or [[]])[0], (rows_b or [[]])[0]
    if header_a != header_b:
        return Difference(name, "header", 0, None, ",".join(header_a), ",".join(header_b))
    if len(rows_a) != len(rows_b):
        return Difference(name, "rows", None, None, str(len(rows_a) - 1), str(len(rows_b) - 1))
    kept = [i for i, column in enumerate(header_a) if column not in ignore_columns]
    for row, (cells_a, cells_b) in enumerate(zip(rows_a[1:], rows_b[1:]), start=1):
        for i in kept:
            cell_a = cells_a[i] if i < len(cells_a) else None
            cell_b = cells_b[i] if i < len(cells_b) else None
            if cell_a != cell_b:
                return Difference(name, "cell", row, header_a[i], cell_a, cell_b)
    return None  # equal outside the ignored columns (or only line endings / quoting differ)


def compare_folders(a: str | Path, b: str | Path, ignore_columns=()) -> tuple[list[str], list[Difference]]:
    """(names of every table on either side, sorted; the differences, in that order)."""
    a, b = Path(a), Path(b)
    for folder in (a, b):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder")
    in_a, in_b = tables(a), tables(b)
    names = sorted(in_a | in_b)
    differences = []
    for name in names:
        if name not in in_b:
            differences.append(Difference(name, "only_in_a"))
        elif name not in in_a:
            differences.append(Difference(name, "only_in_b"))
        else:
            difference = compare_table(name, a / name, b / name, frozenset(ignore_columns))
            if difference:
                differences.append(difference)
    return names, differences


def main(inputs: list[str], params: dict, outputs: list[str]) -> None:
    """CLI entry: inputs [A, B] (result folders) -> one line per differing table on stdout, a
    summary line, the differences as CSV in outputs[0] if given; exit status 1 if any differ."""
    if len(inputs) != 2:
        raise SystemExit("usage: python -m icl_study compare:main A B [--params JSON] [--out report.csv]")
    names, differences = compare_folders(*inputs, ignore_columns=params.get("ignore_columns", ()))
    for difference in differences:
        print(difference.line())
    print(f"{len(names) - len(differences)} of {len(names)} tables identical, {len(differences)} differ")
    if outputs:
        with open(outputs[0], "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            for d in differences:
                writer.writerow([d.table, d.status, d.row, d.column, d.a, d.b])
    if differences:
        sys.exit(1)
