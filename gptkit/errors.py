"""The one exception type for bad input, and how the scripts report it: one line, no traceback."""

import sys


class UserError(Exception):
    """Bad input the user can fix (config, data, checkpoint, model shape): reported as a single line."""


def run_main(main, *args):
    """Run a script's main(*args); a UserError ends the process with its message and exit code 1."""
    try:
        return main(*args)
    except UserError as e:
        sys.exit(f"error: {e}")
