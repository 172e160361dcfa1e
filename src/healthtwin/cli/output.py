"""How every ``healthtwin`` command talks: human, ``--json`` or ``--quiet``.

The convention, shared by all sub-commands:

- **human** (the default): tables and one-line summaries for a person; files written
  are named.
- ``--json``: exactly one JSON document on stdout and nothing else (strict JSON: ``NaN``
  and infinities become ``null``), so ``healthtwin ... --json | jq`` always parses. Anything
  a library prints on stdout while the command runs is sent to stderr instead.
- ``--quiet``: nothing on stdout and no chatter or warnings on stderr; errors are still
  printed on stderr and exit codes are unchanged (0 success, 2 bad input, 130 interrupted).

On an error, stdout stays empty in every mode (no half-written JSON): the message goes to
stderr as ``error: ...`` and the exit code says what happened.

Both flags are accepted after the sub-command (``healthtwin population rt ... --json``) and
before it (``healthtwin --json population rt ...``); ``--json`` wins over ``--quiet``.

Progress bars (:meth:`Output.progress`) are drawn with rich on **stderr**, and only in human
mode when stderr is a terminal: a pipe, a log file, a CI job, ``--json`` and ``--quiet`` all
see nothing, and stdout stays clean for redirection (``healthtwin ... > table.txt`` still
shows the bar on the screen).
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "JsonOption",
    "Output",
    "OutputMode",
    "ProgressTask",
    "QuietOption",
    "jsonable",
    "merge_alias",
    "output_for",
]

#: ``ctx.meta`` keys the root callback sets for flags given before the sub-command.
META_JSON = "healthtwin.json"
META_QUIET = "healthtwin.quiet"

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON document on stdout and nothing else (for scripts)."
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", help="Print nothing but errors (exit codes unchanged).")
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        envvar="HEALTHTWIN_CLUSTER",
        help="Where the tasks run: 'local' (default: a Dask LocalCluster on this "
        "machine), a scheduler address 'tcp://host:port', or 'none' (in this process; "
        "also what happens, with a note, when Dask is not installed).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="Workers of the local cluster (default: one per CPU core)."),
]


class OutputMode(StrEnum):
    """Who reads the command's output."""

    human = "human"
    json = "json"
    quiet = "quiet"


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, paths, non-finite floats.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"a": np.float64(1.5), "b": [np.nan, float("inf")], "p": Path("x.csv")})
    {'a': 1.5, 'b': [None, None], 'p': 'x.csv'}
    >>> jsonable((np.int64(3), np.array([1.0, 2.0]), True))
    [3, [1.0, 2.0], True]
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist) and not isinstance(value, str | bytes):
        return jsonable(tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass
class ProgressTask:
    """One bar of :meth:`Output.progress`; a no-op when nothing is drawn."""

    _progress: Any = None
    _task: Any = None
    completed: float = field(default=0.0)
    total: float | None = None

    def advance(self, steps: float = 1.0) -> None:
        """Move the bar ``steps`` forward."""
        self.completed += steps
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def update(self, completed: float, total: float | None = None) -> None:
        """Set how much of :attr:`total` is done (a callback for runs that count units).

        ``total``, when given, replaces the bar's total: a run whose work grows as it
        learns (a plan search adding replications) reports ``(done, total so far)``, so
        both ``Callable[[int], None]`` and ``Callable[[int, int], None]`` callbacks fit.

        Examples
        --------
        >>> task = ProgressTask(total=4)
        >>> task.update(3)
        >>> task.completed, task.total
        (3.0, 4)
        >>> task.update(5, 8)
        >>> task.completed, task.total
        (5.0, 8)
        """
        self.completed = float(completed)
        if total is not None:
            self.total = total
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=self.total)

    def describe(self, description: str) -> None:
        """Change the text beside the bar (e.g. the item now running)."""
        if self._progress is not None:
            self._progress.update(self._task, description=description)


