"""``python -m pnpleaves.cli COMMAND ...``: the command line without the console script (this is the
entry point for ``torchrun --nproc_per_node N -m pnpleaves.cli train CONFIG``)."""

import sys

from pnpleaves.cli import main

if __name__ == "__main__":
    sys.exit(main())
