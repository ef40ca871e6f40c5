"""``aivf build [-c FILE] [--clinical CSV] [--out PATH] [--strict] [key=value ...]``: recordings -> parquet shards.

Exit status: 0 when a usable dataset was written; 1 on a BuildError (the message says what to fix), and
when a complete build holds no embryo or no evaluation split (``train`` would have nothing to read).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aivf.cli import add_config_arguments
from aivf.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--clinical", metavar="CSV", help="clinical table (default: dataset.clinical_csv, "
                        "else <output_dir>/<name>/<sim.output>/clinical.csv)")
    parser.add_argument("--out", metavar="PATH", help="output folder or fsspec URL (default: "
                        "<output_dir>/<name>/<dataset.output> unless dataset.output is absolute or a URL)")
    parser.add_argument("--strict", action="store_true", help="any clinical value outside its column's vocabulary, "
                        "repeated embryo id or embryo not built is an error (same as dataset.strict=true)")


def resolve_paths(cfg, clinical: str | None, out: str | None) -> tuple[Path, str]:
    """The clinical CSV and the output location of this run (see ``add_arguments``)."""
    run_dir = Path(cfg.output_dir) / cfg.name
    if clinical is None:
        if cfg.dataset.clinical_csv:
            clinical = cfg.dataset.clinical_csv
        else:
            sim = Path(cfg.sim.output)
            clinical = str((sim if sim.is_absolute() else run_dir / sim) / "clinical.csv")
    if out is None:
        out = cfg.dataset.output
        if "://" not in out and not Path(out).is_absolute():
            out = str(run_dir / out)
    return Path(clinical), out


def run(args: argparse.Namespace) -> int:
    # heavy imports only when the command runs
    from aivf.dataset.build import BuildError, build_dataset, nothing_usable

    cfg = load_config(args.config, args.overrides)
    clinical, out = resolve_paths(cfg, args.clinical, args.out)
    if getattr(args, "strict", False):
        cfg.dataset.strict = True
    try:
        report = build_dataset(cfg.dataset, clinical, out, cfg.data)
    except BuildError as err:
        print(f"aivf build: {err}")
        return 1
    print(f"aivf build: {report.num_built} embryos in {out} ({report.shards_written} shard(s) written, "
          f"{report.shards_skipped} already done, {report.seconds:.1f} s)")
    if report.num_failed:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in report.failures.items())
        print(f"  {report.num_failed} embryo(s) not in the dataset ({reasons}); see {out}/build_report.csv")
    if not report.complete:
        print("  other ranks' shards are not finished yet: the manifest is complete once the last rank ends")
        return 0
    problem = nothing_usable(report)
    if problem:
        print(f"aivf build: {problem}")
        return 1
    return 0
