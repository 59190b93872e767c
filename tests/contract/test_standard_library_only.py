"""Whatever runs OpenForge's code can import the contract: it imports nothing but Python's
standard library and its own modules (read from the source, so a lazy import counts too)."""
import ast
import sys
from pathlib import Path

import openforge_contract

PACKAGE = Path(openforge_contract.__file__).parent


def imported(path: Path) -> set[str]:
    """The top-level packages a module imports (relative imports are the contract's own)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_contract_imports_only_the_standard_library_and_itself():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 5, modules
    allowed = set(sys.stdlib_module_names) | {"__future__", "openforge_contract"}
    outside = {path.name: sorted(imported(path) - allowed) for path in modules if imported(path) - allowed}
    assert not outside, f"openforge_contract must import only the standard library: {outside}"


def test_the_package_itself_imports_nothing():
    """Importing one module loads only that module (and what it imports)."""
    assert imported(PACKAGE / "__init__.py") == set()
