"""`python -m fluxfix ...` is the `fluxfix` command."""
import sys

from fluxfix.cli import main

sys.exit(main())
