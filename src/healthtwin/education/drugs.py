"""The drug-name layer: a generic drug id in the name a learner's locale uses.

Cases name drugs by a generic id (``adrenaline``, ``suxamethonium``...); the same drug is
*adrenaline* in a British ward, *epinephrine* in an American one, *Adrenalin* in a German
one and 肾上腺素 in a Chinese one. The table, with the formulary each name comes from, is the
package data file ``education/data/drugs.yaml``; this module only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import yaml

from healthtwin.errors import InvalidInputError, UnknownModelError

# libyaml when available: the pure-Python parser costs about 0.1 s per file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
__all__ = ["DrugNames", "load_drug_names"]

_COLUMNS = ("inn", "en", "en_US", "de", "es", "fr", "zh")


@dataclass(frozen=True)
class DrugNames:
    """Local names of every known drug: ``names[generic_id][column]``.

    Columns are ``inn``, ``en``, ``en_US``, ``de``, ``es``, ``fr``, ``zh``.
    """

    names: Mapping[str, Mapping[str, str]]

    def name(self, generic_id: str, column: str) -> str:
        """The name of ``generic_id`` in a column (a language, or ``en_US``).

        Raises
        ------
        UnknownModelError
            If the drug id is not in the table (the known ids are listed).

        Examples
        --------
        >>> names = load_drug_names()
        >>> names.name("adrenaline", "en_US"), names.name("suxamethonium", "de")
        ('epinephrine', 'Suxamethonium')
        """
        try:
            row = self.names[generic_id]
        except KeyError as err:
            raise UnknownModelError(
                f"unknown drug id {generic_id!r}; known ids: {', '.join(sorted(self.names))} "
                "(add it to education/data/drugs.yaml)"
            ) from err
        return row.get(column, row["en"])


def load_drug_names() -> DrugNames:
    """Read the drug-name table shipped with the package.

    Raises
    ------
    InvalidInputError
        If a row lacks a column.

    Examples
    --------
    >>> load_drug_names().name("noradrenaline", "zh")
    '去甲肾上腺素'
    """
    text = resources.files("healthtwin.education").joinpath("data/drugs.yaml").read_text("utf-8")
    table = yaml.load(text, Loader=_LOADER)["drugs"]
    for drug_id, row in table.items():
        missing = [c for c in _COLUMNS if not isinstance(row.get(c), str) or not row[c]]
        if missing:
            raise InvalidInputError(
                f"drug {drug_id!r} in education/data/drugs.yaml lacks {missing}; give a name "
                f"in every column ({', '.join(_COLUMNS)})"
            )
    return DrugNames({str(k): {str(c): str(n) for c, n in v.items()} for k, v in table.items()})
