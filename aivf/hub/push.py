"""Push a trained run to the Hugging Face Hub: weights + code, preprocessing, calibration, a model card, the config.

``push(run_dir, repo_id)`` stages ``<run>/best`` (else ``<run>/final``) in a temporary folder, then
``create_repo`` + ``upload_folder``. The folder is everything inference needs, so a downloaded copy works
alone: ``save_pretrained`` weights with self-contained modelling code (``trust_remote_code=True``),
``preprocessor_config.json`` (aivf.model.preprocessing), the ``calibration.json`` that ``aivf rank``
applies, config.yaml, and README.md built with ``huggingface_hub.ModelCard`` (model-index: the test
metrics of ``aivf evaluate`` with patient-bootstrap CIs, aivf/eval/bootstrap.py). The token comes from the argument or
HF_TOKEN / the huggingface_hub login and is never printed or logged (tests/hub/test_push.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

TASK_NAMES = {
    "d3_fhb": "fetal heartbeat after a day-3 transfer",
    "d5_fhb": "fetal heartbeat after a day-5 transfer",
    "euploid": "euploid by PGT-A (day 5-6 biopsy)",
}


def weights_folder(run_dir: Path) -> Path:
    """The folder to publish: the best checkpoint by the validation metric, else the final weights."""
    for name in ("best", "final"):
        if (run_dir / name / "model.safetensors").is_file():
            return run_dir / name
    raise FileNotFoundError(f"{run_dir}: no best/ or final/ folder with model.safetensors; train the run first "
                            "(aivf train) or pass the run folder (outputs/<name>)")


def held_out_metrics(run_dir: Path, cfg=None) -> tuple[list[dict], str]:
    """Per outcome: AUC and Brier score with patient-bootstrap CIs on the run's test split; and the split's name.

    Reads ``aivf evaluate``'s ``<run>/<eval.output>/predictions.csv`` (calibrated probabilities as ``aivf rank``
    shows them, with the dataset's real ``patient_id``). The intervals resample patients (sibling embryos are
    not independent) with aivf/eval/bootstrap.py, ``eval.n_bootstrap`` times at ``eval.ci_level``.

    Returns:
        ([{"task", "meaning", "n", "n_pos", "metric", "value", "low", "high"}, ...], split); ([], "") when
        the run has no test predictions yet.

    Raises:
        ValueError: the predictions table lacks ``patient_id`` (written by an older aivf; run aivf evaluate again).
    """
    import pandas as pd

    from aivf.eval import metrics
    from aivf.eval.bootstrap import bootstrap_ci
    from aivf.eval.config import EvalConfig

    ec = cfg.eval if cfg is not None else EvalConfig()
    out = Path(ec.output) if Path(ec.output).is_absolute() else run_dir / ec.output
    path = out / "predictions.csv"
    if not path.is_file():
        return [], ""
    table = pd.read_csv(path)
    if "patient_id" not in table:
        raise ValueError(f"{path}: no patient_id column, so no patient bootstrap; run `aivf evaluate {run_dir}` again")
    split = ""
    if (out / "metrics.json").is_file():
        split = str(json.loads((out / "metrics.json").read_text()).get("split") or "")
    rows = []
    for task, meaning in TASK_NAMES.items():
        if f"label_{task}" not in table or f"prob_{task}" not in table:
            continue
        known = table[f"label_{task}"].notna().to_numpy()
        y = table[f"label_{task}"].to_numpy(np.float64)[known]
        p = table[f"prob_{task}"].to_numpy(np.float64)[known]
        patients = table["patient_id"].astype(str).to_numpy()[known]
        base = {"task": task, "meaning": meaning, "n": int(known.sum()), "n_pos": int((y == 1).sum())}
        if len(np.unique(y)) < 2:  # no AUC without both classes
            rows.append({**base, "metric": "roc_auc", "value": float("nan"), "low": float("nan"), "high": float("nan")})
            continue
        for metric, fn in (("roc_auc", metrics.roc_auc), ("brier", metrics.brier)):
            ci = bootstrap_ci(lambda idx, fn=fn, y=y, p=p: fn(y[idx], p[idx]), patients, ec.n_bootstrap,
                              ec.ci_level, 0)
            rows.append({**base, "metric": metric, **ci})
    return rows, split


def metrics_table(rows: list[dict], level: float = 0.95) -> str:
    """Markdown table of ``held_out_metrics`` rows (one line per outcome)."""
    if not rows:
        return ("_No test-set evaluation was found: run `aivf evaluate <run>` before `aivf push` to publish "
                "test metrics._\n")
    pct = f"{level:.0%}"
    lines = [f"| outcome | embryos with a label (positive) | AUC [{pct} CI] | Brier [{pct} CI] |", "|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = {r["metric"]: r for r in rows if r["task"] == task}
        first = next(iter(mine.values()))
        cells = []
        for name in ("roc_auc", "brier"):
            r = mine.get(name)
            if r is None or not np.isfinite(r["value"]):
                cells.append("n/a (one class only)" if first["n"] else "n/a (no labels)")
            else:
                cells.append(f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]")
        lines.append(f"| {first['meaning']} | {first['n']} ({first['n_pos']}) | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def eval_results(rows: list[dict], split: str, dataset: str, level: float = 0.95) -> list:
    """``huggingface_hub.EvalResult``s for the model-index: each test metric, its CI in ``metric_args``.

    One model-index task holds every outcome (the Hub groups results by task type and dataset); the outcome is
    the metric's ``config`` (``d5_fhb`` ...), its meaning and CI are in the metric's display name.
    """
    from huggingface_hub import EvalResult

    names = {"roc_auc": "AUC", "brier": "Brier score"}
    out = []
    for r in rows:
        if not np.isfinite(r["value"]):
            continue
        ci = f"{level:.0%} CI {r['low']:.3f}-{r['high']:.3f}, patient bootstrap"
        out.append(EvalResult(
            task_type="video-classification", task_name="embryo outcomes from time-lapse video",
            dataset_type=dataset, dataset_name=dataset, dataset_split=split or "test",
            metric_type=r["metric"], metric_value=round(float(r["value"]), 4), metric_config=r["task"],
            metric_name=f"{names[r['metric']]}, {r['meaning']} ({ci})",
            metric_args={"ci_low": round(float(r["low"]), 4), "ci_high": round(float(r["high"]), 4),
                         "ci_level": level, "resampled": "patient", "n": r["n"], "n_positive": r["n_pos"]}))
    return out


def _run_config(folder: Path):
    """The run's ExperimentConfig from config.yaml beside the weights (None when absent)."""
    if not (folder / "config.yaml").is_file():
        return None
    from aivf.config import load_config

    return load_config([str(folder / "config.yaml")])


