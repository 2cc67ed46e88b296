"""Errors that are the user's (bad input, bad arguments, a refused overwrite), as opposed to bugs.

The command-line tools (pointseg.cli) print a UserError as one line `error: <message>` and exit 2;
any other exception is a bug and keeps its traceback. Each subclass also derives from the built-in
type a caller would expect (ValueError, FileExistsError, FileNotFoundError), so `except ValueError`
keeps working. Every class pickles (errors from process-pool workers reach the user intact).
"""


class UserError(Exception):
    """A problem with what the user gave us; the message names the file or option, the problem and the fix."""


class InputError(UserError, ValueError):
    """Bad input data or a bad argument value (e.g. `--stride -5`, a truncated prepared array)."""


class OutputExistsError(UserError, FileExistsError):
    """Refusal to replace or mix with something the tool did not write, or without the flag that allows it."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or directory the user named does not exist (or holds nothing usable)."""


class EnvironmentProblem(UserError, RuntimeError):
    """The machine lacks what was asked for (e.g. `--device cuda` without a GPU)."""
