"""What every command-line tool shares: one clear line for the user's errors, tracebacks only for bugs.

    def main() -> int | None: ...
    if __name__ == "__main__":
        cli.run(main)

A UserError (bad input, bad config, a refused overwrite) prints `error: <message>` on stderr and exits 2;
`--debug` (anywhere on the command line) or POINTSEG_DEBUG=1 shows its traceback as well. Any other
exception is a bug and keeps Python's traceback (exit 1). Ctrl-C exits 130 with one line.
"""

import argparse
import os
import sys
from collections.abc import Callable

from pointseg.errors import UserError

DEBUG_FLAG = "--debug"
DEBUG_ENV = "POINTSEG_DEBUG"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def argument_parser(description: str | None) -> argparse.ArgumentParser:
    """An ArgumentParser that lists --debug in --help (run() consumes the flag before main parses)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(DEBUG_FLAG, action="store_true", help=f"show the traceback of user errors too (or set {DEBUG_ENV}=1)")
    return ap


def parse(ap: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse options and positionals (e.g. dotted overrides) in any order: `--epochs 2 train.lr=1e-3 --resume` too."""
    return ap.parse_intermixed_args(argv)


def debug_requested(argv: list[str]) -> bool:
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run(main: Callable[[], int | None], argv: list[str] | None = None) -> None:
    """Call `main` and exit with its return code; user errors become one line on stderr."""
    argv = sys.argv if argv is None else argv
    debug = debug_requested(argv[1:])
    try:
        code = main()
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)
