"""Push a trained run to the Hugging Face Hub: ``save_pretrained`` weights, a model card, the config.

``push(run_dir, repo_id)`` stages ``<run>/best`` (else ``<run>/final``) in a temporary folder with a
README.md model card, then ``create_repo`` + ``upload_folder``. The token comes from the argument or
HF_TOKEN / the huggingface_hub login and is never printed or logged (tests/hub/test_push.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
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


def bootstrap_auc(labels: np.ndarray, probs: np.ndarray, groups: list[str], n_boot: int = 1000,
                  seed: int = 0) -> tuple[float, float, float]:
    """AUC with a 95% percentile CI, resampling patients (siblings are correlated), not embryos.

    Args:
        labels: (N,) 0/1 (no NaN). probs: (N,) predicted probabilities. groups: N patient ids.
    """
    from sklearn.metrics import roc_auc_score

    point = float(roc_auc_score(labels, probs))
    patients = np.unique(groups)
    index = {p: np.flatnonzero(np.asarray(groups) == p) for p in patients}
    rng, stats = np.random.default_rng(seed), []
    for _ in range(n_boot):
        rows = np.concatenate([index[p] for p in rng.choice(patients, len(patients))])
        if len(np.unique(labels[rows])) == 2:
            stats.append(roc_auc_score(labels[rows], probs[rows]))
    low, high = (np.percentile(stats, [2.5, 97.5]) if stats else (float("nan"), float("nan")))
    return point, float(low), float(high)


def metrics_table(folder: Path) -> str:
    """Markdown rows: task, n, AUC [95% CI] from the folder's eval_predictions.csv (patient bootstrap)."""
    path = folder / "eval_predictions.csv"
    if not path.is_file():
        return "_No validation predictions were saved with these weights._\n"
    import pandas as pd

    table = pd.read_csv(path)
    patients = [str(e).rsplit("-", 1)[0] for e in table["embryo_id"]]  # ids are <patient>-<k>
    lines = ["| outcome | embryos with a label | AUC [95% CI, patient bootstrap] |", "|---|---|---|"]
    for task, meaning in TASK_NAMES.items():
        if f"label_{task}" not in table:
            continue
        seen = table[f"label_{task}"].notna().to_numpy()
        y, p = table[f"label_{task}"].to_numpy()[seen], table[f"prob_{task}"].to_numpy()[seen]
        if len(np.unique(y)) < 2:
            lines.append(f"| {meaning} | {seen.sum()} | n/a ({'no labels' if not seen.any() else 'one class only'}) |")
            continue
        auc, low, high = bootstrap_auc(y, p, [g for g, s in zip(patients, seen) if s])
        lines.append(f"| {meaning} | {seen.sum()} | {auc:.3f} [{low:.3f}, {high:.3f}] |")
    return "\n".join(lines) + "\n"


def model_card(folder: Path, repo_id: str) -> str:
    """README.md for the Hub: intended use, data, metrics with CIs, limitations, config, how to load."""
    config = (folder / "config.yaml").read_text() if (folder / "config.yaml").is_file() else "(not saved)\n"
    meta = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    step = f" at optimizer step {meta['step']}" if "step" in meta else ""
    return f"""---
license: apache-2.0
library_name: transformers
tags: [ivf, embryo, time-lapse, video-classification, research]
---

# {repo_id.split('/')[-1]}

An aivf EmbryoModel: a video backbone over keyframes of an embryo time-lapse recording plus
multi-task heads predicting {", ".join(TASK_NAMES.values())}.

## Intended use

**Research only. This is not a medical device** and has not been validated for clinical use. It must
not be used to select, rank, transfer or discard human embryos, or to inform any patient's care.
It exists to study methods (keyframe selection, multi-task learning, evaluation per pregnancy).

## Data

Trained with the aivf pipeline on the cohort and split named in the configuration below (for a
simulated cohort: synthetic recordings with known ground truth, `aivf simulate`). Labels are sparse
and policy-dependent: only transferred embryos have heartbeat outcomes, only biopsied ones PGT-A.

## Validation metrics

Best checkpoint by `{meta.get('best_metric', 'the configured metric')}`{step}; confidence intervals by
bootstrap over patients (sibling embryos are not independent).

{metrics_table(folder)}
## Limitations

- Validated only on the split above; clinics, incubators, culture media and patient populations
  differ, so performance elsewhere is unknown until measured there.
- Labels come from transferred or biopsied embryos only: selection bias.
- Small validation sets give wide intervals; compare the intervals, not the point estimates.
- Outcomes depend on the uterus and the transfer as much as on the embryo.

## Training configuration

```yaml
{config}```

## How to load

```python
import aivf.model  # registers the EmbryoModel classes with transformers' Auto classes
from transformers import AutoModel

model = AutoModel.from_pretrained("{repo_id}")
out = model(pixel_values, keyframe_hpi=hpi, covariates=cov)  # pixel_values: (B, K, C, H, W)
probs = out.logits.sigmoid()  # (B, 3): {", ".join(TASK_NAMES)}
```
"""


def stage(run_dir: Path, repo_id: str, out: Path) -> Path:
    """Write the files to upload into ``out``: weights via ``save_pretrained``, README.md, config.yaml."""
    folder = weights_folder(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (folder / "config.json").is_file():  # a transformers model: reload and save_pretrained (safetensors)
        from transformers import AutoModel

        import aivf.model  # noqa: F401 - registers EmbryoModel with AutoModel

        AutoModel.from_pretrained(folder, local_files_only=True).save_pretrained(out, safe_serialization=True)
    else:
        shutil.copy(folder / "model.safetensors", out / "model.safetensors")
    for name in ("config.yaml", "metrics.json"):
        if (folder / name).is_file():
            shutil.copy(folder / name, out / name)
    (out / "README.md").write_text(model_card(folder, repo_id))
    return out


def push(run_dir: str | Path, repo_id: str, token: str | None = None, private: bool = True,
         endpoint: str | None = None, commit_message: str = "Upload aivf model") -> str:
    """Create the repo (if needed) and upload the staged run; returns the commit URL.

    Args:
        run_dir: a training run folder (``outputs/<name>``).
        repo_id: ``ORG/NAME`` on the Hub.
        token: Hub token; None uses HF_TOKEN or the saved login. Never printed.
        private: create the repo private (default: models of embryos stay private until reviewed).
        endpoint: Hub URL; None uses HF_ENDPOINT or huggingface.co.
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="aivf-push-") as tmp:
        staged = stage(Path(run_dir), repo_id, Path(tmp))
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=staged, repo_id=repo_id, repo_type="model",
                                 commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
