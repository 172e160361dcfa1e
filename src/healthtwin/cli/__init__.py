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
import sys

from healthtwin.cli.app import app
from healthtwin.errors import TwinError

__all__ = ["app", "main"]

EXIT_USAGE = 2


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
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, UnicodeError) as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
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
