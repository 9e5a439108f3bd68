"""The one exception type for bad input, and how the scripts report it: one line, no traceback."""

import sys


class UserError(Exception):
    """Bad input the user can fix (config, data, checkpoint, model shape): reported as a single line."""


def run_main(main, *args):
    """Run a script's main(*args); a UserError, or an OSError, ends the process with its message in one line
    and exit code 1."""
    try:
        return main(*args)
    except UserError as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # the machine's state, not a bug: a full disk, a read-only folder, a file gone
        where = f"{e.filename}: " if e.filename else ""
        sys.exit(f"error: {where}{e.strerror or e}")