@dataclass(frozen=True)
class Output:
    """Where a command's messages, results and progress go (see the module docstring).

    Examples
    --------
    >>> Output(OutputMode.quiet).say("not shown")
    >>> Output(OutputMode.json).result({"rows": 3}, "wrote 3 rows")
    {"rows": 3}
    >>> Output(OutputMode.human).result({"rows": 3}, "wrote 3 rows")
    wrote 3 rows
    """

    mode: OutputMode = OutputMode.human

    @property
    def human(self) -> bool:
        """True when a person reads the output (neither ``--json`` nor ``--quiet``)."""
        return self.mode is OutputMode.human

    def say(self, *renderables: Any, err: bool = False) -> None:
        """Print text or rich renderables (tables) for a person; silent otherwise.

        ``err=True`` prints on stderr (notes beside data written on stdout).
        """
        if not self.human:
            return
        from rich.console import Console

        console = Console(file=sys.stderr if err else sys.stdout, highlight=False, emoji=False)
        for item in renderables:
            if isinstance(item, str):
                console.print(item, markup=False, soft_wrap=True)
            else:
                console.print(item)

    def warn(self, text: str) -> None:
        """A warning on stderr (also under ``--json``; not under ``--quiet``)."""
        if self.mode is not OutputMode.quiet:
            sys.stderr.write(f"warning: {text}\n")

    def result(self, document: Mapping[str, Any], *human: Any, err: bool = False) -> None:
        """Finish the command: the JSON document under ``--json``, else the human lines."""
        if self.mode is OutputMode.json:
            text = json.dumps(jsonable(document), allow_nan=False, ensure_ascii=False)
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            self.say(*human, err=err)

    @contextmanager
    def progress(self, description: str, total: float | None = None) -> Iterator[ProgressTask]:
        """A rich progress bar on stderr for a long run (``total=None``: a spinner).

        Drawn only for a person at a terminal; outside human mode, whatever the run prints
        on stdout is sent to stderr so that ``--json`` keeps stdout to one document.

        Examples
        --------
        >>> with Output(OutputMode.json).progress("fitting", total=3) as bar:
        ...     for _ in range(3):
        ...         bar.advance()
        >>> bar.completed, bar.total
        (3.0, 3)
        """
        with self._stdout_kept():
            if not (self.human and sys.stderr.isatty()):
                yield ProgressTask(total=total)
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            text = TextColumn("{task.description}", markup=False)
            columns: list[Any] = [SpinnerColumn(), text, BarColumn()]
            if total is not None:
                columns.append(MofNCompleteColumn())
            columns.append(TimeElapsedColumn())
            with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
                yield ProgressTask(bar, bar.add_task(description, total=total), total=total)

    @contextmanager
    def _stdout_kept(self) -> Iterator[None]:
        if self.human:
            yield
            return
        with redirect_stdout(sys.stderr):
            yield


def _root_meta() -> Mapping[str, Any]:
    """The running command's context ``meta`` (where the root callback left its flags).

    typer >= 0.21 carries its own copy of click (``typer._click``); older typer runs on
    click itself. Both keep the current context in a thread-local, read here.
    """
    for module in ("typer._click.globals", "click"):
        try:
            current = importlib.import_module(module).get_current_context
        except (ImportError, AttributeError):
            continue
        ctx = current(silent=True)
        if ctx is not None:
            meta: Mapping[str, Any] = ctx.meta
            return meta
    return {}


def output_for(json_output: bool = False, quiet: bool = False) -> Output:
    """The :class:`Output` of a command from its own flags and the root's.

    Examples
    --------
    >>> output_for(json_output=True, quiet=True).mode
    <OutputMode.json: 'json'>
    >>> output_for().mode
    <OutputMode.human: 'human'>
    """
    meta = _root_meta()
    if json_output or meta.get(META_JSON, False):
        return Output(OutputMode.json)
    if quiet or meta.get(META_QUIET, False):
        return Output(OutputMode.quiet)
    return Output(OutputMode.human)


def merge_alias(value: Any, alias: Any, default: Any, *, name: str, old: str) -> Any:
    """The value of an option that also accepts a hidden, older spelling.

    Raises
    ------
    typer.BadParameter
        If both spellings are given with different values (a usage error, exit 2).

    Examples
    --------
    >>> merge_alias(20, 5, 20, name="--replicates", old="--reps")
    5
    >>> merge_alias(7, None, 20, name="--replicates", old="--reps")
    7
    """
    if alias is None:
        return value
    if value != default and value != alias:
        raise typer.BadParameter(f"give {name} only ({old} is its older spelling), not both")
    return alias
