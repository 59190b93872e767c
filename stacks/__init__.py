"""The app's stacks. The Lambda layer's package (openforge_lambda) is importable from here as
it is in the Lambdas, so the app and the functions read the same instance catalogue."""
import sys
from pathlib import Path

_LAYER_SOURCE = str(Path(__file__).resolve().parent.parent / "lambda" / "shared" / "python")
if _LAYER_SOURCE not in sys.path:
    sys.path.append(_LAYER_SOURCE)
