"""How Lambda code is packaged: each handler folder alone, and one shared layer holding
our shared modules (`openforge_contract`, `sanitiser`, `openforge_lambda`, `hyperpod_jobs`) plus the third-party wheels that
`make setup` installed for the Lambda runtime. No code is copied between handlers."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = ROOT / "lambda"
LAYER_DEPS = ROOT / "build" / "lambda-deps" / "python"
SHARED_PACKAGES = {"openforge_contract": ROOT / "openforge_contract", "sanitiser": ROOT / "sanitiser",
                   "openforge_lambda": ROOT / "openforge_lambda", "hyperpod_jobs": ROOT / "hyperpod_jobs"}
RUNTIME = lambda_.Runtime.PYTHON_3_12
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "bin", "tests")  # numpy ships ~10 MB of its own tests


def shared_layer_code() -> lambda_.Code:
    if not LAYER_DEPS.is_dir():
        raise RuntimeError(f"{LAYER_DEPS.relative_to(ROOT)} is missing: run `make setup` (it installs the Lambda layer's packages)")
    layer = Path(tempfile.mkdtemp(prefix="openforge-layer-"))
    shutil.copytree(LAYER_DEPS, layer / "python", ignore=_IGNORE)
    for name, source in SHARED_PACKAGES.items():
        shutil.copytree(source, layer / "python" / name, ignore=_IGNORE)
    return lambda_.Code.from_asset(str(layer))


def handler_code(name: str) -> lambda_.Code:
    return lambda_.Code.from_asset(str(LAMBDA_DIR / name), exclude=["__pycache__", "*.pyc"])
