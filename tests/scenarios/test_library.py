"""The packaged scenario library as a user meets it: found by number or name, read where there is no
./scenarios, copied out with ``scenario init``; a name that is nothing gets one plain sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conformance.cli import _target_file
from simulator.scenario.cli import scenario
from simulator.scenario.packaged import default_folder, find_in_library, library_files, library_folder
from simulator.scenario.schema import schema_text
from tests.scenarios.test_loader import GOOD

LIBRARY = library_folder()
HANDOFF = LIBRARY / "13-token-handoff-sign-in.yaml"
MINE = GOOD  # a valid scenario of the user's own


def invoke(*args: str) -> Result:
    return CliRunner().invoke(scenario, list(args))


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no scenarios/ folder, as a user's who installed the sandbox has."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "13",
        "013",
        "13-token-handoff-sign-in",
        "13-token-handoff-sign-in.yaml",
        "13-token-handoff-sign-in.yml",
    ],
)
def test_a_library_file_is_found_by_number_stem_or_file_name(name: str) -> None:
    assert find_in_library(name) == HANDOFF


@pytest.mark.parametrize("name", ["99", "token-handoff", "13-token", "", "../13-token-handoff-sign-in"])
def test_anything_else_names_no_library_file(name: str) -> None:
    assert find_in_library(name) is None


def test_the_library_holds_every_story_and_its_schema() -> None:
    files = library_files()
    assert len(files) >= 15 and all(path.parent == LIBRARY for path in files)
    assert (LIBRARY / "schema.json").read_text() == schema_text()
    assert (Path(__file__).resolve().parents[2] / "scenarios").resolve() == LIBRARY  # a clone: the same


def test_without_a_scenarios_folder_list_reads_the_library(elsewhere: Path) -> None:
    assert default_folder() == LIBRARY
    result = invoke("list")
    assert result.exit_code == 0, result.output
    for path in library_files():
        assert path.name in result.output


def test_a_scenarios_folder_here_is_read_first_and_library_reads_the_library(elsewhere: Path) -> None:
    (elsewhere / "scenarios").mkdir()
    (elsewhere / "scenarios" / "mine.yaml").write_text(MINE)

    own = invoke("list")
    assert "mine.yaml" in own.output and HANDOFF.name not in own.output
    library = invoke("list", "--library")
    assert HANDOFF.name in library.output and "mine.yaml" not in library.output
    assert "mine.yaml: ok" in invoke("validate").output


def test_validate_takes_library_names_and_a_path_before_a_name(elsewhere: Path) -> None:
    result = invoke("validate", "13", "05")
    assert result.exit_code == 0, result.output
    assert f"{HANDOFF}: ok" in result.output and "05-ams-outage-during-writeback.yaml: ok" in result.output

    (elsewhere / "13").write_text(MINE)  # a file of that name is the user's, not the library's
    assert invoke("validate", "13").output.startswith("13: ok")
    assert HANDOFF.name in invoke("validate", "--library", "13").output


def test_a_name_that_is_nothing_gets_one_sentence_and_runs_nothing(elsewhere: Path) -> None:
    result = invoke("run", "no-such-story", "--no-start")
    assert result.exit_code == 1
    assert "no-such-story: no such file or folder, and no library scenario is called that" in result.output
    assert "Traceback" not in result.output


def test_init_copies_a_library_file_with_the_schema_beside_it(elsewhere: Path) -> None:
    result = invoke("init", "13")
    assert result.exit_code == 0, result.output
    assert (elsewhere / HANDOFF.name).read_text() == HANDOFF.read_text()
    assert (elsewhere / "schema.json").read_text() == schema_text()
    assert f"sandbox scenario run {HANDOFF.name}" in result.output

    nested = invoke("init", "05", "--output", "scenarios/outage.yaml")
    assert nested.exit_code == 0, nested.output
    assert (elsewhere / "scenarios" / "schema.json").exists()
    assert "outage.yaml: ok" in invoke("validate").output


def test_init_keeps_what_exists_unless_forced(elsewhere: Path) -> None:
    (elsewhere / "mine.yaml").write_text(MINE)
    (elsewhere / "schema.json").write_text("{}")

    refused = invoke("init", "13", "-o", "mine.yaml")
    assert refused.exit_code == 1 and "mine.yaml exists already; pass --force" in refused.output
    assert (elsewhere / "mine.yaml").read_text() == MINE

    assert invoke("init", "13", "-o", "mine.yaml", "--force").exit_code == 0
    assert (elsewhere / "mine.yaml").read_text() == HANDOFF.read_text()
    assert (elsewhere / "schema.json").read_text() == "{}"  # the user's own schema file is left alone


def test_init_of_an_unknown_name_lists_the_library(elsewhere: Path) -> None:
    result = invoke("init", "nope")
    assert result.exit_code == 1
    assert "No library scenario is called 'nope'" in result.output and HANDOFF.stem in result.output
    assert list(elsewhere.iterdir()) == []


def test_init_into_a_place_it_cannot_write_is_one_sentence(elsewhere: Path) -> None:
    (elsewhere / "file").write_text("")
    result = invoke("init", "13", "-o", "file/inside.yaml")
    assert result.exit_code == 1 and "Cannot write" in result.output and "Traceback" not in result.output


def test_certify_finds_a_reference_target_by_name_but_not_a_path_to_nothing(elsewhere: Path) -> None:
    reference = _target_file(Path("sandbox-lms"))
    assert reference.is_file() and reference.name == "sandbox-lms.yaml"
    assert _target_file(Path("sandbox-lms.yaml")) == reference
    assert _target_file(Path("elsewhere/sandbox-lms.yaml")) == Path("elsewhere/sandbox-lms.yaml")
    (elsewhere / "sandbox-lms.yaml").write_text("suite: saml-sp\n")
    assert _target_file(Path("sandbox-lms.yaml")) == Path("sandbox-lms.yaml")  # the user's own file first