def base_model_of(cfg, given: str | None) -> str | None:
    """The Hub id of the pretrained backbone: ``given``, else ``model.pretrained`` when it reads as ``ORG/NAME``.

    A local path (a VideoMAE folder, a torchvision or official Swin file) is not a Hub id and is left out.
    """
    if given:
        return given
    pretrained = getattr(getattr(cfg, "model", None), "pretrained", None) or ""
    looks_like_id = pretrained.count("/") == 1 and not pretrained.startswith((".", "/", "~")) \
        and not Path(pretrained).exists()
    return pretrained if looks_like_id else None


def model_card(folder: Path, repo_id: str, run_dir: Path | None = None, dataset: str | None = None,
               base_model: str | None = None):
    """The Hub model card (``huggingface_hub.ModelCard``): metadata with model-index test results, and the text.

    Args:
        folder: the weights folder (``<run>/best`` or ``<run>/final``); run_dir: its run (default: its parent).
        dataset: Hub id of the training dataset, for ``datasets`` and the eval results (default: ``aivf-<name>``).
        base_model: Hub id of the pretrained backbone (default: ``model.pretrained`` if it is one).
    """
    from huggingface_hub import ModelCard, ModelCardData

    run_dir = run_dir or folder.parent
    cfg = _run_config(folder)
    config = (folder / "config.yaml").read_text() if cfg is not None else "(not saved)\n"
    meta = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    level = cfg.eval.ci_level if cfg is not None else 0.95
    rows, split = held_out_metrics(run_dir, cfg)
    name = repo_id.split("/")[-1]
    dataset_id = dataset or f"aivf-{getattr(cfg, 'name', name)}"
    base = base_model_of(cfg, base_model)
    data = ModelCardData(
        license="apache-2.0", library_name="transformers", pipeline_tag="video-classification",
        tags=["ivf", "embryo", "time-lapse", "video-classification", "research", "aivf"],
        datasets=[dataset] if dataset else None, base_model=base, model_name=name,
        eval_results=eval_results(rows, split, dataset_id, level) or None)
    step = f" at optimizer step {meta['step']}" if "step" in meta else ""
    base_line = f"Fine-tuned from [{base}](https://huggingface.co/{base}).\n\n" if base else ""
    body = f"""
# {name}

An aivf EmbryoModel: a video backbone over keyframes of an embryo time-lapse recording plus
multi-task heads predicting {", ".join(TASK_NAMES.values())}.

{base_line}## Intended use

**Research only. This is not a medical device** and has not been validated for clinical use. It must
not be used to select, rank, transfer or discard human embryos, or to inform any patient's care.
It exists to study methods (keyframe selection, multi-task learning, evaluation per pregnancy).

## Data

Trained with the aivf pipeline on the cohort and split named in the configuration below (for a
simulated cohort: synthetic recordings with known ground truth, `aivf simulate`). Labels are sparse
and policy-dependent: only transferred embryos have heartbeat outcomes, only biopsied ones PGT-A.

## Test metrics

On the held-out `{split or "test"}` split (`aivf evaluate`), with the calibrated probabilities `aivf rank`
shows; {level:.0%} confidence intervals by bootstrap over patients (sibling embryos are not independent).
The weights are the best checkpoint by `{meta.get('best_metric', 'the configured metric')}` on validation{step}.

{metrics_table(rows, level)}
## Limitations

- Validated only on the split above; clinics, incubators, culture media and patient populations
  differ, so performance elsewhere is unknown until measured there.
- Labels come from transferred or biopsied embryos only: selection bias.
- Small test sets give wide intervals; compare the intervals, not the point estimates.
- Outcomes depend on the uterus and the transfer as much as on the embryo.

## Files

- `model.safetensors`, `config.json`, `configuration_aivf_embryo.py`, `modeling_aivf_embryo.py`: the model and
  its code (loads with `trust_remote_code=True` without aivf).
- `preprocessor_config.json`: the keyframes the model was trained on (count, hpi grid, crop, size, focal
  planes, normalisation), read by `aivf.model.EmbryoVideoProcessor`.
- `calibration.json`: the probability calibration `aivf rank` applies (fitted on validation).
- `config.yaml`: the full training configuration (below).

## Training configuration

```yaml
{config}```

## How to load

```python
from transformers import AutoModel

model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True)  # no aivf needed
out = model(pixel_values, keyframe_hpi=hpi, covariates=cov)  # pixel_values: (B, K, C, H, W)
probs = out.logits.sigmoid()  # (B, 3) uncalibrated: {", ".join(TASK_NAMES)}
```

With aivf installed, `import aivf` registers the classes (no remote code), the processor reads a recording
with the training keyframes, and `aivf rank <downloaded folder> <recordings>` ranks a cohort with the
calibration above:

```python
import aivf
from aivf.model import EmbryoVideoProcessor
from transformers import AutoModel

model = AutoModel.from_pretrained("{repo_id}")
inputs = EmbryoVideoProcessor.from_pretrained("{repo_id}").read("embryo.mp4")
logits = model(**inputs).logits
```
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def stage(run_dir: Path, repo_id: str, out: Path, dataset: str | None = None, base_model: str | None = None) -> Path:
    """Write the files to upload into ``out``: weights + code via ``save_pretrained``, preprocessor_config.json,
    calibration.json, config.yaml, metrics.json, README.md."""
    from aivf.model.preprocessing import EmbryoVideoProcessor

    run_dir = Path(run_dir)
    folder = weights_folder(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (folder / "config.json").is_file():  # a transformers model: reload and save_pretrained (safetensors + code)
        from aivf.model import EmbryoModel

        EmbryoModel.from_pretrained(folder, local_files_only=True).save_pretrained(out, safe_serialization=True)
    else:
        shutil.copy(folder / "model.safetensors", out / "model.safetensors")
    for name in ("config.yaml", "metrics.json", "calibration.json"):
        if (folder / name).is_file():
            shutil.copy(folder / name, out / name)
    if not (folder / "calibration.json").is_file():
        warnings.warn(f"{folder}: no calibration.json; run `aivf evaluate {run_dir}` first, else `aivf rank` from the "
                      "downloaded folder shows uncalibrated probabilities", stacklevel=2)
    cfg = _run_config(folder)
    if (folder / "preprocessor_config.json").is_file():
        shutil.copy(folder / "preprocessor_config.json", out / "preprocessor_config.json")
    elif cfg is not None:
        EmbryoVideoProcessor.from_experiment(cfg).save_pretrained(out)
    model_card(folder, repo_id, run_dir, dataset, base_model).save(out / "README.md")
    return out


def push(run_dir: str | Path, repo_id: str, token: str | None = None, private: bool = True,
         endpoint: str | None = None, commit_message: str = "Upload aivf model", dataset: str | None = None,
         base_model: str | None = None) -> str:
    """Create the repo (if needed) and upload the staged run; returns the commit URL.

    Args:
        run_dir: a training run folder (``outputs/<name>``).
        repo_id: ``ORG/NAME`` on the Hub.
        token: Hub token; None uses HF_TOKEN or the saved login. Never printed.
        private: create the repo private (default: models of embryos stay private until reviewed).
        endpoint: Hub URL; None uses HF_ENDPOINT or huggingface.co.
        dataset, base_model: Hub ids for the card's metadata (see ``model_card``).
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="aivf-push-") as tmp:
        staged = stage(Path(run_dir), repo_id, Path(tmp), dataset, base_model)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=staged, repo_id=repo_id, repo_type="model",
                                 commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
