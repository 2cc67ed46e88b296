"""What every command-line tool shares: one clear line for the user's errors, tracebacks only for bugs.

    def main() -> int | None: ...
    if __name__ == "__main__":
        cli.run(main)

A UserError (bad input, bad config, a refused overwrite) prints `error: <message>` on stderr and exits 2, and so
does a write that fails for lack of space or permission (an OSError naming the file); `--debug` (anywhere on the
command line) or POINTSEG_DEBUG=1 shows its traceback as well. Any other exception is a bug and keeps Python's
traceback (exit 1). Ctrl-C exits 130 with one line, `interrupted`, also when it lands inside a library that turns
the KeyboardInterrupt into its own error (lazrs writing a LAZ file: "IoError: Failed to call write").
"""

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable

from pointseg.errors import WRITE_FIXES, UserError

DEBUG_FLAG = "--debug"
DEBUG_ENV = "POINTSEG_DEBUG"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
_interrupted = threading.Event()  # set by the SIGINT handler: whatever error follows, the user pressed Ctrl-C


def _on_sigint(signum: int, frame: object) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


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
    _interrupted.clear()
    handled = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if handled:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = main()
    except (KeyboardInterrupt, Exception) as err:
        if debug:
            raise
        if _interrupted.is_set() or isinstance(err, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(err, UserError):
            print(f"error: {err}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        if isinstance(err, OSError) and err.errno in WRITE_FIXES:
            where = f"{err.filename}: " if err.filename else ""
            print(f"error: {where}{err.strerror}; {WRITE_FIXES[err.errno]}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        raise
    finally:
        if handled:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(code or 0)
