"""Validation errors of scenario files that point at the right line and say what to write.

Pydantic reports a rule broken by a model's validator at the model (a country's first
line, for a hospital's unknown region), does not echo the value it refused, and says
only "Extra inputs are not permitted" for an unknown key. :func:`explained_error` fixes
each before the line is looked up (:mod:`healthtwin.core.yaml_lines`); a validator that
knows which part of its model is wrong raises :func:`rule_at`.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

__all__ = ["explained_error", "rule_at"]


def rule_at(message: str, *at: int | str) -> PydanticCustomError:
    """A broken rule to report at ``at`` below the model that found it (raise it).

    Examples
    --------
    >>> rule_at("region 'town' is not listed", "hospitals", 1, "region").context
    {'world_at': ('hospitals', 1, 'region')}
    """
    return PydanticCustomError("world_rule", message, {"world_at": at})


def explained_error(error: Mapping[str, Any], root: type[BaseModel]) -> dict[str, Any]:
    """A pydantic error of a ``root`` file, made to point at the right line and say more.

    A rule about one part of a model (raised as :func:`rule_at` from the model's
    validator) moves to that part; an unknown key names its mapping, the keys allowed
    there and the nearest (or, when an enclosing mapping has it, says to check its
    indentation); a scalar value is echoed (``got 1.7``). Returns ``loc`` and ``msg``.

    Examples
    --------
    >>> from pydantic import ValidationError
    >>> class Inner(BaseModel, extra="forbid"):
    ...     beds: int = 0
    >>> class Outer(BaseModel, extra="forbid"):
    ...     replicates: int = 1
    ...     inner: Inner = Inner()
    >>> try:
    ...     Outer.model_validate({"replicats": 2, "inner": {"beds": "many"}})
    ... except ValidationError as err:
    ...     messages = [explained_error(e, Outer)["msg"] for e in err.errors()]
    >>> messages[0][-12:]
    "(got 'many')"
    >>> messages[1][:68]
    "unknown key 'replicats' in the top level; did you mean 'replicates'?"
    """
    loc = (*error["loc"], *(error.get("ctx") or {}).get("world_at", ()))
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        message = _unknown_key(root, loc)
    elif isinstance(value, str | int | float | bool) and repr(value) not in message:
        message = f"{message} (got {value!r})"
    return {"loc": loc, "msg": message}


def _unknown_key(root: type[BaseModel], loc: Sequence[int | str]) -> str:
    key, parent = str(loc[-1]), tuple(loc[:-1])
    where = ".".join(str(p) for p in parent) or "the top level"
    model = _model_at(root, parent)
    if model is None:
        return f"unknown key {key!r} in {where}"
    allowed = [k for k, f in model.model_fields.items() if not f.exclude]
    near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    for depth in range(len(parent) - 1, -1, -1):
        above = _model_at(root, parent[:depth])
        if not near and above is not None and key in above.model_fields:
            owner = ".".join(str(p) for p in parent[:depth]) or "the top level"
            hint = f"{key!r} is a key of {owner}: check its indentation; "
            break
    return f"unknown key {key!r} in {where}; {hint}the keys allowed there are {allowed}"


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model of the mapping at ``loc`` below ``root`` (None: not a model)."""
    kind: Any = root
    for key in loc:
        kind = _unwrapped(kind)
        origin = get_origin(kind)
        if origin in (list, tuple) and isinstance(key, int):
            kind = get_args(kind)[0]
        elif origin is dict:
            kind = get_args(kind)[1]
        elif origin is None and isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(str(key))
            if field is None:
                return None
            kind = field.annotation
        else:
            return None
    kind = _unwrapped(kind)
    if get_origin(kind) is None and isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind
    return None


def _unwrapped(kind: Any) -> Any:
    """``kind`` without ``Annotated`` and ``| None``."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(kind) if a is not type(None)]
            if len(args) == 1:
                kind = args[0]
                continue
        return kind
