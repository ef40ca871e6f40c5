"""Property-based fuzz of the clinical-table parser (issue 14): no stored value differs from its cell's meaning
without the row's ``input_error`` naming the column and value (docs/architecture.md, "Input checks").

Random cells (valid values in odd spellings, numbers in and out of range, text, empty) in random row
orders are written to a real CSV and read with ``read_clinical``. The oracle below says what a cell
means, independently of the parser: an empty cell is missing, a plain decimal number is that number,
``pgt``/``method`` are words up to case and surrounding spaces. For every cell, either the stored value
is that meaning and inside the column's vocabulary, or the row is flagged for that column and nothing
is stored there. Rows are parsed independently of their order, and a flag names the row's own line.
"""

from __future__ import annotations

import math
import re
import warnings

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aivf.dataset.build import AGE_RANGE, METHOD_VALUES, PGT_VALUES, TRANSFER_DAYS, read_clinical

PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)  # ASCII digits only
BINARY = ("transferred", "biopsied", "d3_fhb", "d5_fhb")
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)  # any printable text, commas and quotes too
SPACES = st.sampled_from(["", " ", "  "])


def _number_cells(values) -> st.SearchStrategy[str]:
    def spell(draw_value, fmt, left, right):
        return f"{left}{fmt.format(draw_value)}{right}"
    number = st.one_of(st.sampled_from(values), st.integers(-5, 200), st.floats(-1e3, 1e3, allow_nan=False))
    formats = st.sampled_from(["{}", "{:.1f}", "{:.3e}", "{:g}"])
    return st.builds(spell, number, formats, SPACES, SPACES)


def _word_cells(words) -> st.SearchStrategy[str]:
    respelled = st.builds(lambda w, case, left, right: f"{left}{case(w)}{right}", st.sampled_from(words),
                          st.sampled_from([str.lower, str.upper, str.title]), SPACES, SPACES)
    return st.one_of(respelled, st.sampled_from(["", "NA", "none", "n/a", "euploid?", "IMSI", "1"]), TEXT)


CELLS = {
    **{c: st.one_of(_number_cells([0, 1, 2, -1, 0.5]), st.sampled_from(["", "yes", "no", "maybe", "NA", "nan", "inf"]), TEXT)
       for c in BINARY},
    "transfer_day": st.one_of(_number_cells([1, 3, 5, 7, 8, 0, 3.5]), st.just(""), TEXT),
    "maternal_age": st.one_of(_number_cells([9.9, 10, 34.5, 80, 80.1, 350]), st.sampled_from(["", "unknown", "-inf"]), TEXT),
    "pgt": _word_cells(PGT_VALUES),
    "method": _word_cells(METHOD_VALUES),
}


def meaning(column: str, cell: str):
    """What the cell says, or INVALID when it says nothing the column can hold; None = missing."""
    text = cell.strip()
    if not text:
        return None
    if column in ("pgt", "method"):
        word = text.lower() if column == "pgt" else text.upper()
        return word if word in (PGT_VALUES if column == "pgt" else METHOD_VALUES) else INVALID
    if not PLAIN_NUMBER.match(text):
        return INVALID
    value = float(text)
    if column in BINARY:
        ok = value in (0.0, 1.0)
    elif column == "transfer_day":
        ok = value == round(value) and TRANSFER_DAYS[0] <= value <= TRANSFER_DAYS[1]
    else:
        ok = AGE_RANGE[0] <= value <= AGE_RANGE[1]
    return value if ok else INVALID


INVALID = object()


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


rows_strategy = st.lists(st.fixed_dictionaries(CELLS), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, order=st.randoms(use_true_random=False))
def test_clinical_parser_never_changes_a_value_silently(tmp_path, rows, order):
    ids = [f"P{i}-1" for i in range(len(rows))]
    frame = pd.DataFrame([{"embryo_id": e, "patient_id": e.split("-")[0], "recording": f"{e}.mp4", **r}
                          for e, r in zip(ids, rows)])
    shuffled = frame.sample(frac=1.0, random_state=order.randint(0, 2**31)).reset_index(drop=True)
    results = {}
    for name, table in (("given", frame), ("shuffled", shuffled)):
        path = tmp_path / f"{name}.csv"
        table.to_csv(path, index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the one respelling warning; its content is tested elsewhere
            parsed = read_clinical(path)
        assert list(parsed["embryo_id"]) == list(table["embryo_id"])  # every row kept, in file order
        results[name] = parsed.set_index("embryo_id")
        for line, (embryo, row) in enumerate(parsed.set_index("embryo_id").iterrows(), start=2):
            raw = table.set_index("embryo_id").loc[embryo]
            for column in CELLS:
                cell, stored, expected = raw[column], row[column], meaning(column, raw[column])
                flagged = f"{column}={cell!r}" in row["input_error"]
                if expected is INVALID:
                    assert flagged and missing(stored), (column, cell, stored, row["input_error"])
                    assert f"line {line}: {column}=" in row["input_error"]  # names the row's own line
                else:
                    assert not flagged, (column, cell, row["input_error"])  # no false alarm on a good value
                    assert (missing(stored) and expected is None) or stored == expected, (column, cell, stored)
    given_, shuffled_ = results["given"], results["shuffled"].loc[results["given"].index]
    for column in CELLS:  # a row's stored values do not depend on where the row sits
        for a, b in zip(given_[column], shuffled_[column]):
            assert (missing(a) and missing(b)) or a == b
