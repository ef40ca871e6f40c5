"""``aivf rank RUN_OR_CHECKPOINT INPUT [--clinical CSV] [--out DIR]``: a ranked cohort as CSV and HTML.

INPUT is a built dataset (a folder with manifest.json; ``--split`` picks a split) or a folder of
recordings in any layout ``aivf.data.open_recording`` reads (videos + time CSVs, Gomez folders,
EmbryoScope exports, multi-plane stills). Probabilities are calibrated with the checkpoint's
``calibration.json`` (written by ``aivf evaluate``; fitted here on the run's validation split if absent).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from aivf.cli import add_config_arguments
from aivf.config import load_config
from aivf.sim.types import EVENTS, TASKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="run folder (uses best/, else final/) or a checkpoint folder")
    parser.add_argument("input", help="built dataset folder, or a folder of recordings (any supported layout)")
    add_config_arguments(parser)
    parser.add_argument("--split", help="dataset input: split to rank (default: all embryos)")
    parser.add_argument("--clinical", metavar="CSV", help="recordings input: clinical table for patient ids, "
                        "age and method (default: patient = embryo id before the last dash; no covariates); "
                        "an embryo whose row has a bad value or a repeated id is listed as not used")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <run>/rank)")
    parser.add_argument("--thumbnails-top", type=int, default=3, metavar="N",
                        help="keyframe strips on the page only for the N best-ranked embryos of each patient "
                             "(keeps the page small: ~6 kB per strip); 0 = none, -1 = every embryo (default 3)")


def recording_batch(path: Path, embryo_id: str | None, cfg, model_cfg, covariates: np.ndarray) -> tuple[dict, dict]:
    """One training-format batch (B=1) from a recording, plus its facts (source, frames, read seconds)."""
    import torch

    from aivf.data import open_recording

    start = time.perf_counter()
    opts = {"embryo_id": embryo_id} if embryo_id else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_recording(path, cfg.data, **opts) as rec:
            frames, keys = rec.read_keyframes(cfg.data.keyframes)  # uint8 (K, P, H, W)
            facts = {"embryo_id": rec.embryo_id, "source": f"{type(rec).__name__} · {len(rec)} frames · "
                     f"{rec.num_planes} plane(s) · {rec.times_hpi[0]:.1f}-{rec.times_hpi[-1]:.1f} hpi"}
            if not keys.mask.any():  # e.g. a still at an hpi off the keyframe grid: use what was recorded
                frames, keys = rec.read_keyframes(dataclasses.replace(cfg.data.keyframes, method="uniform"))
                facts["source"] += " · off the keyframe grid, uniform keyframes used"
    channels = model_cfg.num_channels
    if frames.shape[1] < channels:  # fewer planes than the model was trained on: repeat the sharpest one
        frames = np.concatenate([frames, np.repeat(frames[:, :1], channels - frames.shape[1], axis=1)], axis=1)
        facts["source"] += f" · plane 0 repeated to {channels}"
    frames = frames[:, :channels]
    loader = cfg.dataset.loader
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0).sub_(loader.pixel_mean).div_(loader.pixel_std)
    batch = {"pixel_values": pixels[None], "keyframe_hpi": torch.from_numpy(keys.hpi.astype(np.float32))[None],
             "keyframe_mask": torch.from_numpy(keys.mask.astype(bool))[None],
             "covariates": torch.from_numpy(covariates.astype(np.float32))[None], "embryo_id": [facts["embryo_id"]]}
    facts["read_s"] = time.perf_counter() - start
    facts["warnings"] = "; ".join(sorted({str(w.message) for w in caught}))[:300]
    return batch, facts


def clinical_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The ``--clinical`` table indexed by embryo id, and ``embryo id -> why its row cannot be used``.

    Only the columns ranking uses are checked (embryo_id, patient_id, maternal_age, method, and the day-5
    grades expansion_d5 / icm_d5 / te_d5 where present; input-check
    policy of docs/architecture.md): a row with a value outside its vocabulary, or an id on several
    rows, leaves its embryo out of the ranking with the reason (the page's "not used" list); the rest
    of the cohort is ranked. Without a patient_id column, patients are the id before its last dash.

    Raises:
        BuildError (a RuntimeError): unreadable file or no embryo_id column.
    """
    from aivf.dataset.build import BuildError, _read_table, check_clinical

    raw = _read_table(path)
    if "embryo_id" not in raw:
        raise BuildError(f"{path}: clinical CSV lacks the embryo_id column; it has {list(raw.columns)}")
    if "patient_id" not in raw:
        warnings.warn(f"{path}: no patient_id column; ranking groups embryos by the id before the last dash "
                      "(one patient = one '<patient>-<k>' prefix)", stacklevel=2)
        raw["patient_id"] = raw["embryo_id"].str.rsplit("-", n=1).str[0]
    used = [c for c in ("embryo_id", "patient_id", "maternal_age", "method") if c in raw]
    table = check_clinical(raw[used], path)
    problems = {str(e): f"{path}: {err}" for e, err in zip(table["embryo_id"], table["input_error"]) if err and e}
    repeated = table["embryo_id"].notna() & table["embryo_id"].duplicated(keep=False)
    for embryo, rows in table[repeated].groupby("embryo_id"):
        lines = ", ".join(str(i + 2) for i in rows.index)
        problems[str(embryo)] = f"{path}: embryo id on lines {lines} (which row is this embryo?)"
    from aivf.eval.grade_gate import GRADE_COLUMNS

    grades = [c for c in GRADE_COLUMNS if c in raw]
    if grades:  # the recorded day-5 grades the gate reads (aivf.eval.grade_gate); a bad one leaves its embryo out
        from aivf.dataset.records import check_records

        records = raw[grades].copy()
        for embryo, found in zip(table["embryo_id"], check_records(records)):
            if found and embryo:
                problems.setdefault(str(embryo), f"{path}: {'; '.join(found)}")
        table[grades] = records[grades].to_numpy()
    usable = table["embryo_id"].notna() & ~repeated & (table["input_error"] == "") & ~table["embryo_id"].isin(problems)
    return table[usable].set_index("embryo_id"), problems


