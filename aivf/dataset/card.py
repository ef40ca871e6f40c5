"""The files written beside the shards: manifest, build report, splits and the dataset card.

The card publishes the splits the Hugging Face way: every split of ``splits.json`` is a named config
(``kfold0`` ... ``kfoldN``, ``loco_<clinic>``) with train/validation/test ``data_files``, and the default
config is ``kfold0``, so ``load_dataset(<folder>)`` never hands a test patient out as training data.
A config can only list files, so the embryos are also written once more, grouped into *cells*
(``splits/cell-NNN.parquet``): a cell holds the embryos that sit in the same part of every split, and
each config's split is a list of cells. That costs one extra copy of the shards (the shards
themselves are cut before the splits exist); ``ShardLoader`` keeps reading ``data/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import time
import uuid
import warnings

import pandas as pd

from aivf.data.config import DataConfig
from aivf.dataset.config import DatasetConfig
from aivf.dataset.splits import LABEL_COLUMNS, check_splits, filter_splits, make_splits

HF_SPLIT = {"train": "train", "val": "validation", "test": "test"}  # splits.json part -> HF split name
LICENSE_NOTE = ("The recordings' owner's terms apply (clinical data is rarely shareable); a cohort simulated by "
                "`aivf simulate` is Apache-2.0 like the code.")


def _write_text(fs, path: str, text: str) -> None:
    from aivf.dataset.build import _write_atomic

    _write_atomic(fs, path, lambda h: h.write(text.encode()))


def _label_counts(rows: pd.DataFrame) -> str:
    parts = []
    for label in LABEL_COLUMNS:
        values = pd.to_numeric(rows[label], errors="coerce")
        parts.append(f"{int((values == 1).sum())}/{int((values == 0).sum())}/{int(values.isna().sum())}")
    return " | ".join(parts)


def config_names(splits: dict) -> dict[tuple[str, str], str]:
    """The HF config name of every (scheme, fold): ``kfold0``, ``loco_C1`` (clinic names made path-safe)."""
    names: dict[tuple[str, str], str] = {}
    for scheme, folds in splits.items():
        for fold in folds:
            name = f"{scheme}{fold}" if scheme == "kfold" else f"{scheme}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', fold)}"
            while name in names.values():  # two clinics that differ only in unsafe characters
                name += "_"
            names[(scheme, fold)] = name
    return names


def split_cells(splits: dict) -> tuple[list[list[str]], dict[str, dict[str, list[int]]]]:
    """Embryos grouped by the part they sit in under every split, and each config as lists of cells.

    Returns:
        ``cells``: embryo ids per cell (cell i is ``splits/cell-{i:03d}.parquet``);
        ``configs``: config name -> HF split name -> cell indices (splits with no embryo left out).
    """
    names = config_names(splits)
    folds = list(names)
    where: dict[str, list[str]] = {}
    for j, (scheme, fold) in enumerate(folds):
        for part, members in splits[scheme][fold].items():
            for eid in members["embryo_ids"]:
                where.setdefault(eid, [""] * len(folds))[j] = part
    by_place: dict[tuple[str, ...], list[str]] = {}
    for eid in sorted(where):
        by_place.setdefault(tuple(where[eid]), []).append(eid)
    places = sorted(by_place)
    cells = [by_place[p] for p in places]
    configs: dict[str, dict[str, list[int]]] = {}
    for j, key in enumerate(folds):
        parts = {HF_SPLIT.get(part, part): [i for i, p in enumerate(places) if p[j] == part]
                 for part in splits[key[0]][key[1]]}
        configs[names[key]] = {s: c for s, c in parts.items() if c}
    return cells, configs


def write_cells(fs, base: str, manifest: dict, cells: list[list[str]], chash: str, row_group_size: int) -> None:
    """(Re)write ``splits/cell-NNN.parquet`` from the shards, unless the same cells are already there.

    ``splits/index.json`` is written last and names the config hash and the cells' content, so an
    interrupted write is redone and a finished one is not repeated on the next ``aivf build``.
    """
    import numpy as np
    import pyarrow.parquet as pq

    from aivf.dataset.build import _read_marker

    index = {"config_hash": chash, "cells": hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16],
             "num_cells": len(cells)}
    done = _read_marker(fs, f"{base}/splits/index.json")
    if done == index and all(fs.exists(f"{base}/splits/cell-{i:03d}.parquet") for i in range(len(cells))):
        return
    if fs.exists(f"{base}/splits"):
        fs.rm(f"{base}/splits", recursive=True)
    fs.makedirs(f"{base}/splits", exist_ok=True)
    cell_of = {eid: i for i, ids in enumerate(cells) for eid in ids}
    tag = uuid.uuid4().hex[:8]
    handles, writers, seen = {}, {}, set()
    try:
        for shard in manifest["shards"]:
            with fs.open(f"{base}/{shard['file']}", "rb") as handle:
                table = pq.read_table(handle)
            ids = table.column("embryo_id").to_pylist()
            cell = np.array([cell_of[e] if e in cell_of and e not in seen else -1 for e in ids])
            seen.update(ids)  # an id in two shards (never, since check_duplicates) is written once
            for c in np.unique(cell[cell >= 0]).tolist():
                if c not in writers:
                    handles[c] = fs.open(f"{base}/splits/cell-{c:03d}.parquet.tmp-{tag}", "wb")
                    writers[c] = pq.ParquetWriter(handles[c], table.schema)
                writers[c].write_table(table.take(np.flatnonzero(cell == c)), row_group_size=row_group_size)
    finally:
        for c in writers:
            writers[c].close()
            handles[c].close()
    for c in writers:
        fs.mv(f"{base}/splits/cell-{c:03d}.parquet.tmp-{tag}", f"{base}/splits/cell-{c:03d}.parquet")
    _write_text(fs, f"{base}/splits/index.json", json.dumps(index))


def card_yaml(splits: dict, features, complete: bool) -> str:
    """The card's YAML header: license, task, one config per split (default kfold0) and its dataset_info."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    cells, configs = split_cells(splits) if complete else ([], {})
    default = "kfold0" if "kfold0" in configs else next(iter(configs), None)
    if default is None:  # no split (too few patients, or an unfinished build): nothing is called "train"
        entries = [{"config_name": "default", "data_files": [{"split": "unsplit", "path": "data/*.parquet"}]}]
        infos = {}
    else:
        entries, infos = [], {}
        for name, parts in configs.items():
            entries.append({"config_name": name, **({"default": True} if name == default else {}), "data_files": [
                {"split": s, "path": [f"splits/cell-{c:03d}.parquet" for c in cs]} for s, cs in parts.items()]})
            infos[name] = DatasetInfo(features=features, splits=SplitDict(
                {s: SplitInfo(name=s, num_examples=sum(len(cells[c]) for c in cs)) for s, cs in parts.items()}))
    data = DatasetCardData(
        license="other", license_name="source-data-terms", license_details=LICENSE_NOTE,
        task_categories=["video-classification"], tags=["ivf", "embryo", "time-lapse", "medical"],
        pretty_name="aivf embryo keyframes", configs=entries,
    )
    if infos and features is not None:
        DatasetInfosDict(infos).to_dataset_card_data(data)
    return data.to_yaml()


