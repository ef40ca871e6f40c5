"""``aivf push <run> --repo-id ORG/NAME``: weights + code, preprocessing, calibration, model card; upload_folder."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="training run folder, e.g. outputs/tiny")
    parser.add_argument("--repo-id", required=True, help="Hub repository ORG/NAME")
    parser.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    parser.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co)")
    parser.add_argument("--dataset", default=None, metavar="ORG/NAME",
                        help="Hub id of the training dataset, for the model card's metadata")
    parser.add_argument("--base-model", default=None, metavar="ORG/NAME",
                        help="Hub id of the pretrained backbone (default: model.pretrained when it is a Hub id)")
    parser.add_argument("--stage-only", metavar="DIR", default=None,
                        help="only write the files that would be uploaded into DIR (no network)")
    # No --token option: a token on the command line lands in shell history and process lists.
    # Use HF_TOKEN or `huggingface-cli login`.


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aivf.hub.push import push, stage

    if args.stage_only:
        print(f"staged {stage(Path(args.run), args.repo_id, Path(args.stage_only), args.dataset, args.base_model)}")
        return 0
    url = push(args.run, args.repo_id, private=not args.public, endpoint=args.endpoint, dataset=args.dataset,
               base_model=args.base_model)
    print(f"pushed {args.run} to {args.repo_id}: {url}")
    return 0