def covariates_for(clinical: pd.DataFrame | None, embryo_id: str) -> tuple[np.ndarray, str]:
    """([(age - 35) / 5, is_icsi] or NaNs, patient id) from the clinical table when the embryo is in it."""
    if clinical is not None and embryo_id in clinical.index:
        row = clinical.loc[embryo_id]
        return np.array([(float(row["maternal_age"]) - 35) / 5, float(row.get("method") == "ICSI")]), str(row["patient_id"])
    return np.full(2, np.nan), embryo_id.rsplit("-", 1)[0]


def get_calibrator(ckpt: Path, cfg, ds_path: str | None):
    """The checkpoint's calibration; fitted on the run's validation split and saved when missing."""
    from aivf.eval.calibration import Calibrator

    try:
        cal = Calibrator.load(ckpt)
        return cal, f"{cal.method} calibration from {ckpt / 'calibration.json'}"
    except FileNotFoundError:
        pass
    try:
        from aivf.dataset.loader import load_split
        from aivf.eval.evaluate_cli import score_split
        from aivf.eval.scoring import eval_split, fit_calibrator, load_model

        cal_split = cfg.eval.calibration_split or eval_split(cfg, None, "val")
        val_ds = load_split(ds_path, cal_split)
        from aivf.eval.evaluate_cli import split_table
        from aivf.eval.grade_gate import with_grades

        val = with_grades(score_split(load_model(ckpt), val_ds, cfg), split_table(val_ds))
        biopsied = val_ds["biopsied"] if "biopsied" in val_ds.column_names else None
    except Exception as err:  # no dataset, no split: rank anyway, and say so on the page
        return None, f"uncalibrated sigmoid outputs (no calibration.json and no validation split: {err})"[:300]
    cal = fit_calibrator(val, cfg.eval.calibration, biopsied)
    path = cal.save(ckpt)
    return cal, f"{cal.method} calibration fitted on '{cal_split}' ({len(val)} embryos), saved to {path}"


