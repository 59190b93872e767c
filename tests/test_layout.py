"""The repository's layout rules, checked on the source itself: no folder imports a folder
that imports it back (the CDK code runs app.py -> stacks/ -> constructs/, and nothing below
reaches back up), no ``sys.path`` or PYTHONPATH edits outside packaging, and no module so long
that it needs a reason it does not give. Each failure lists the files and lines that offend."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
SKIPPED_FOLDERS = {"tests", ".venv", "node_modules", "build", "cdk.out", "work", "reports"}
MAX_LINES = 400
# Packaging may set the path: hyperpod_jobs/install.py writes the submitter's systemd unit
# (Environment=PYTHONPATH=...); the Dockerfiles are not Python and are not scanned.
PACKAGING = {"hyperpod_jobs/install.py"}
PATH_EDITS = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend)\b|\[|\+=|=[^=])|site\.addsitedir|PYTHONPATH")


def committed_files() -> list[Path]:
    """Files git tracks (a checkout's untracked files and build outputs are not the repository's)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):  # no git: every file outside the skipped folders
        return [path for path in ROOT.rglob("*") if path.is_file() and not _skipped(path.relative_to(ROOT))]
    return [ROOT / name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def _skipped(relative: Path) -> bool:
    return relative.parts[0] in SKIPPED_FOLDERS or any(part.startswith(".") for part in relative.parts)


def python_sources(*, tests: bool = False) -> list[Path]:
    return sorted(path for path in committed_files() if path.suffix == ".py"
                  and (not _skipped(path.relative_to(ROOT)) or tests and path.relative_to(ROOT).parts[0] == "tests"))


# --- the folder-level import graph -------------------------------------------------------

def _package_dirs() -> dict[str, str]:
    """Installed packages that live in another folder (pyproject's package-dir): name -> path."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return setuptools.get("package-dir", {})


PACKAGE_DIRS = _package_dirs()


def folder_of_module(module: str) -> str | None:
    """The repository folder (or root module, such as app) a dotted module lives in; None for
    anything else. A name that merges into a library's namespace (our constructs/ folder shares
    the jsii library's `constructs`) is ours only where a file of ours provides it."""
    top, *rest = module.split(".")
    if top in PACKAGE_DIRS:
        base, folder = ROOT / PACKAGE_DIRS[top], Path(PACKAGE_DIRS[top]).parts[0]
    elif (ROOT / f"{top}.py").is_file() and not rest:
        return top
    elif (ROOT / top).is_dir() and top not in SKIPPED_FOLDERS:
        base, folder = ROOT / top, top
    else:
        return None
    path = base.joinpath(*rest)
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return folder
    return None


def folder_of_file(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_folders(path: Path) -> list[tuple[str, int, str]]:
    """(folder, line, the import as written) for each import of a repository folder in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a import b`: b may be a module of a, or a name defined in a.
            targets = [f"{node.module}.{alias.name}" if folder_of_module(f"{node.module}.{alias.name}") else node.module for alias in node.names]
        else:
            continue  # relative imports stay in their own folder
        for target in dict.fromkeys(targets):
            folder = folder_of_module(target)
            if folder is not None:
                found.append((folder, node.lineno, target))
    return found


def import_graph() -> dict[str, dict[str, list[str]]]:
    """{importing folder: {imported folder: ["file:line module", ...]}}, folders other than tests."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in python_sources():
        source = folder_of_file(path)
        for folder, line, module in imported_folders(path):
            if folder != source:
                graph[source][folder].append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return graph


def _reaches(graph, start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        folder = todo.pop()
        if folder == goal:
            return True
        if folder not in seen:
            seen.add(folder)
            todo.extend(graph.get(folder, {}))
    return False


def test_no_folder_imports_a_folder_that_imports_it_back():
    graph = import_graph()
    offences = [f"{source} -> {target}, which imports {source} back:\n    " + "\n    ".join(lines)
                for source, targets in sorted(graph.items()) for target, lines in sorted(targets.items()) if _reaches(graph, target, source)]
    assert not offences, "folders in an import loop (each arrow with the lines that make it):\n" + "\n".join(offences)


# What each lower layer of the CDK code must never import; the contract imports nothing of ours.
FORBIDDEN = {
    "constructs": {"stacks", "app", "pipeline"},
    "platform_config": {"stacks", "constructs", "app", "security"},
    "security": {"stacks", "constructs", "app"},
}
STILL_ALLOWED: set[tuple[str, str]] = set()


def test_the_cdk_layers_import_only_downwards():
    graph = import_graph()
    offences = [line for source, forbidden in FORBIDDEN.items() for target in sorted(forbidden)
                for line in graph.get(source, {}).get(target, []) if (source, line.rsplit(" imports ", 1)[1]) not in STILL_ALLOWED]
    assert not offences, "imports that run back up (app.py -> stacks/ -> constructs/ -> platform_config/, security/):\n" + "\n".join(offences)


def test_a_construct_subfolder_imports_as_part_of_our_constructs_namespace():
    """constructs/ has no __init__.py on purpose: it merges into the jsii library's `constructs`
    (pkgutil.extend_path), and a subfolder with its own __init__.py imports as
    constructs.<subfolder>, beside the library's Construct."""
    import constructs
    from constructs.hyperpod_cluster import HyperPodCluster

    assert not (ROOT / "constructs" / "__init__.py").exists()
    assert issubclass(HyperPodCluster, constructs.Construct)
    assert str(ROOT / "constructs") in list(constructs.__path__)


# --- no path edits -------------------------------------------------------------------------

def test_no_sys_path_or_pythonpath_edits_outside_packaging():
    """Our packages are installed (pyproject.toml) or run from the repository root: nothing
    reaches them by editing the path."""
    this_file = Path(__file__).resolve()
    offences = []
    for path in committed_files():
        relative = path.relative_to(ROOT)
        if path.resolve() == this_file or str(relative) in PACKAGING or not (path.suffix == ".py" or path.name == "Makefile"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if PATH_EDITS.search(line):
                offences.append(f"{relative}:{number}: {line.strip()}")
    assert not offences, "path edits (declare the package in pyproject.toml instead):\n" + "\n".join(offences)


# --- module length -------------------------------------------------------------------------

def too_long() -> list[str]:
    """Modules over MAX_LINES lines whose docstring gives no sentence starting "Long because"."""
    offences = []
    for path in python_sources(tests=True):
        lines = path.read_text().count("\n")
        if lines > MAX_LINES and "Long because" not in (ast.get_docstring(ast.parse(path.read_text())) or ""):
            offences.append(f"{path.relative_to(ROOT)}: {lines} lines")
    return offences


def test_no_module_is_over_400_lines_without_saying_why():
    offences = too_long()
    assert not offences, (f"modules over {MAX_LINES} lines (split them, or say why in the docstring with a sentence "
                          "starting \"Long because\"):\n" + "\n".join(offences))
