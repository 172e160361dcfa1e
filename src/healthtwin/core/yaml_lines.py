"""Line numbers for validation errors in YAML files (scenario and case files).

A file is read twice: ``yaml.safe_load`` gives the data that pydantic validates, and
``yaml.compose`` gives the node tree whose marks say where each value was written. A
pydantic error's location (``("countries", 0, "hospitals", 1, "beds")``) is followed down
the tree to the deepest node that exists, whose line is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from healthtwin.errors import ValidationIssue

__all__ = ["line_of", "node_at", "validation_issue"]


def node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest node along ``loc`` (pydantic's error location) in the YAML tree.

    Examples
    --------
    >>> root = yaml.compose("a:\\n  b: [1, 2]\\n", Loader=yaml.SafeLoader)
    >>> node_at(root, ("a", "b", 1)).value
    '2'
    """
    node = root
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if getattr(k, "value", None) == str(key)]
            if not found:
                # A union tag or a missing field: the mapping itself is the place.
                continue
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                break
            node = node.value[key]
        else:
            break
    return node


def line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of ``loc`` in the file (None without a node tree).

    Examples
    --------
    >>> line_of(yaml.compose("a: 1\\nb: x\\n", Loader=yaml.SafeLoader), ("b",))
    2
    """
    if root is None:
        return None
    return int(node_at(root, loc).start_mark.line) + 1


def validation_issue(error: Mapping[str, Any], root: yaml.Node | None) -> ValidationIssue:
    """A pydantic error (``loc``, ``msg``) as an issue whose message starts with its line."""
    path = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    line = line_of(root, error["loc"])
    if line is not None:
        message = f"(line {line}) {message}"
    return ValidationIssue(path=path, message=message, code="value")
