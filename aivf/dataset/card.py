"""The files written beside the shards: manifest, build report, splits and the dataset card."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import warnings

import pandas as pd

from aivf.data.config import DataConfig
from aivf.dataset.config import DatasetConfig
from aivf.dataset.splits import LABEL_COLUMNS, check_splits, filter_splits, make_splits


def _write_text(fs, path: str, text: str) -> None:
    from aivf.dataset.build import _write_atomic

    _write_atomic(fs, path, lambda h: h.write(text.encode()))


def _label_counts(rows: pd.DataFrame) -> str:
    parts = []
    for label in LABEL_COLUMNS:
        values = pd.to_numeric(rows[label], errors="coerce")
        parts.append(f"{int((values == 1).sum())}/{int((values == 0).sum())}/{int(values.isna().sum())}")
    return " | ".join(parts)


def card_text(out: str, source: str, cfg: DatasetConfig, data: DataConfig, manifest: dict,
              report: pd.DataFrame, labels: pd.DataFrame, splits: dict) -> str:
    """The README.md dataset card: HF YAML header, source, config, counts per split and label."""
    kf = data.keyframes
    failures = report[report["status"] != "ok"]["reason"].value_counts()
    lines = [
        "---", "configs:", "- config_name: default", "  data_files:", "  - split: train", "    path: data/*.parquet",
        "tags:", "- ivf", "- embryo", "- time-lapse", "---", "",
        "# aivf embryo keyframe dataset", "",
        "Research data for AI embryo selection (not a medical device). Built by `aivf build`.", "",
        f"- Source clinical table: `{source}`", f"- Output: `{out}`",
        f"- Built: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; config hash `{manifest['config_hash']}`; "
        f"{'complete' if manifest['complete'] else 'INCOMPLETE (other ranks still running or crashed)'}",
        f"- Keyframes: K={kf.num_keyframes}, method={kf.method}, up to {kf.cutoff_hpi} hpi, "
        f"{cfg.num_planes} plane(s) of {kf.size}x{kf.size} px, uint8 `keyframes` (K, P, H, W) + `keyframe_hpi`, "
        "`keyframe_mask` (False = no frame within tolerance)",
        f"- Embryos: {manifest['num_built']} in {len(manifest['shards'])} shard(s); {manifest['num_failed']} failed "
        f"({', '.join(f'{r}: {n}' for r, n in failures.items()) or 'none'}; see build_report.csv)",
        f"- Labels: missing outcomes stay missing (None); euploid from pgt, mosaic -> {cfg.mosaic_as}", "",
        "Load: `datasets.load_dataset(\"parquet\", data_files=\"<this folder>/data/*.parquet\", split=\"train\")`; "
        "for training use `aivf.dataset.loader.ShardLoader` (uint8 kept, fast shuffle).", "",
        "## Counts (labels as positive/negative/missing)", "",
        "| split | embryos | patients | d3_fhb | d5_fhb | euploid |", "|---|---|---|---|---|---|",
        f"| all | {len(labels)} | {labels['patient_id'].nunique()} | {_label_counts(labels)} |",
    ]
    for scheme, folds in splits.items():
        for fold, parts in folds.items():
            if scheme == "kfold" and fold != "0":
                continue  # one fold shows the balance; every fold is in splits.json
            for part, members in parts.items():
                rows = labels[labels["embryo_id"].isin(members["embryo_ids"])]
                lines.append(f"| {scheme}/{fold}/{part} | {len(rows)} | {rows['patient_id'].nunique()} | {_label_counts(rows)} |")
    lines += ["", "## Config", "", "```yaml", _config_yaml(cfg, data).rstrip(), "```", ""]
    return "\n".join(lines)


def _config_yaml(cfg: DatasetConfig, data: DataConfig) -> str:
    from omegaconf import OmegaConf  # not aivf.config: that imports every stage (transformers included)

    return OmegaConf.to_yaml({"dataset": dataclasses.asdict(cfg), "data": dataclasses.asdict(data)})


def finalize(fs, base: str, out: str, table: pd.DataFrame, cfg: DatasetConfig, data: DataConfig, chash: str,
             num_shards: int, extra_report: list[dict], source: str) -> dict:
    """Gather every finished shard marker and (re)write manifest, report, splits, card and config.

    Safe to run on every rank: each file is replaced atomically, and the rank finishing last sees
    every marker, so its files are complete.
    """
    from aivf.dataset.build import _read_marker, euploid_label

    markers = [m for i in range(num_shards) if (m := _read_marker(fs, f"{base}/_state/shard-{i:05d}.json"))
               and m["config_hash"] == chash]
    built = [e for m in markers for e in m["embryo_ids"]]
    report = pd.DataFrame([r for m in markers for r in m["report"]] + extra_report,
                          columns=["embryo_id", "status", "reason", "detail", "shard"])
    complete = len(markers) == num_shards
    manifest = {
        "config_hash": chash, "complete": complete, "num_shards_planned": num_shards,
        "keyframe_shape": [data.keyframes.num_keyframes, cfg.num_planes, data.keyframes.size, data.keyframes.size],
        "num_built": len(built), "num_failed": int((report["status"] != "ok").sum()),
        "shards": [{"file": m["file"], "embryo_ids": m["embryo_ids"], "num_rows": len(m["embryo_ids"])}
                   for m in markers if m["file"]],
    }
    labels = table.assign(euploid=[euploid_label(p, cfg.mosaic_as) for p in table["pgt"]])
    try:
        splits = filter_splits(make_splits(labels, cfg.splits), built)
    except ValueError as err:  # e.g. fewer patients than folds: the shards are still usable
        warnings.warn(f"{out}: no splits written ({err})", stacklevel=2)
        splits = {}
    check_splits(splits, dict(zip(labels["embryo_id"], labels["patient_id"])))
    buffer = io.StringIO()
    report.sort_values(["status", "embryo_id"]).to_csv(buffer, index=False)
    _write_text(fs, f"{base}/build_report.csv", buffer.getvalue())
    _write_text(fs, f"{base}/splits.json", json.dumps(splits, indent=1))
    _write_text(fs, f"{base}/config.yaml", _config_yaml(cfg, data))
    built_labels = labels[labels["embryo_id"].isin(set(built))]
    _write_text(fs, f"{base}/README.md", card_text(out, source, cfg, data, manifest, report, built_labels, splits))
    _write_text(fs, f"{base}/manifest.json", json.dumps(manifest, indent=1))  # last: marks the build as readable
    failures = report[report["status"] != "ok"]["reason"].value_counts()
    return {"num_built": len(built), "num_failed": manifest["num_failed"], "complete": complete,
            "failures": {str(k): int(v) for k, v in failures.items()}}
