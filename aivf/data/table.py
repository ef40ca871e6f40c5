"""Reading a CSV's cells as written, for the tables whose values must never shift silently.

``pandas.read_csv`` guesses: a first data row with one cell more than the header turns the first
column into the index (every value then sits one column to the left), and a repeated header name is
renamed ``name.1`` and ignored. Time tables and the clinical table are read here instead: every cell
a string, a row with more cells than the header or a repeated column name is a ``TableError`` naming
the line, and nothing is converted.
"""

from __future__ import annotations

import csv
from pathlib import Path


class TableError(ValueError):
    """A CSV whose cells cannot be placed under its header; the message names the line (callers add the file)."""


def read_cells(path: str | Path, names: list[str] | None = None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and ``(line, cells)`` of every non-blank row, each row padded with "" to the header's width.

    Trailing empty cells beyond the header (``1,0.2,`` as some spreadsheets write) are dropped; any
    other extra cell is an error, as is a repeated column name or an empty file. ``names``: the
    columns of a file without a header row (then every row is data).

    Raises:
        TableError: naming the line; OSError if the file cannot be opened.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except UnicodeDecodeError as err:
        raise TableError(f"not UTF-8 text ({err})") from None
    except csv.Error as err:
        raise TableError(f"line {reader.line_num}: {err}") from None
    if names is not None:
        header, body = list(names), rows
    elif not rows:
        raise TableError("the file is empty (no header)")
    else:
        (_, header), body = rows[0], rows[1:]
    seen: dict[str, int] = {}
    for position, name in enumerate(header):
        key = name.strip().lower()
        if key and key in seen:
            raise TableError(f"line 1: column {name.strip()!r} appears twice (columns {seen[key] + 1} and {position + 1}): "
                             "keep one, or rename the other")
        seen[key] = position
    width = len(header)
    out = []
    for line, cells in body:
        while len(cells) > width and not cells[-1].strip():
            cells = cells[:-1]
        if len(cells) > width:
            raise TableError(f"line {line}: {len(cells)} cells for {width} columns ({','.join(header)}): "
                             f"{','.join(cells)!r}; a cell holding a comma must be quoted")
        out.append((line, cells + [""] * (width - len(cells))))
    return header, out
