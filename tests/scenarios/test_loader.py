"""A bad scenario file fails before anything runs, naming the file, the line and the mistake plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.scenario.cli import scenario
from simulator.scenario.loader import ScenarioFileError, load_scenario, parse_scenario
from simulator.scenario.model import STEP_KINDS

GOOD = """\
name: good
actors:
  alex: {persona: active.member@demo.test}
steps:
  - sso_login: {actor: alex}
  - expect:
      lms.session: {actor: alex}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as caught:
        parse_scenario(text, "bad.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_a_good_file_loads_with_the_line_of_each_step() -> None:
    loaded = parse_scenario(GOOD, "good.yaml")

    assert [step.kind for step in loaded.scenario.steps] == ["sso_login", "expect"]
    assert loaded.step_lines == [5, 6]


def test_an_unknown_step_is_named_with_its_line() -> None:
    text = GOOD.replace(
        "  - sso_login: {actor: alex}", "  - sso_login: {actor: alex}\n  - teleport: {actor: alex}"
    )

    assert problems_of(text) == [
        f"bad.yaml:6: steps[1]: unknown step 'teleport' (known: {', '.join(sorted(STEP_KINDS))})"
    ]
    assert {"kill", "pause", "resume", "restart", "wait", "checkout", "expect"} <= set(STEP_KINDS)


def test_an_actor_that_is_not_declared_is_named_with_its_line() -> None:
    text = GOOD.replace("      lms.session: {actor: alex}", "      lms.session: {actor: robin}")

    assert problems_of(text) == ["bad.yaml:7: steps[1].expect: actor 'robin' is not declared (actors: alex)"]


def test_a_wrong_type_says_what_was_expected_and_what_it_got() -> None:
    text = GOOD + "  - complete_course: {actor: alex, course: ETH-101, score: lots}\n"

    [problem] = problems_of(text)
    assert problem.startswith("bad.yaml:8: steps[2].complete_course.score: wrong type: ")
    assert "'lots'" in problem


def test_unknown_fields_and_conditions_are_refused() -> None:
    text = GOOD + "  - checkout: {actor: alex, paymnet: card}\n  - expect: {lms.enrolments: {actor: alex}}\n"

    problems = problems_of(text)
    assert problems[0] == "bad.yaml:8: steps[2].checkout.paymnet: unknown field"
    assert problems[1].startswith("bad.yaml:9: steps[3].expect: unknown condition 'lms.enrolments'")


def test_every_mistake_of_a_file_is_reported_in_one_pass() -> None:
    text = GOOD + (
        "  - teleport: {actor: alex}\n"
        "  - complete_course: {actor: alex, course: ETH-101, score: lots}\n"
        "  - enroll: {actor: robin, course: ETH-101}\n"
        "  - refund: {order: books}\n"
        "  - expect: {ams.inbox: {accepted: -1}}\n"
        "  - expect: {outbox: {delivered: {min: 3, max: 1}}}\n"
        "  - set_fault: {status: 503, until: nowhere}\n"
    )

    problems = problems_of(text)

    assert [problem.split(":")[1] for problem in problems] == ["8", "9", "10", "11", "12", "13", "14"]
    assert "unknown step 'teleport'" in problems[0]
    assert "steps[3].complete_course.score: wrong type" in problems[1]
    assert "actor 'robin' is not declared" in problems[2]
    assert "order 'books' is not made by an earlier step" in problems[3]
    assert "steps[6].expect.ams.inbox.accepted: a count cannot be negative (got -1)" in problems[4]
    assert "'min' (3) is above 'max' (1)" in problems[5]
    assert "until 'nowhere' names no later step" in problems[6]


def test_a_misspelt_field_is_an_unknown_field() -> None:
    assert problems_of(GOOD + "  - checkout: {actor: alex, paymnet: card}\n") == [
        "bad.yaml:8: steps[2].checkout.paymnet: unknown field"
    ]


def test_an_order_must_be_made_by_an_earlier_step() -> None:
    text = GOOD + "  - refund: {order: books}\n  - checkout: {actor: alex, order: books}\n"

    assert problems_of(text) == ["bad.yaml:8: steps[2].refund: order 'books' is not made by an earlier step"]


def test_bad_yaml_names_the_line() -> None:
    assert problems_of("name: x\nsteps:\n  - expect: {lms.session: {actor: alex}\n  - oops\n")[0].startswith(
        "bad.yaml:4: not valid YAML"
    )


def test_invalid_settings_are_refused_before_anything_runs() -> None:
    [problem] = problems_of(GOOD + "settings: {sso: {protocol: kerberos}}\n")

    assert problem.startswith("bad.yaml:8: settings: sso.protocol")


def test_validate_exits_non_zero_and_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("actor: alex}\n  - expect", "actor: sam}\n  - expect"))

    result = CliRunner().invoke(scenario, ["validate", str(tmp_path)])

    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}:5: steps[0].sso_login: actor 'sam' is not declared" in result.output
    ok = CliRunner().invoke(scenario, ["validate", str(tmp_path / "good.yaml")])
    assert ok.exit_code == 0, ok.output


def test_every_published_scenario_is_valid() -> None:
    for path in sorted(Path(__file__).resolve().parents[2].joinpath("scenarios").glob("*.yaml")):
        load_scenario(path)


def test_every_step_kind_of_the_language_has_a_handler() -> None:
    from simulator.scenario.model import STEP_KINDS
    from simulator.scenario.steps import registered_kinds

    assert registered_kinds() == sorted(STEP_KINDS)
