"""python -m pipeline.cli start|follow|summary|stop (pipeline/cli/__init__.py says what each does)."""
import sys

from pipeline.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