def _shown_path(path: str) -> str:
    """A path fit for a card that may be published: absolute local paths become their last two parts."""
    if "://" in path or not os.path.isabs(path):
        return path
    return os.path.join(*os.path.normpath(path).split(os.sep)[-2:])


def card_text(out: str, source: str, cfg: DatasetConfig, data: DataConfig, manifest: dict,
              report: pd.DataFrame, labels: pd.DataFrame, splits: dict, features=None) -> str:
    """The README.md dataset card: HF YAML header, source, config, counts per split and label.

    ``labels`` holds the built embryos; a repeated embryo id is counted once (it is one embryo).
    """
    kf = data.keyframes
    labels = labels.drop_duplicates("embryo_id")
    failures = report[report["status"] != "ok"]["reason"].value_counts()
    names = config_names(splits)
    default = names.get(("kfold", "0"), next(iter(names.values()), None))
    load = (f"`datasets.load_dataset(\"<this folder>\", \"{default}\")` gives train/validation/test with no patient "
            f"in two splits (`{default}` is the default config; the others: "
            f"{', '.join(f'`{n}`' for n in names.values())}). " if default and manifest["complete"] else
            "No split config (no splits could be made, or the build is unfinished): the `unsplit` split is every "
            "embryo, test patients included. ")
    lines = [
        "---", card_yaml(splits, features, manifest["complete"]).rstrip(), "---", "",
        "# aivf embryo keyframe dataset", "",
        "Research data for AI embryo selection (not a medical device). Built by `aivf build`.", "",
        f"- Source clinical table: `{_shown_path(source)}`",
        f"- Built: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; config hash `{manifest['config_hash']}`; "
        f"{'complete' if manifest['complete'] else 'INCOMPLETE (other ranks still running or crashed)'}",
        f"- Keyframes: K={kf.num_keyframes}, method={kf.method}, up to {kf.cutoff_hpi} hpi, "
        f"{cfg.num_planes} plane(s) of {kf.size}x{kf.size} px, uint8 `keyframes` (K, P, H, W) + `keyframe_hpi`, "
        "`keyframe_mask` (False = no frame within tolerance)",
        f"- Embryos: {manifest['num_built']} in {len(manifest['shards'])} shard(s); {manifest['num_failed']} failed "
        f"({', '.join(f'{r}: {n}' for r, n in failures.items()) or 'none'}; see build_report.csv)",
        f"- Labels: missing outcomes stay missing (None); euploid from pgt, mosaic -> {cfg.mosaic_as}",
        f"- License: {LICENSE_NOTE}", "",
        "Load: " + load + "Every embryo: `datasets.load_dataset(\"parquet\", data_files=\"<this folder>/data/*.parquet\")`; "
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
    lines += ["", "## Config", "", "```yaml", _config_yaml(cfg, data, shown=True).rstrip(), "```", ""]
    return "\n".join(lines)


def _config_yaml(cfg: DatasetConfig, data: DataConfig, shown: bool = False) -> str:
    """The resolved config; ``shown``: with the local paths cut for the card (config.yaml keeps them)."""
    from omegaconf import OmegaConf  # not aivf.config: that imports every stage (transformers included)

    dataset = dataclasses.asdict(cfg)
    if shown:
        dataset.update({k: _shown_path(dataset[k]) for k in ("clinical_csv", "recordings_root", "output")})
    return OmegaConf.to_yaml({"dataset": dataset, "data": dataclasses.asdict(data)})


def _features(fs, base: str, manifest: dict):
    """The typed features stored in the first shard's schema (None when no shard was written)."""
    import pyarrow.parquet as pq
    from datasets import Features

    if not manifest["shards"]:
        return None
    with fs.open(f"{base}/{manifest['shards'][0]['file']}", "rb") as handle:
        return Features.from_arrow_schema(pq.read_schema(handle))


def finalize(fs, base: str, out: str, table: pd.DataFrame, cfg: DatasetConfig, data: DataConfig, chash: str,
             num_shards: int, extra_report: list[dict], source: str) -> dict:
    """Gather every finished shard marker and (re)write manifest, report, splits, card and config.

    Safe to run on every rank: each file is replaced atomically, and the rank finishing last sees
    every marker, so its files are complete (only a complete build writes the split cells).
    """
    from aivf.dataset.build import _read_marker, euploid_label

    markers = [m for i in range(num_shards) if (m := _read_marker(fs, f"{base}/_state/shard-{i:05d}.json"))
               and m["config_hash"] == chash]
    built = list(dict.fromkeys(e for m in markers for e in m["embryo_ids"]))  # an id counts once
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
    if complete and splits:
        write_cells(fs, base, manifest, split_cells(splits)[0], chash, cfg.row_group_size)
    built_labels = labels[labels["embryo_id"].isin(set(built))]
    card = card_text(out, source, cfg, data, manifest, report, built_labels, splits, _features(fs, base, manifest))
    _write_text(fs, f"{base}/README.md", card)
    _write_text(fs, f"{base}/manifest.json", json.dumps(manifest, indent=1))  # last: marks the build as readable
    failures = report[report["status"] != "ok"]["reason"].value_counts()
    return {"num_built": len(built), "num_failed": manifest["num_failed"], "complete": complete,
            "failures": {str(k): int(v) for k, v in failures.items()}}
