"""``python -m nnx``: see ``nnx/cli.py``."""
import sys

from .cli import main

sys.exit(main())
