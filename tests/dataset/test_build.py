"""Dataset build: features, missing labels, build report, resume, crash safety, ranks, fsspec output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from aivf.dataset.build import BuildError, build_dataset, euploid_label
from tests.dataset.conftest import SIZE, tiny_configs

GOOD = 12  # embryos of the fixture cohort that can be read


def test_features_dtypes_and_reload_in_fresh_process(built):
    code = (
        "import datasets, json, sys\n"
        f"ds = datasets.load_dataset('parquet', data_files='{built}/data/*.parquet', split='train')\n"
        "f = ds.features\n"
        "print(json.dumps({'n': len(ds), 'kf': [list(f['keyframes'].shape), f['keyframes'].dtype],"
        " 'hpi': f['keyframe_hpi'].feature.dtype, 'd5': f['d5_fhb'].dtype, 'eu': f['euploid'].dtype}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info == {"n": GOOD, "kf": [[8, 1, SIZE, SIZE], "uint8"], "hpi": "float32", "d5": "int8", "eu": "int8"}


def test_labels_missing_stay_missing(built):
    table = pq.read_table(f"{built}/data").to_pandas().set_index("embryo_id")
    assert table["d3_fhb"].isna().all()  # no d3 outcome in the fixture: all None, not 0
    assert table.loc["C1P0000-2", "d5_fhb"] is None or pd.isna(table.loc["C1P0000-2", "d5_fhb"])
    assert table.loc["C2P0001-1", "d5_fhb"] == 1 and table.loc["C1P0000-1", "d5_fhb"] == 0
    # pgt: P0 euploid, P1 aneuploid, P2 mosaic (missing by default), P3 no_result, later none
    assert table.loc["C1P0000-1", "euploid"] == 1 and table.loc["C2P0001-1", "euploid"] == 0
    assert pd.isna(table.loc["C1P0002-1", "euploid"]) and pd.isna(table.loc["C2P0003-1", "euploid"])
    assert pd.isna(table.loc["C1P0004-1", "euploid"]) and table.loc["C1P0002-1", "pgt"] == "mosaic"
    assert euploid_label("mosaic", "positive") == 1.0 and euploid_label("mosaic", "negative") == 0.0


def test_phase_labels_per_keyframe_from_the_annotation(built):
    columns = ["embryo_id", "keyframe_hpi", "phase_labels"]
    table = pq.read_table(f"{built}/data", columns=columns).to_pandas().set_index("embryo_id")
    labelled = np.asarray(table.loc["C1P0000-1", "phase_labels"])
    hpi = np.asarray(table.loc["C1P0000-1", "keyframe_hpi"])
    np.testing.assert_array_equal(labelled, np.where(hpi <= 36.0, 0, 3))  # tPB2 (0) up to frame 10, then t2 (3)
    others = np.stack(table.drop(index="C1P0000-1")["phase_labels"].to_numpy())
    assert (others == -1).all()  # no annotation file: -1, never a made-up phase


def test_report_names_every_failure_and_nothing_is_dropped(built, cohort_csv):
    report = pd.read_csv(f"{built}/build_report.csv").set_index("embryo_id")
    reasons = report["reason"].to_dict()
    assert reasons["BAD-1"] == "corrupt" and reasons["GONE-1"] == "missing_file" and reasons["SHORT-1"] == "too_few_frames"
    clinical = pd.read_csv(cohort_csv)
    assert set(report.index) == set(clinical["embryo_id"])  # every CSV row is accounted for
    manifest = json.loads(Path(f"{built}/manifest.json").read_text())
    in_shards = {e for s in manifest["shards"] for e in s["embryo_ids"]}
    assert in_shards == set(report.index[report["status"] == "ok"]) and len(in_shards) == GOOD
    assert manifest["complete"] and "| all | 12 |" in Path(f"{built}/README.md").read_text()


def test_resume_skips_finished_shards_and_a_crash_leaves_no_partial_shard(cohort_csv, tmp_path, monkeypatch):
    out = str(tmp_path / "ds")
    cfg, data = tiny_configs()
    real_write = pq.write_table
    calls = {"n": 0}

    def crashing_write(table, where, **kwargs):  # the 2nd shard dies half-way through its file
        calls["n"] += 1
        if calls["n"] == 2:
            where.write(b"PAR1 half a shard")
            raise KeyboardInterrupt("simulated crash")
        return real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(cfg, cohort_csv, out, data, rank=0, world_size=1)
    finished = sorted(p.name for p in (tmp_path / "ds" / "data").glob("*.parquet"))
    assert finished == ["shard-00000.parquet"]  # the half-written shard 1 exists only under its temp name
    assert list((tmp_path / "ds" / "data").glob("shard-00001.parquet.tmp-*"))
    monkeypatch.setattr(pq, "write_table", real_write)
    report = build_dataset(cfg, cohort_csv, out, data, rank=0, world_size=1)
    assert (report.shards_skipped, report.shards_written, report.num_built) == (1, 3, GOOD)
    assert not list((tmp_path / "ds" / "data").glob("*.tmp-*"))  # the stale temp file was cleaned
    again = build_dataset(cfg, cohort_csv, out, data, rank=0, world_size=1)
    assert (again.shards_written, again.shards_skipped) == (0, 4)
    cfg_other, _ = tiny_configs(min_frames=2)
    with pytest.raises(BuildError, match="another config"):
        build_dataset(cfg_other, cohort_csv, out, data, rank=0, world_size=1)


def test_rank_sharding_two_ranks_give_disjoint_union(cohort_csv, tmp_path):
    out = str(tmp_path / "ds")
    cfg, data = tiny_configs()
    first = build_dataset(cfg, cohort_csv, out, data, rank=0, world_size=2)
    assert not first.complete and first.shards_written == 2
    second = build_dataset(cfg, cohort_csv, out, data, rank=1, world_size=2)
    assert second.complete and second.num_built == GOOD
    per_shard = [json.loads(p.read_text())["embryo_ids"] for p in sorted((tmp_path / "ds" / "_state").glob("*.json"))]
    flat = [e for ids in per_shard for e in ids]
    assert len(flat) == len(set(flat)) == GOOD


def test_fsspec_memory_output(cohort_csv):
    cfg, data = tiny_configs()
    report = build_dataset(cfg, cohort_csv, "memory://aivf-test/ds", data, rank=0, world_size=1)
    assert report.complete and report.num_built == GOOD
    fs = fsspec.filesystem("memory")
    names = sorted(Path(p).name for p in fs.ls("/aivf-test/ds/data", detail=False))
    assert names == [f"shard-{i:05d}.parquet" for i in range(3)]  # shard 3 holds only failures: no file
    with fs.open("/aivf-test/ds/data/shard-00000.parquet", "rb") as handle:
        assert pq.read_table(handle).num_rows == 4
    assert fs.exists("/aivf-test/ds/splits.json") and fs.exists("/aivf-test/ds/README.md")


def test_bad_inputs_give_clear_errors(tmp_path, cohort_csv):
    cfg, data = tiny_configs()
    with pytest.raises(BuildError, match="not found"):
        build_dataset(cfg, tmp_path / "nope.csv", str(tmp_path / "o"), data)
    (tmp_path / "bad.csv").write_text("embryo,x\n1,2\n")
    with pytest.raises(BuildError, match="lacks column"):
        build_dataset(cfg, tmp_path / "bad.csv", str(tmp_path / "o"), data)


def test_file_url_output_builds_and_streams(cohort_csv, tmp_path):
    from aivf.dataset.config import LoaderConfig
    from aivf.dataset.loader import ShardLoader

    cfg, data = tiny_configs()
    url = f"file://{tmp_path}/ds"
    assert build_dataset(cfg, cohort_csv, url, data, rank=0, world_size=1).num_built == GOOD
    loader = ShardLoader(url, "kfold/1/train", LoaderConfig(batch_size=2), rank=0, world_size=1)
    assert sum(len(b["embryo_id"]) for b in loader.iter_epoch(0)) == 2 * len(loader) > 0
    assert list((tmp_path / "ds" / "arrow_cache").glob("*.arrow"))  # the local Arrow copies sit beside the shards