def _thumbnails(batch: dict, i: int, n: int, mean: float, std: float) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` evenly spread present keyframes of embryo ``i`` of a batch: (uint8 (n, H, W), hpi (n,))."""
    from aivf.eval.scoring import display_frames

    pick = np.flatnonzero(batch["keyframe_mask"][i].numpy().astype(bool))
    if len(pick):
        pick = pick[np.linspace(0, len(pick) - 1, min(n, len(pick))).round().astype(int)]
    return display_frames(batch["pixel_values"][i][pick], mean, std), batch["keyframe_hpi"][i].numpy()[pick]


def _score_dataset(model, path: Path, split: str | None, cfg, thumbs: dict) -> pd.DataFrame:
    from aivf.dataset.loader import iter_eval_batches, load_split
    from aivf.eval.evaluate_cli import split_table
    from aivf.eval.grade_gate import with_grades
    from aivf.eval.scoring import predict

    ec, loader = cfg.eval, cfg.dataset.loader
    ds = load_split(str(path), split)

    def batches():
        for batch in iter_eval_batches(ds, ec.batch_size, loader):
            for i, embryo in enumerate(batch["embryo_id"]):
                thumbs[embryo] = _thumbnails(batch, i, ec.rank_thumbnails, loader.pixel_mean, loader.pixel_std)
            yield batch

    pred = predict(model, batches(), total=-(-len(ds) // ec.batch_size), desc=f"ranking {len(ds)} embryos")
    pred = with_grades(pred, split_table(ds))
    return pred.assign(source=f"dataset {path}" + (f" ({split})" if split else ""))


def _score_recordings(model, root: Path, clinical: str | None, cfg, thumbs: dict) -> tuple[pd.DataFrame, list[str]]:
    """Read and score every recording under ``root``; unreadable ones are listed, not fatal."""
    import torch
    from tqdm.auto import tqdm

    from aivf.data import find_recordings
    from aivf.eval.scoring import predict

    ec, loader = cfg.eval, cfg.dataset.loader
    table, problems = clinical_table(clinical) if clinical else (None, {})
    found = find_recordings(root)
    if not found:
        raise FileNotFoundError(f"{root}: no recordings found (videos with time CSVs, Gomez folders, "
                                "EmbryoScope exports or stills) and no manifest.json")
    rows, skipped = [], []
    for path in tqdm(found, desc="reading + scoring recordings", unit="embryo"):
        try:
            # Covariates need the embryo id, known only once the recording is open: read ids first.
            batch, fact = recording_batch(path, None, cfg, model.config, np.full(2, np.nan))
        except Exception as err:  # one unreadable recording must not stop the cohort
            skipped.append(f"{path}: {type(err).__name__}: {err}"[:300])
            continue
        if fact["embryo_id"] in problems:  # its clinical row is unusable: say so, rank the others
            skipped.append(f"{fact['embryo_id']} ({path}): clinical row not used: {problems[fact['embryo_id']]}"[:300])
            continue
        cov, fact["patient_id"] = covariates_for(table, fact["embryo_id"])
        batch["covariates"] = torch.from_numpy(cov.astype(np.float32))[None]
        batch["patient_id"] = [fact["patient_id"]]
        start = time.perf_counter()
        row = predict(model, [batch], total=1, progress=False)
        row["score_s"] = time.perf_counter() - start
        rows.append(row.assign(**{k: v for k, v in fact.items() if k != "embryo_id"}))
        thumbs[fact["embryo_id"]] = _thumbnails(batch, 0, ec.rank_thumbnails, loader.pixel_mean, loader.pixel_std)
    if not rows:
        raise RuntimeError(f"{root}: no recording could be read: {skipped[:3]}")
    pred = pd.concat(rows, ignore_index=True)
    if table is not None:
        from aivf.eval.grade_gate import with_grades

        pred = with_grades(pred, table.reset_index())
    return pred, skipped


def rank_cohort(checkpoint, input_path, config=None, overrides=None, split=None, clinical=None, out=None,
                thumbnails_top: int | None = 3) -> dict:
    """Python API of ``aivf rank``; returns ``{"csv", "html", "table", "meta"}``.

    ``thumbnails_top``: keyframe strips for ranks 1..N of each patient only; None or negative = every embryo.
    """
    from aivf.eval.rank_page import render_ranking
    from aivf.eval.scoring import (
        D5_FHB_FROM_DAY3,
        add_probabilities,
        anchor_to_run,
        config_files,
        load_model,
        resolve_checkpoint,
        run_paths,
    )

    t0 = time.perf_counter()
    ckpt = resolve_checkpoint(checkpoint)
    cfg = load_config(config_files(ckpt, config), overrides)
    anchor_to_run(cfg, ckpt)
    from aivf.model.preprocessing import EmbryoVideoProcessor

    # The keyframes, planes and normalisation the model was trained on: preprocessor_config.json beside the
    # weights (a folder from the Hub may have nothing else), else the run's config.
    processor, processor_source = EmbryoVideoProcessor.for_checkpoint(ckpt, cfg)
    cfg = processor.apply_to(cfg)
    ec = cfg.eval
    out = Path(out) if out else Path(cfg.output_dir) / cfg.name / "rank"
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(ckpt)
    input_path = Path(input_path)
    is_dataset = (input_path / "manifest.json").is_file()
    calibrator, cal_note = get_calibrator(ckpt, cfg, str(input_path) if is_dataset else run_paths(cfg)[1])
    thumbs, skipped = {}, []
    if is_dataset:
        pred = _score_dataset(model, input_path, split, cfg, thumbs)
    else:
        pred, skipped = _score_recordings(model, input_path, clinical, cfg, thumbs)
    pred = add_probabilities(pred, calibrator)
    # Ties (e.g. identical recordings) keep file order; clinics break them by hand anyway.
    pred["rank"] = pred.groupby("patient_id")[f"prob_{ec.rank_by}"].rank(ascending=False, method="first").astype(int)
    if "stage_index" in pred:  # the model's own reading of how far the embryo got by the decision time
        pred["stage_predicted"] = [EVENTS[i] if 0 <= i < len(EVENTS) else "" for i in pred["stage_index"].astype(int)]
    extra = [c for c in ("stage_predicted", "prob_usable_d5", "prob_usable_d6", "prob_usable_d3",
                         "prob_d5_fhb_if_transferred") if c in pred]
    cols = ["patient_id", "rank", "embryo_id", *[f"prob_{t}" for t in TASKS], *extra, "source"]
    ranked = pred.sort_values(["patient_id", "rank"])[cols + [c for c in ("read_s", "score_s", "warnings") if c in pred]]
    seconds = time.perf_counter() - t0
    speed = f"{len(ranked)} embryos in {seconds:.1f} s including model load"
    if "read_s" in pred:
        speed += f"; per embryo: read {pred['read_s'].mean():.2f} s, score {pred['score_s'].mean():.2f} s (CPU)"
    csv_path, html_path = out / "ranked.csv", out / "ranked.html"
    ranked.to_csv(csv_path, index=False)
    cal_note += (". What each probability is calibrated on: P(FHB | transfer) on validation embryos that were "
                 "transferred (known outcomes); P(usable) on every validation embryo's recorded day-3/day-5/day-6 call; "
                 "P(FHB | day-3/day-5) shown = P(usable on day 3 / by day 6) x P(FHB | transfer); P(euploid) on biopsied blastocysts "
                 "only, so it is not a calibrated probability for an embryo that did not form a blastocyst"
                 if "prob_usable_d5" in pred else ". P(euploid) is calibrated on biopsied blastocysts only")
    if calibrator is not None and D5_FHB_FROM_DAY3 in calibrator.tasks and "prob_usable_d5" in pred:
        cal_note += ("; for a recording that ends before day 5 (a day-3 transfer), both factors of P(FHB | day-5) come "
                     "from the day-3 heads mapped to validation's day-5 labels: nothing of day 5 was recorded")
    if getattr(calibrator, "grade_gate", None) and any(c in pred for c in ("expansion_d5", "icm_d5", "te_d5")):
        cal_note += ("; P(usable blastocyst by day 6) of a recording that reaches day 5 also reads the recorded day-5 "
                     "expansion and ICM/TE grades (fitted on validation)")
    meta = {"checkpoint": str(ckpt), "input": str(input_path), "calibration": cal_note, "speed": speed,
            "preprocessing": processor_source,
            "skipped": skipped, "seconds": seconds}
    top = None if thumbnails_top is None or thumbnails_top < 0 else thumbnails_top
    html_path.write_text(render_ranking(ranked, thumbs, meta, ec.rank_by, ec.thumbnail_size, top))
    meta["html_bytes"] = html_path.stat().st_size
    return {"csv": csv_path, "html": html_path, "table": ranked, "meta": meta}


def run(args: argparse.Namespace) -> int:
    try:
        res = rank_cohort(args.checkpoint, args.input, args.config, args.overrides, args.split, args.clinical, args.out,
                          args.thumbnails_top)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"aivf rank: {err}")
        return 1
    print(f"aivf rank: {res['meta']['speed']}; {res['meta']['calibration']}")
    if res["meta"]["skipped"]:
        print(f"  {len(res['meta']['skipped'])} entr(ies) not ranked (listed on the page)")
    print(f"aivf rank: ranked table in {res['csv']}\n"
          f"aivf rank: page in {res['html']} ({res['meta']['html_bytes'] / 1e6:.2f} MB)")
    return 0
