"""``python -m claudescale.sim [ARGS]`` is ``claudescale sim [ARGS]``."""

import sys

from claudescale.cli.main import main

sys.exit(main(["sim", *sys.argv[1:]]))
