"""`make bench`: wall time of the security-reviewed synth of every environment.

Printed as a ratio against a baseline measured in the same run: a bare `cdk synth` of the
same app with no rule packs attached (what synth costs before any review), so the number
is comparable across machines. The goal from the issue: all environments, all packs, in
at most 60 s on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from security.review import CDK_CLI, QUIET_NODE, ROOT

GOAL_SECONDS = 60.0


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env={**os.environ, **QUIET_NODE}, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    environments = sorted(json.loads((ROOT / "cdk.json").read_text())["context"]["environments"])
    with tempfile.TemporaryDirectory() as scratch:
        baseline = sum(
            _timed([str(CDK_CLI), "synth", "--quiet", "--app", f"{sys.executable} -m benchmarks.bare_app", "-c", f"env={name}", "-o", f"{scratch}/{name}"]) for name in environments
        )
        reviewed = sum(_timed([sys.executable, "-m", "security.review", "--env", name, "--out", f"{scratch}/reviewed-{name}"]) for name in environments)
    print(f"environments: {', '.join(environments)}")
    print(f"baseline  bare cdk synth, no packs:                 {baseline:6.1f} s")
    print(f"reviewed  cdk synth + 4 packs + report (make synth): {reviewed:6.1f} s  = {reviewed / baseline:.2f}x baseline")
    print(f"goal      <= {GOAL_SECONDS:.0f} s: {'met' if reviewed <= GOAL_SECONDS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
