"""Which files a mapping YAML refers to, read without validating the mapping.

Packaging, CI and import tools use this to collect a site's export and its concept-map
files beside its mapping (or to check they exist) without the rest of the harmonisation
machinery: it needs only PyYAML and ``healthtwin.errors``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from healthtwin.errors import InvalidInputError

__all__ = ["referenced_sources"]


def referenced_sources(mapping_path: str | Path) -> tuple[Path, ...]:
    """The files a mapping refers to: its ``data`` export, then its concept-map files.

    Paths are resolved against the mapping's folder; whether they exist is not checked.

    Parameters
    ----------
    mapping_path
        The mapping YAML file.

    Returns
    -------
    tuple of Path
        The data file (if named) followed by every ``concept_maps.<name>.file``, in order,
        each once.

    Raises
    ------
    InvalidInputError
        If the file cannot be read or is not a YAML mapping.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "site.yaml").write_text(
    ...     "data: export.csv\\nconcept_maps:\\n  dx: {file: maps/dx.json}\\n"
    ...     "  labs: {group: []}\\n")
    >>> [p.relative_to(folder).as_posix() for p in referenced_sources(folder / "site.yaml")]
    ['export.csv', 'maps/dx.json']
    """
    path = Path(mapping_path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidInputError(f"cannot read mapping {str(path)!r}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise InvalidInputError(f"mapping {str(path)!r} is not valid YAML: {err}") from err
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"mapping {str(path)!r} must be a YAML mapping; got {type(document).__name__}"
        )
    found: list[Path] = []
    data = document.get("data")
    if isinstance(data, str):
        found.append(path.parent / data)
    maps = document.get("concept_maps")
    if isinstance(maps, dict):
        for entry in maps.values():
            if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                found.append(path.parent / entry["file"])
    return tuple(dict.fromkeys(found))
