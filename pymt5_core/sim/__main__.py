"""``python -m pymt5_core.sim``: run the simulated server (see :mod:`pymt5_core.sim.cli`)."""

import sys

from pymt5_core.sim.cli import run_cli

sys.exit(run_cli())
