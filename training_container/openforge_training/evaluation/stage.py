"""Stage the public MMLU and IFEval sets in the ``eval`` channel's layout, once, on a
machine that has internet; then upload them to S3 for the VPC (which has none):

    python -m openforge_training.evaluation.stage --out work/eval --s3-uri s3://<datasets bucket>/evaluation/default/

``--mmlu-tar`` / ``--ifeval-file`` take local copies instead of downloading. The BYOD
held-out set is the customer's own: copy its JSONL files to ``<s3-uri>byod/``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from ..errors import InputError
from .layout import IFEVAL_FILE, LETTERS, mmlu_file

MMLU_URL = "https://people.eecs.berkeley.edu/~hendrycks/data.tar"
IFEVAL_URL = "https://raw.githubusercontent.com/google-research/google-research/master/instruction_following_eval/data/input_data.jsonl"
MMLU_MEMBER = re.compile(r"(?:^|/)data/(dev|test)/([a-z_]+)_(dev|test)\.csv$")
IFEVAL_KEYS = ("key", "prompt", "instruction_id_list", "kwargs")


def stage_mmlu(tar_path: Path, out: Path) -> dict[str, int]:
    """Every ``data/{dev,test}/<subject>_<split>.csv`` of the MMLU tarball, checked row by
    row; returns the number of questions per split."""
    counts = {"dev": 0, "test": 0}
    with tarfile.open(tar_path) as archive:
        for member in archive.getmembers():
            match = MMLU_MEMBER.search(member.name)
            if not member.isfile() or match is None or match.group(1) != match.group(3):
                continue
            split, subject = match.group(1), match.group(2)
            text = archive.extractfile(member).read().decode("utf-8")
            rows = [row for row in csv.reader(io.StringIO(text)) if row]
            for number, row in enumerate(rows, start=1):
                if len(row) != 6 or row[5].strip() not in LETTERS:
                    raise InputError(f"{member.name}:{number}: expected question, A, B, C, D, answer (A-D), got {len(row)} columns")
            target = out / mmlu_file(split, subject)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            counts[split] += len(rows)
    if not counts["test"]:
        raise InputError(f"{tar_path} holds no data/test/<subject>_test.csv: is it the MMLU tarball?")
    return counts


def stage_ifeval(source: Path, out: Path) -> int:
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        item = json.loads(line)
        missing = [key for key in IFEVAL_KEYS if key not in item]
        if missing or len(item["instruction_id_list"]) != len(item["kwargs"]):
            raise InputError(f"{source}:{number}: not an IFEval item (missing {missing or 'nothing'}; one kwargs object per instruction)")
    target = out / IFEVAL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    return len(lines)


def upload(out: Path, s3_uri: str, client=None) -> int:
    """Every staged file under ``s3_uri``; the bucket's default KMS key encrypts them."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", s3_uri)
    if match is None:
        raise InputError(f"--s3-uri must look like s3://bucket/prefix/, got {s3_uri!r}")
    import boto3

    client = client or boto3.client("s3")
    bucket, prefix = match.group(1), match.group(2).rstrip("/")
    files = sorted(path for path in out.rglob("*") if path.is_file())
    for path in files:
        key = f"{prefix}/{path.relative_to(out).as_posix()}" if prefix else path.relative_to(out).as_posix()
        client.upload_file(str(path), bucket, key)
    return len(files)


def _download(url: str, folder: Path) -> Path:
    target = folder / url.rsplit("/", 1)[1]
    print(f"downloading {url}")
    urllib.request.urlretrieve(url, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to lay the eval channel out in")
    parser.add_argument("--mmlu-tar", type=Path, help=f"a local copy of {MMLU_URL}")
    parser.add_argument("--ifeval-file", type=Path, help=f"a local copy of {IFEVAL_URL}")
    parser.add_argument("--s3-uri", help="upload the staged files here, e.g. s3://<datasets bucket>/evaluation/default/")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as downloads:
        mmlu = stage_mmlu(args.mmlu_tar or _download(MMLU_URL, Path(downloads)), args.out)
        ifeval = stage_ifeval(args.ifeval_file or _download(IFEVAL_URL, Path(downloads)), args.out)
    print(f"staged MMLU ({mmlu['dev']} few-shot, {mmlu['test']} test questions) and IFEval ({ifeval} prompts) in {args.out}")
    if args.s3_uri:
        print(f"uploaded {upload(args.out, args.s3_uri)} files to {args.s3_uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
