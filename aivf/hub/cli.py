"""``aivf push <run> --repo-id ORG/NAME``: save_pretrained + model card + create_repo + upload_folder."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="training run folder, e.g. outputs/tiny")
    parser.add_argument("--repo-id", required=True, help="Hub repository ORG/NAME")
    parser.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    parser.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co)")
    parser.add_argument("--stage-only", metavar="DIR", default=None,
                        help="only write the files that would be uploaded into DIR (no network)")
    # No --token option: a token on the command line lands in shell history and process lists.
    # Use HF_TOKEN or `huggingface-cli login`.


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aivf.hub.push import push, stage

    if args.stage_only:
        print(f"staged {stage(Path(args.run), args.repo_id, Path(args.stage_only))}")
        return 0
    url = push(args.run, args.repo_id, private=not args.public, endpoint=args.endpoint)
    print(f"pushed {args.run} to {args.repo_id}: {url}")
    return 0
