"""Sanitise files or folders on this machine: ``python -m sanitiser INPUT... --out DIR``.

Writes ``DIR/clean/<file>.jsonl`` (same relative paths), ``DIR/quarantine.jsonl``,
``DIR/duplicates.jsonl``, ``DIR/stats.json`` and ``DIR/report.md``; exits 1 when the
quarantined share is over ``--max-quarantine-percent``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from openforge_contract.environment_variables import DEFAULT_MAX_QUARANTINE_PERCENT

from .core import JsonlSink, Sanitiser, Settings, Stats
from .report import over_limit, write_report
from .rules import special_tokens


class _Progress:
    """Counts bytes as the reader pulls them, for the progress bar."""

    def __init__(self, handle, bar):
        self._handle, self._bar = handle, bar

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._bar.update(len(data))
        return data

    def readline(self, limit: int = -1) -> bytes:
        data = self._handle.readline(limit)
        self._bar.update(len(data))
        return data


def inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input) for every JSONL file under the inputs."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [(f, f.relative_to(path)) for f in sorted(path.rglob("*.jsonl"))]
        elif path.is_file():
            found.append((path, Path(path.name)))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def sanitise_paths(paths: list[Path], out: Path, settings: Settings, progress: bool = True) -> Stats:
    files = inputs(paths)
    out.mkdir(parents=True, exist_ok=True)
    sanitiser, total = Sanitiser(settings), Stats()
    per_source = {}
    with open(out / "quarantine.jsonl", "wb") as quarantine, open(out / "duplicates.jsonl", "wb") as duplicates, \
            tqdm(total=sum(f.stat().st_size for f, _ in files), unit="B", unit_scale=True, disable=not progress, desc="sanitising") as bar:
        for path, relative in files:
            clean_path = out / "clean" / relative
            clean_path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as handle, open(clean_path, "wb") as clean:
                stats = sanitiser.run(_Progress(handle, bar), str(path), JsonlSink(clean, quarantine, duplicates))
            per_source[str(path)] = stats.to_dict()
            total.add(stats)
    write_report(out, total, per_source, settings)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sanitiser", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help="JSONL files or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--marker-fix", choices=["space", "strip", "quarantine"], default="space", help="what to do with reserved markers (default: 'System:' -> 'System :', tags removed)")
    parser.add_argument("--extra-marker", action="append", default=[], help="another reserved string, e.g. the base model's special tokens (repeatable)")
    parser.add_argument("--tokenizer", type=Path, help="a model folder with tokenizer.json: its special tokens become reserved markers too")
    parser.add_argument("--no-pii", action="store_true", help="do not scrub PII patterns")
    parser.add_argument("--no-near-dedup", action="store_true", help="skip near-duplicate detection")
    parser.add_argument("--near-threshold", type=float, default=0.8, help="estimated Jaccard similarity for a near duplicate")
    parser.add_argument("--max-line-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--max-quarantine-percent", type=float, default=DEFAULT_MAX_QUARANTINE_PERCENT)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    extra = list(args.extra_marker)
    if args.tokenizer:
        try:
            extra += special_tokens(args.tokenizer)
        except FileNotFoundError as error:
            print(f"sanitiser: {error}", file=sys.stderr)
            return 2
    settings = Settings(marker_fix=args.marker_fix, extra_markers=tuple(extra), scrub_pii=not args.no_pii, near_dedup=not args.no_near_dedup,
                        near_threshold=args.near_threshold, max_line_bytes=args.max_line_bytes)
    try:
        stats = sanitise_paths(args.inputs, args.out, settings, progress=not args.quiet)
    except FileNotFoundError as error:
        print(f"sanitiser: {error}", file=sys.stderr)
        return 2
    print((args.out / "report.md").read_text())
    print(f"Written to {args.out}: clean/ (same paths as the input), quarantine.jsonl, duplicates.jsonl, stats.json, report.md")
    failure = over_limit(stats, args.max_quarantine_percent)
    if failure:
        print(f"sanitiser: {failure}", file=sys.stderr)
        return 1
    return 0
