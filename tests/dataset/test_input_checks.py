"""Input checks of the clinical table (docs/architecture.md): no value is changed silently.

A value outside its column's vocabulary fails that embryo (``label_error`` in build_report.csv,
naming line, column and value) while the others are built; only case/spaces of ``pgt`` and
``method`` are normalised, with one warning; ``strict`` makes every such problem a BuildError;
repeated embryo ids and a missing patient_id column are clear errors; ``aivf build`` exits 1 when
nothing usable came out.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from aivf.dataset.build import BuildError, build_dataset, check_clinical, read_clinical
from tests.dataset.conftest import tiny_configs

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "dataset"
GOOD = 12  # embryos of the fixture cohort that can be read

BAD_CELLS = {  # embryo -> (column, value outside the vocabulary)
    "C1P0000-1": ("d3_fhb", "maybe"),
    "C2P0001-1": ("d5_fhb", "2"),
    "C1P0002-1": ("biopsied", "0.6"),
    "C2P0003-1": ("transferred", "-1"),
    "C1P0004-1": ("maternal_age", "unknown"),
    "C2P0005-1": ("pgt", "normal"),
}
RESPELLED = {"C1P0000-2": "Euploid ", "C2P0001-2": "EUPLOID", "C1P0002-2": " aneuploid"}  # -> lower case, no spaces


def edited_csv(cohort_csv: Path, tmp_path: Path, edit) -> Path:
    table = pd.read_csv(cohort_csv, dtype=str, keep_default_na=False)
    table = edit(table) if edit else table
    path = tmp_path / "clinical.csv"
    table.to_csv(path, index=False)
    return path


def bad_labels(table: pd.DataFrame) -> pd.DataFrame:
    ids = table["embryo_id"]
    for embryo, (column, value) in BAD_CELLS.items():
        table.loc[ids == embryo, column] = value
    for embryo, value in RESPELLED.items():
        table.loc[ids == embryo, "pgt"] = value
    table.loc[ids == "C2P0003-2", "d5_fhb"] = " 1.0 "  # spaces around a number, "1.0" for 1: same meaning
    return table


def line_of(csv: Path, embryo: str) -> int:
    ids = pd.read_csv(csv, dtype=str)["embryo_id"]
    return int(ids.index[ids == embryo][0]) + 2  # the header is line 1


def test_labels_outside_the_vocabulary_fail_only_their_embryo(cohort_csv, tmp_path):
    csv = edited_csv(cohort_csv, tmp_path, bad_labels)
    cfg, data = tiny_configs(recordings_root=str(cohort_csv.parent))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_dataset(cfg, csv, str(tmp_path / "ds"), data, rank=0, world_size=1)
    spelled = [str(w.message) for w in caught if "normalised the spelling" in str(w.message)]
    assert len(spelled) == 1 and "'Euploid ' -> 'euploid'" in spelled[0]  # said once, with an example

    report = pd.read_csv(tmp_path / "ds" / "build_report.csv").set_index("embryo_id")
    for embryo, (column, value) in BAD_CELLS.items():
        assert report.loc[embryo, "status"] == "failed" and report.loc[embryo, "reason"] == "label_error"
        assert f"line {line_of(csv, embryo)}: {column}={value!r}" in report.loc[embryo, "detail"]
    assert result.num_built == GOOD - len(BAD_CELLS) and result.failures["label_error"] == len(BAD_CELLS)
    assert set(report.index) == set(pd.read_csv(csv)["embryo_id"])  # every row accounted for

    shards = pq.read_table(tmp_path / "ds" / "data").to_pandas().set_index("embryo_id")
    assert not set(BAD_CELLS) & set(shards.index)  # nothing stored with a made-up label
    assert set(shards.index) == set(report.index[report["status"] == "ok"])
    for embryo, value in RESPELLED.items():  # normalised, and the label follows the normalised value
        assert shards.loc[embryo, "pgt"] == value.strip().lower()
        assert shards.loc[embryo, "euploid"] == (1 if value.strip().lower() == "euploid" else 0)
    assert shards.loc["C2P0003-2", "d5_fhb"] == 1
    assert set(shards["d5_fhb"].dropna()) <= {0, 1} and set(shards["transferred"].dropna()) <= {0, 1}
    assert json.loads((tmp_path / "ds" / "splits.json").read_text())["kfold"]  # splits still made


def test_check_clinical_vocabulary_per_column():
    raw = pd.DataFrame({
        "embryo_id": ["a-1", "a-2", "b-1", "b-2", ""], "patient_id": ["a", "a", "b", "", "c"],
        "d3_fhb": ["1", "0.0", "yes", "", "1"], "transfer_day": ["5", "3.5", "", "8", ""],
        "maternal_age": ["34.5", "350", "", "nan", " 41 "], "method": ["icsi", "IVF", "IMSI", "", ""],
        "pgt": ["mosaic", "", "MOSAIC", "euploid?", ""],
    })
    with pytest.warns(UserWarning, match="normalised the spelling"):
        table = check_clinical(raw, "t.csv")
    errors = table["input_error"].tolist()
    assert errors[0] == ""  # "icsi" -> "ICSI" is a respelling, not a problem
    assert "transfer_day='3.5'" in errors[1] and "maternal_age='350'" in errors[1]
    assert "d3_fhb='yes'" in errors[2] and "method='IMSI'" in errors[2]
    assert "patient_id=''" in errors[3] and "transfer_day='8'" in errors[3] and "pgt='euploid?'" in errors[3]
    assert "maternal_age='nan'" in errors[3] and "line 5: patient_id" in errors[3]
    assert "embryo_id=''" in errors[4] and "maternal_age" not in errors[4]
    assert table["method"].tolist()[:2] == ["ICSI", "IVF"] and table["pgt"].tolist()[2] == "mosaic"
    assert table["maternal_age"].tolist()[0] == 34.5 and table["maternal_age"].tolist()[4] == 41.0
    assert pd.isna(table["maternal_age"].tolist()[1]) and pd.isna(table["d3_fhb"].tolist()[2])  # never a made-up value
    assert table["d3_fhb"].tolist()[:2] == [1.0, 0.0]


def test_strict_turns_a_label_problem_into_an_error_naming_file_line_column_value(cohort_csv, tmp_path):
    csv = edited_csv(cohort_csv, tmp_path, bad_labels)
    cfg, data = tiny_configs(recordings_root=str(cohort_csv.parent), strict=True)
    with pytest.raises(BuildError) as err:
        build_dataset(cfg, csv, str(tmp_path / "ds"), data, rank=0, world_size=1)
    message = str(err.value)
    assert str(csv) in message and "dataset.strict" in message
    for embryo, (column, value) in BAD_CELLS.items():
        assert f"line {line_of(csv, embryo)}: {column}={value!r}" in message
    assert not (tmp_path / "ds" / "data").exists()  # refused before anything was built


def test_strict_cli_flag_fails_a_build_with_unreadable_recordings(cohort_csv, tmp_path, capsys):
    from aivf.dataset import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    base = ["-c", str(CONFIGS / "tiny.yaml"), "--clinical", str(cohort_csv), "data.keyframes.size=16",
            "dataset.splits.num_folds=3"]
    assert cli.run(parser.parse_args([*base, "--out", str(tmp_path / "lax")])) == 0  # BAD-1 etc. only reported
    capsys.readouterr()
    assert cli.run(parser.parse_args([*base, "--out", str(tmp_path / "strict"), "--strict"])) == 1
    printed = capsys.readouterr().out
    assert "3 embryo(s) not built" in printed and "corrupt: 1" in printed and "build_report.csv" in printed


def test_same_embryo_id_under_two_patients_is_an_error_before_splitting(cohort_csv, tmp_path):
    def clash(table):
        row = table[table["embryo_id"] == "C2P0001-2"].assign(patient_id="C1P0004")
        return pd.concat([table, row], ignore_index=True)

    csv = edited_csv(cohort_csv, tmp_path, clash)
    cfg, data = tiny_configs(recordings_root=str(cohort_csv.parent))
    with pytest.raises(BuildError, match=r"'C2P0001-2' on lines \d+, \d+ belongs to patients \['C1P0004', 'C2P0001'\]"):
        build_dataset(cfg, csv, str(tmp_path / "ds"), data, rank=0, world_size=1)
    assert not (tmp_path / "ds" / "splits.json").exists()


def test_repeated_rows_are_reported_and_the_build_keeps_its_splits(cohort_csv, tmp_path):
    def repeat(table):
        same = table[table["embryo_id"] == "C1P0000-1"]  # an exact repeat: the first copy is used
        differ = table[table["embryo_id"] == "C2P0001-1"].assign(d5_fhb="0")  # disagrees: no copy is used
        return pd.concat([table, same, differ], ignore_index=True)

    csv = edited_csv(cohort_csv, tmp_path, repeat)
    cfg, data = tiny_configs(recordings_root=str(cohort_csv.parent))
    result = build_dataset(cfg, csv, str(tmp_path / "ds"), data, rank=0, world_size=1)
    report = pd.read_csv(tmp_path / "ds" / "build_report.csv")
    first = report[report["embryo_id"] == "C1P0000-1"]
    assert sorted(first["status"]) == ["failed", "ok"] and "the first is used" in first["detail"].str.cat()
    second = report[report["embryo_id"] == "C2P0001-1"]
    assert list(second["reason"]) == ["duplicate_id", "duplicate_id"] and "['d5_fhb']" in second["detail"].iloc[0]
    assert result.num_built == GOOD - 1 and result.num_embryos == len(pd.read_csv(csv))
    splits = json.loads((tmp_path / "ds" / "splits.json").read_text())
    tested = [e for fold in splits["kfold"].values() for e in fold["test"]["embryo_ids"]]
    assert sorted(tested) == sorted(set(tested)) and "C1P0000-1" in tested and "C2P0001-1" not in tested
    cfg_strict, _ = tiny_configs(recordings_root=str(cohort_csv.parent), strict=True)
    with pytest.raises(BuildError, match=r"'C1P0000-1' is repeated on lines"):
        build_dataset(cfg_strict, csv, str(tmp_path / "ds2"), data, rank=0, world_size=1)


def test_no_patient_id_column_is_an_error_not_a_guess(cohort_csv, tmp_path):
    csv = edited_csv(cohort_csv, tmp_path, lambda t: t.drop(columns="patient_id"))
    with pytest.raises(BuildError, match="no patient_id column"):
        read_clinical(csv)


@pytest.mark.parametrize("content", ["", "embryo_id,patient_id,recording\n"])
def test_empty_clinical_csv_is_a_clear_error(tmp_path, content):
    (tmp_path / "c.csv").write_text(content)
    cfg, data = tiny_configs()
    with pytest.raises(BuildError, match=r"c\.csv: (not a readable CSV|clinical CSV has a header but no rows)"):
        build_dataset(cfg, tmp_path / "c.csv", str(tmp_path / "ds"), data, rank=0, world_size=1)


@pytest.mark.parametrize("case", ["all_failed", "no_splits", "no_rows"])
def test_cli_exits_nonzero_when_nothing_usable_was_built(cohort_csv, tmp_path, capsys, case):
    from aivf.dataset import cli

    if case == "all_failed":  # every recording path points nowhere
        csv = edited_csv(cohort_csv, tmp_path, lambda t: t.assign(recording="videos/none.mp4"))
    elif case == "no_splits":  # 2 patients cannot fill 3 folds: an empty splits.json
        csv = edited_csv(cohort_csv, tmp_path, lambda t: t[t["patient_id"].isin(["C1P0000", "C2P0001"])])
    else:
        csv = edited_csv(cohort_csv, tmp_path, lambda t: t.iloc[:0])
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["-c", str(CONFIGS / "tiny.yaml"), "--clinical", str(csv), "--out", str(tmp_path / "ds"),
                              "data.keyframes.size=16", "dataset.splits.num_folds=3",
                              f"dataset.recordings_root={cohort_csv.parent}"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.run(args) == 1
    printed = capsys.readouterr().out
    expected = {"all_failed": "nothing usable was built", "no_splits": "no evaluation splits",
                "no_rows": "no rows"}[case]
    assert expected in printed


def test_clinic_name_with_a_slash_gives_an_addressable_leave_one_clinic_out_split(cohort_csv, tmp_path):
    from aivf.dataset.loader import load_split
    from aivf.dataset.splits import split_ids

    csv = edited_csv(cohort_csv, tmp_path, lambda t: t.assign(clinic=t["clinic"].replace({"C1": "North/West"})))
    cfg, data = tiny_configs(recordings_root=str(cohort_csv.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_dataset(cfg, csv, str(tmp_path / "ds"), data, rank=0, world_size=1)
    splits = json.loads((tmp_path / "ds" / "splits.json").read_text())
    assert sorted(splits["loco"]) == ["C2", "North/West"]  # the name is kept verbatim
    clinic_of = pd.read_csv(csv).set_index("embryo_id")["clinic"]
    test = split_ids(splits, "loco/North/West/test")
    assert test and {clinic_of[e] for e in test} == {"North/West"}
    assert not set(test) & set(split_ids(splits, "loco/North/West/train"))
    assert sorted(load_split(str(tmp_path / "ds"), "loco/North/West/test")["embryo_id"]) == sorted(test)
    with pytest.raises(KeyError, match="unknown split 'loco/North/test'; available: kfold/0/train"):
        split_ids(splits, "loco/North/test")


@pytest.mark.parametrize("extra, expected", [
    ("row", r"line 3: 4 cells for 3 columns"),  # pandas would move every value one column left
    ("header", r"line 1: column 'd5_fhb' appears twice"),  # pandas would rename one to d5_fhb.1 and ignore it
])
def test_clinical_row_with_a_cell_too_many_or_a_repeated_column_is_an_error(tmp_path, extra, expected):
    header = "embryo_id,patient_id,d5_fhb" + (",d5_fhb" if extra == "header" else "")
    rows = ["A-1,A,1", "B-1,B,0,1" if extra == "row" else "B-1,B,0"]
    (tmp_path / "c.csv").write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(BuildError, match=rf"c\.csv: not a readable CSV table \({expected}"):
        read_clinical(tmp_path / "c.csv")
