"""Where the files shipped beside the code live: the Alembic scripts and the seed corpus.

In a source checkout (and an editable install) they are top-level folders of the repository;
a built wheel carries them under `monitor/_resources/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name!r} folder is missing from this installation")
