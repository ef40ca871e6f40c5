"""The clinic's records of every embryo (decisions, grades) in the clinical table: parsed, checked, stored.

Columns (all optional; a clinic that does not record one leaves it out or empty, which stays missing):

| column | values | shard type |
|---|---|---|
| ``usable_d3``, ``usable_d5`` | 0/1: the embryologist's usable call at the day-3 / day-5 decision | int8 |
| ``usable_d6`` | 0/1: a usable blastocyst by day 6 (usable on day 5, or the extended-culture call) | int8 |
| ``decision`` | transferred / frozen / discarded | string |
| ``decision_reason`` | free text (why it was discarded) | string |
| ``cells_d3`` | cell number on day 3, 1-16 | int8 |
| ``frag_d3`` | fragmentation level 0-3 (<5, 5-10, 10-25, >25%) | int8 |
| ``expansion_d5`` | Gardner-like expansion 0-6 (0 = no blastocoel) | int8 |
| ``icm_d5``, ``te_d5`` | Gardner grade A/B/C | string |

A value outside its vocabulary is never changed or dropped silently: its embryo is reported (like a bad
outcome label, ``input_error``); grades are read case- and space-insensitively ("a " is A).

``auxiliary_labels`` turns them into the model's auxiliary targets (``AUX_TASKS``), NaN where not recorded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# name -> (low, high) of the whole numbers the column may hold
NUMERIC_RECORDS = {"usable_d3": (0, 1), "usable_d5": (0, 1), "usable_d6": (0, 1), "cells_d3": (1, 16), "frag_d3": (0, 3),
                   "expansion_d5": (0, 6)}
GRADE_RECORDS = ("icm_d5", "te_d5")
GRADES = ("A", "B", "C")
DECISIONS = ("transferred", "frozen", "discarded")
TEXT_RECORDS = ("decision", "decision_reason")
RECORD_COLUMNS = (*NUMERIC_RECORDS, *GRADE_RECORDS, *TEXT_RECORDS)
# Auxiliary targets the model learns for every embryo with a record (binary, NaN = not recorded).
AUX_TASKS: tuple[str, ...] = ("usable_d3", "usable_d5", "icm_ab", "te_ab", "usable_d6")


def check_records(table: pd.DataFrame) -> list[list[str]]:
    """Parse the record columns of ``table`` in place; returns per row the problems found (empty = fine).

    Numbers become float (NaN = empty), grades "A"/"B"/"C" or None, decisions lower case or None.
    """
    lines = np.arange(len(table)) + 2  # the header is line 1
    problems: list[list[str]] = [[] for _ in range(len(table))]

    def cells(column: str) -> pd.Series:
        if column not in table:
            return pd.Series([None] * len(table), index=table.index, dtype=object)
        return table[column].map(lambda v: v.strip() if isinstance(v, str) and v.strip() else None).astype(object)

    def flag(bad: np.ndarray, column: str, expected: str) -> None:
        for i in np.flatnonzero(bad):
            problems[i].append(f"line {lines[i]}: {column}={table[column].iloc[i]!r} is not {expected}")

    for column, (lo, hi) in NUMERIC_RECORDS.items():
        text = cells(column)
        number = pd.to_numeric(text, errors="coerce")
        good = number.notna() & (number == number.round()) & number.between(lo, hi)
        flag((text.notna() & ~good).to_numpy(), column, f"a whole number {lo}-{hi} or an empty cell")
        table[column] = number.where(good, np.nan).astype(float)
    for column, vocabulary in [*((c, GRADES) for c in GRADE_RECORDS), ("decision", DECISIONS)]:
        text = cells(column)
        fold = str.upper if vocabulary is GRADES else str.lower
        folded = text.map(lambda v, f=fold: f(v) if isinstance(v, str) else None).astype(object)
        good = folded.isin(vocabulary)
        flag((text.notna() & ~good).to_numpy(), column, f"one of {list(vocabulary)} or an empty cell")
        table[column] = folded.where(good, None)
    table["decision_reason"] = cells("decision_reason")
    return problems


def auxiliary_labels(row: dict) -> dict[str, float | None]:
    """The AUX_TASKS targets of one parsed row: usable calls as given, ICM/TE 'A or B' vs 'C'."""
    def number(key: str) -> float | None:
        value = row.get(key)
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)

    def good_grade(key: str) -> float | None:
        grade = row.get(key)
        return None if grade not in GRADES else float(grade != "C")

    return {"usable_d3": number("usable_d3"), "usable_d5": number("usable_d5"), "usable_d6": number("usable_d6"),
            "icm_ab": good_grade("icm_d5"), "te_ab": good_grade("te_d5")}
