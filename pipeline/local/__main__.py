"""python -m pipeline.local (what ``make demo`` runs; pipeline/local/__init__.py says what it does)."""
import sys

from pipeline.local.main import main

if __name__ == "__main__":
    sys.exit(main())
