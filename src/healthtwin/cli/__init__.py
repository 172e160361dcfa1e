"""The ``healthtwin`` command line: one sub-command group per scale.

Errors are mapped to exit codes in one place (:func:`main`): a :class:`TwinError` prints
one line saying what to fix and exits 2; ``--debug`` shows the traceback instead.

Every command follows one convention (:mod:`healthtwin.cli.output`): ``--help`` ends with
an example command line; files go to ``--out``; the seed is ``--seed`` and replicate counts
are ``--replicates``; ``--json`` prints one JSON document on stdout and nothing else;
``--quiet`` prints nothing but errors; long runs draw a rich progress bar on stderr when a
person watches a terminal.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from healthtwin.cli.app import app
from healthtwin.errors import TwinError

__all__ = ["app", "file_error", "main", "option_names"]

EXIT_USAGE = 2
#: Library parameter names that reach the command line as options, and their spelling there.
OPTION_NAMES = {"replicates_per_task": "--replicates-per-task"}
_OPTION_NAME = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, OPTION_NAMES)) + r")\b")


def option_names(message: str) -> str:
    """An error message with library parameter names spelled as the command's options.

    Examples
    --------
    >>> option_names("replicates_per_task = 0; give at least 1")
    '--replicates-per-task = 0; give at least 1'
    >>> option_names("my_replicates_per_task.csv is missing")
    'my_replicates_per_task.csv is missing'
    """
    return _OPTION_NAME.sub(lambda m: OPTION_NAMES[m.group(1)], message)


def file_error(err: OSError | UnicodeError, args: Sequence[str] = ()) -> str:
    """What a person reads when a file cannot be read: the file, the reason, the fix.

    A decoding error does not know its file: the command line's arguments that name
    files are tried, and the first one that is not UTF-8 text is named.

    Examples
    --------
    >>> file_error(FileNotFoundError(2, "No such file or directory", "flu.csv"))
    'could not read flu.csv: no such file or directory; check the path'
    >>> file_error(UnicodeDecodeError("utf-8", b"\\xff", 0, 1, "invalid start byte"))
    'could not read a file: not UTF-8 text (invalid start byte at byte 0); give a UTF-8 text file'
    """
    if isinstance(err, UnicodeDecodeError):
        where = _undecodable(args) or "a file"
        return (
            f"could not read {where}: not UTF-8 text ({err.reason} at byte {err.start}); "
            "give a UTF-8 text file"
        )
    if isinstance(err, OSError) and err.filename is not None:
        reason = (err.strerror or str(err)).lower()
        if isinstance(err, FileNotFoundError):
            return f"could not read {err.filename}: {reason}; check the path"
        if isinstance(err, IsADirectoryError):
            return f"could not read {err.filename}: it is a folder; give a file"
        other = f" -> {err.filename2}" if err.filename2 is not None else ""
        return f"could not use {err.filename}{other}: {reason}"
    return str(err)


def _undecodable(args: Sequence[str]) -> str | None:
    """The first argument naming a file that is not UTF-8 text (None if none is)."""
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        path = Path(value)
        try:
            if not path.is_file():
                continue
            with path.open("rb") as handle:
                decoder = _utf8_decoder()
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return value
        except (OSError, ValueError):
            continue
    return None


def _utf8_decoder() -> Any:
    import codecs

    return codecs.getincrementaldecoder("utf-8")()


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Typer's usage errors: ``TyperException`` in new typer, click's in typer < 0.21."""
    found: list[type[BaseException]] = []
    for module, name in (("typer", "TyperException"), ("click", "ClickException")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


USAGE_ERRORS = _usage_errors()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # --debug is accepted anywhere on the line, not only before the sub-command.
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="healthtwin", standalone_mode=False)
    except TwinError as err:
        if debug:
            raise
        print(f"error: {option_names(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, UnicodeError) as err:
        if debug:
            raise
        print(f"error: {file_error(err, args)}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as err:
        return int(err.code or 0) if isinstance(err.code, int | None) else EXIT_USAGE
    except USAGE_ERRORS as err:
        show = getattr(err, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {getattr(err, 'format_message', err.__str__)()}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return 0
