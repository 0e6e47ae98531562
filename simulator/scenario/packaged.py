"""The scenario library: the stories shipped inside the package, and finding one of them by name.

The files live in ``simulator/scenario/library/`` (package data, so a sandbox installed from a wheel has
them; ``scenarios/`` in a clone of the repository points there). Commands read ``./scenarios`` when the
current folder has one — a project's own stories — and the packaged library otherwise, or when asked to
with ``--library``. A library file is named by its file name, its stem or its number: ``13``,
``13-token-handoff-sign-in`` and ``13-token-handoff-sign-in.yaml`` are the same file.

Example::

    find_in_library("05")  # …/library/05-ams-outage-during-writeback.yaml
    default_folder()       # ./scenarios if there is one, else the library
"""

from __future__ import annotations

from pathlib import Path

LOCAL_FOLDER = Path("scenarios")


def library_folder() -> Path:
    """The packaged library (a real folder: wheels install unpacked)."""
    return Path(__file__).resolve().parent / "library"


def library_files() -> list[Path]:
    return sorted(path for path in library_folder().glob("*.yaml") if path.is_file())


def default_folder(library: bool = False) -> Path:
    """``./scenarios`` when the current folder has one (unless ``library`` is asked for), else the library."""
    if not library and LOCAL_FOLDER.is_dir():
        return LOCAL_FOLDER
    return library_folder()


def find_in_library(name: str) -> Path | None:
    """The library file called ``name`` (file name, stem, or its leading number), or None."""
    wanted = name.removesuffix(".yaml").removesuffix(".yml")
    for path in library_files():
        number = path.stem.split("-", 1)[0]
        if wanted in (path.stem, number) or (
            wanted.isdigit() and number.isdigit() and int(wanted) == int(number)
        ):
            return path
    return None
