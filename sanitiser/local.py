"""Sanitise files or folders on this machine: ``python -m sanitiser INPUT... --out DIR``.

Writes ``DIR/clean/<file>.jsonl`` (each input's path below the folder the inputs share, so
two inputs never share an output), ``DIR/quarantine.jsonl``,
``DIR/duplicates.jsonl``, ``DIR/stats.json`` and ``DIR/report.md``; exits 1 when the
quarantined share is over ``--max-quarantine-percent``.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from openforge_contract.environment_variables import DEFAULT_MAX_QUARANTINE_PERCENT
from openforge_contract.s3_layout import CLEAN_SUFFIX, shard_name

from .core import JsonlSink, Sanitiser, Settings, Stats
from .report import over_limit, write_report
from .reader import LeadingBom, LineEndings
from .settings import USER_SETTINGS, SettingsError, user_settings
from .shard import BytesUnaccounted, byte_accounting, check_bytes
from .special_tokens import TokenizerError, special_tokens


class _Progress:
    """Counts bytes as the reader pulls them, for the progress bar."""

    def __init__(self, handle, bar):
        self._handle, self._bar = handle, bar

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._bar.update(len(data))
        return data


class InputError(ValueError):
    """Inputs that cannot be sanitised side by side (one file twice)."""


MAX_NAME_BYTES = 255  # a file name's limit on Linux and macOS file systems


@dataclass(frozen=True)
class Inputs:
    files: list[tuple[Path, Path]]  # (file, where its clean copy goes below clean/)
    skipped: dict[str, str]  # file in an input folder that is not read -> why


def skip_reason(file: Path) -> str | None:
    """Why a file found in an input folder is not read, or None when it is: JSON Lines files
    are read whatever the case of their suffix (``data.JSONL``); any other file is named in the
    report with this reason rather than passed over without a word."""
    suffix = file.suffix.lower()
    if suffix == CLEAN_SUFFIX:
        return None
    if suffix == ".json":
        return ("named .json, which usually holds one JSON document (an array, or an object over several lines), not one "
                "record a line; if it is JSON Lines, rename it .jsonl or name the file itself as an input")
    return "not named .jsonl (JSON Lines); name the file itself as an input to read it as JSON Lines"


def inputs(paths: list[Path], out: Path | None = None) -> Inputs:
    """Every JSONL file under the inputs, each with where its clean copy goes: its path below
    the folder all the inputs share (one input folder: below that folder;
    ``a/data.jsonl b/data.jsonl``: ``a/data.jsonl`` and ``b/data.jsonl``), ending in .jsonl
    (what the trainer reads), so no two inputs share an output. A file named as an input is read
    whatever its name; in a folder, files not named .jsonl (any case) are skipped, each named
    with why. Files under ``out`` (an earlier run's outputs) are left out of an input folder; a
    file named under ``out``, an input with nothing left outside it, a file given twice (or as
    a file and inside a folder), or two files whose clean copies would share a name is refused."""
    found, skipped = [], {}
    for path in paths:
        path = Path(os.path.abspath(path))
        if path.is_dir():
            for file in sorted(f for f in path.rglob("*") if f.is_file()):
                reason = skip_reason(file)
                if reason is None:
                    found.append((file, path))
                elif out is None or not file.resolve().is_relative_to(out.resolve()):
                    skipped[str(file)] = reason
        elif path.is_file():
            found.append((path, path.parent))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    if out is not None:
        out = out.resolve()
        kept = [(f, base) for f, base in found if not f.resolve().is_relative_to(out)]
        named = [Path(os.path.abspath(p)) for p in paths if Path(p).is_file() and Path(p).resolve().is_relative_to(out)]
        if named or (found and not kept):
            what = f"{named[0]} lies" if named else "every input file lies"
            raise InputError(f"{what} under --out {out}, whose files are outputs and are not read again; give an --out outside the inputs")
        found = kept
    seen: dict[Path, Path] = {}
    for file, _ in found:
        earlier = seen.setdefault(file.resolve(), file)
        if earlier is not file:
            also = f" (also as {earlier})" if earlier != file else ""
            raise InputError(f"{file} is given twice{also}: its lines would be counted twice; give it once")
    bases = {base for _, base in found}
    if not bases:
        return Inputs([], skipped)
    common = bases.pop() if len(bases) == 1 else Path(os.path.commonpath([*bases]))
    files = [(file, Path(shard_name(file.relative_to(common).as_posix()))) for file, _ in found]
    outputs: dict[Path, Path] = {}
    for file, relative in files:
        other = outputs.setdefault(relative, file)
        if other is not file:
            raise InputError(f"{other} and {file} would both be written to clean/{relative} (clean files end in .jsonl, what the "
                             "trainer reads): rename one")
        too_long = [part for part in relative.parts if len(part.encode()) > MAX_NAME_BYTES]
        if too_long:
            raise InputError(f"{file}'s clean copy would be named {too_long[0]!r}, over the {MAX_NAME_BYTES} bytes a file name may have: rename it")
    for file, relative in files:  # a clean file where another input's clean copy needs a folder ('a.JSONL' and 'a.jsonl/b.jsonl')
        for parent in relative.parents:
            if parent in outputs:
                raise InputError(f"{outputs[parent]} and {file} would be written to clean/{parent} as a file and a folder: rename one")
    return Inputs(files, skipped)


def sanitise_paths(paths: list[Path], out: Path, settings: Settings, progress: bool = True) -> Stats:
    """Every input through one Sanitiser (duplicates are found across files); raises
    BytesUnaccounted when a file was not read to its end."""
    found = inputs(paths, out)
    files = found.files
    earlier = out / "clean"
    if earlier.is_dir() and any(earlier.iterdir()):  # its files would sit beside this run's, outside its report
        if not (out / "stats.json").is_file():
            raise InputError(f"{earlier} holds files this command did not write (no stats.json beside it); give another --out")
        shutil.rmtree(earlier)  # an earlier run's clean files: replaced whole, never mixed with this run's
    for file, reason in found.skipped.items():
        print(f"sanitiser: not read: {file}: {reason}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    sanitiser, total = Sanitiser(settings), Stats()
    per_source = {}
    with open(out / "quarantine.jsonl", "wb") as quarantine, open(out / "duplicates.jsonl", "wb") as duplicates, \
            tqdm(total=sum(f.stat().st_size for f, _ in files), unit="B", unit_scale=True, disable=not progress, desc="sanitising") as bar:
        for path, relative in files:
            clean_path = out / "clean" / relative
            clean_path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as handle, open(clean_path, "wb") as clean:
                size = os.fstat(handle.fileno()).st_size
                bom = LeadingBom(LineEndings(_Progress(handle, bar)))
                stats = sanitiser.run(io.BufferedReader(bom), str(path), JsonlSink(clean, quarantine, duplicates))
            accounting = byte_accounting(size, stats.bytes_in + bom.stripped, "file")
            per_source[str(path)] = {**stats.to_dict(), "bytes": accounting}
            total.add(stats)
            check_bytes(str(path), accounting)
    write_report(out, total, per_source, settings, found.skipped)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sanitiser", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help="JSONL files or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--marker-fix", choices=USER_SETTINGS["marker_fix"].choices, default="space", help="what to do with reserved markers (default: 'System:' -> 'System :', tags removed)")
    parser.add_argument("--extra-marker", action="append", default=[], help="another reserved string, e.g. the base model's special tokens (repeatable)")
    parser.add_argument("--tokenizer", type=Path, help="a model folder with tokenizer.json (or that file): its special tokens become reserved markers too")
    parser.add_argument("--no-pii", action="store_true", help="do not scrub PII patterns")
    parser.add_argument("--phone-region", action="append", dest="phone_regions", metavar="REGION",
                        help="a region whose national phone formats are read, e.g. GB (repeatable; default US; + numbers are read anyway)")
    parser.add_argument("--no-near-dedup", action="store_true", help="skip near-duplicate detection")
    parser.add_argument("--near-threshold", type=float, default=0.8, help="estimated Jaccard similarity for a near duplicate")
    parser.add_argument("--max-line-bytes", type=int, default=Settings.max_line_bytes, help="longer lines are quarantined; at most the trainer's limit (default)")
    parser.add_argument("--max-quarantine-percent", type=float, default=DEFAULT_MAX_QUARANTINE_PERCENT)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    extra = list(args.extra_marker)
    if args.tokenizer:
        try:
            extra += special_tokens(args.tokenizer)
        except (FileNotFoundError, TokenizerError) as error:
            print(f"sanitiser: --tokenizer {error}", file=sys.stderr)
            return 2
    try:
        settings = Settings(**user_settings({"marker_fix": args.marker_fix, "extra_markers": extra, "scrub_pii": not args.no_pii,
                                             "near_dedup": not args.no_near_dedup, "near_threshold": args.near_threshold,
                                             "max_line_bytes": args.max_line_bytes, "phone_regions": args.phone_regions or list(Settings.phone_regions)}))
        stats = sanitise_paths(args.inputs, args.out, settings, progress=not args.quiet)
    except (OSError, InputError, SettingsError) as error:  # OSError: a disk full or a name the file system refuses, said plainly
        print(f"sanitiser: {error}", file=sys.stderr)
        return 2
    except BytesUnaccounted as error:
        print(f"sanitiser: {error}", file=sys.stderr)
        return 1
    print((args.out / "report.md").read_text())
    print(f"Written to {args.out}: clean/ (the inputs' paths below the folder they share), quarantine.jsonl, duplicates.jsonl, stats.json, report.md")
    failure = over_limit(stats, args.max_quarantine_percent)
    if failure:
        print(f"sanitiser: {failure}", file=sys.stderr)
        return 1
    return 0
