"""Read scenario files: YAML in, a validated :class:`Scenario` out, or errors with file, line and message.

Every problem is found before anything runs, all of them in one pass: bad YAML, an unknown step, a
wrong type, an actor or order that is not declared, a fault rule ending at a step that does not follow.
Errors name the line of the offending value, found by walking the composed YAML nodes along pydantic's
error location.

Example::

    scenario = load_scenario(Path("scenarios/01-saml-purchase-immediate-writeback.yaml"))
    files = scenario_files(Path("scenarios"))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from simulator.core.errors import SandboxError
from simulator.core.settings import validate_settings
from simulator.scenario.model import (
    STEP_KINDS,
    STEP_OPTIONS,
    Actor,
    Conditions,
    Scenario,
    Step,
    StepBase,
    condition_names,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ScenarioFileError(SandboxError):
    """A scenario file that cannot run; ``problems`` has one entry per mistake."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems), code="invalid_scenario", http_status=422)


@dataclass
class LoadedScenario:
    path: Path
    scenario: Scenario
    step_lines: list[int]


def scenario_files(target: Path) -> list[Path]:
    """``target`` itself, or the ``*.yaml`` / ``*.yml`` files of a folder in name order."""
    if target.is_dir():
        return sorted(p for p in target.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    return [target]


def load_scenario(path: Path) -> LoadedScenario:
    """Parse and validate one file; raises :class:`ScenarioFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioFileError([Problem(str(path), 0, f"cannot read the file: {exc.strerror}")]) from exc
    return parse_scenario(text, str(path))


def parse_scenario(text: str, filename: str = "<scenario>") -> LoadedScenario:
    """Parse and validate scenario text (``filename`` only labels the errors)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ScenarioFileError([Problem(filename, line, f"not valid YAML: {exc.problem}")]) from exc
    except yaml.YAMLError as exc:
        raise ScenarioFileError([Problem(filename, 0, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict) or root is None:
        raise ScenarioFileError([Problem(filename, 1, "a scenario is a mapping with 'name' and 'steps'")])
    problems = _shape_problems(data, root, filename)
    unusable = {problem.line for problem in problems}
    steps = data.get("steps") if isinstance(data.get("steps"), list) else None
    shapeless = {index for index in range(len(steps or [])) if line_of(root, ("steps", index)) in unusable}
    candidate = dict(data)
    if steps is not None:  # steps already reported keep their place, so the others keep their index
        candidate["steps"] = [PLACEHOLDER_STEP if i in shapeless else step for i, step in enumerate(steps)]
    scenario = None
    try:
        scenario = Scenario.model_validate(candidate)
    except ValidationError as exc:
        problems += [
            Problem(filename, line_of(root, err["loc"]), problem_message(err))
            for err in exc.errors()
            if not (len(err["loc"]) > 1 and err["loc"][0] == "steps" and err["loc"][1] in shapeless)
        ]
    actors, settings, indexed_steps = _usable_parts(candidate, scenario, shapeless)
    problems += _reference_problems(actors, settings, indexed_steps, root, filename)
    if problems:
        raise ScenarioFileError(sorted(problems, key=lambda problem: problem.line))
    assert scenario is not None
    step_lines = [line_of(root, ("steps", index)) for index in range(len(scenario.steps))]
    return LoadedScenario(Path(filename), scenario, step_lines)


PLACEHOLDER_STEP = {"clear_faults": {}}
_ACTORS = TypeAdapter(dict[str, Actor])
_STEP = TypeAdapter(Step)


def _usable_parts(
    data: dict[str, Any], scenario: Scenario | None, skip: set[int]
) -> tuple[dict[str, Actor], dict[str, Any], list[tuple[int, StepBase]]]:
    """The actors, settings and steps that validated on their own, so that references are checked even
    when something else in the file is wrong (every mistake is reported in one pass)."""
    if scenario is not None:
        return scenario.actors, scenario.settings, list(enumerate(scenario.steps))
    try:
        actors = _ACTORS.validate_python(data.get("actors") or {})
    except ValidationError:
        actors = {}
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    steps = []
    for index, raw in enumerate(data.get("steps") if isinstance(data.get("steps"), list) else []):
        if index in skip:
            continue
        try:
            steps.append((index, _STEP.validate_python(raw)))
        except ValidationError:
            continue
    return actors, settings, steps


def _node_at(root: yaml.Node, loc: Iterable[Any]) -> yaml.Node:
    """The deepest node along ``loc`` (pydantic's location; union tags are skipped)."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
            if child is None:
                continue
            node = child
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
    return node


def line_of(root: yaml.Node, loc: Iterable[Any]) -> int:
    """The 1-based line of the value at pydantic's error location ``loc`` in the composed YAML."""
    return _node_at(root, loc).start_mark.line + 1


def _where(loc: Sequence[Any]) -> str:
    parts: list[str] = []
    previous = None
    for part in loc:
        if part == previous and isinstance(part, str):
            continue  # the union tag repeats the step kind
        parts.append(f"[{part}]" if isinstance(part, int) else ("." if parts else "") + str(part))
        previous = part
    return "".join(parts)


def problem_message(err: dict[str, Any]) -> str:
    """One pydantic error as a plain sentence: ``where: what`` (unknown field, missing, wrong type…)."""
    where = _where(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind == "missing":
        return f"{where}: required field is missing"
    message = err["msg"].removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"wrong type: {message[0].lower()}{message[1:]} (got {err['input']!r})"
    return f"{where}: {message}" if where else message


def _shape_problems(data: dict[str, Any], root: yaml.Node, filename: str) -> list[Problem]:
    """Unknown step kinds and conditions, said plainly (pydantic would only say 'no tag')."""
    problems = []
    steps = data.get("steps")
    if not isinstance(steps, list):
        return problems
    known = set(STEP_KINDS)
    for index, step in enumerate(steps):
        line = line_of(root, ("steps", index))
        if not isinstance(step, dict):
            problems.append(
                Problem(filename, line, f"steps[{index}]: a step is a mapping like 'expect: {{…}}'")
            )
            continue
        kinds = [key for key in step if key in known]
        unknown = [key for key in step if key not in known and key not in STEP_OPTIONS]
        if unknown and not kinds:
            problems.append(
                Problem(
                    filename,
                    line,
                    f"steps[{index}]: unknown step '{unknown[0]}' (known: {', '.join(known_sorted())})",
                )
            )
        elif len(kinds) > 1:
            problems.append(
                Problem(filename, line, f"steps[{index}]: one step per list item ({', '.join(kinds)})")
            )
        elif not kinds:
            problems.append(Problem(filename, line, f"steps[{index}]: no step kind given"))
        elif kinds[0] in ("expect", "wait_for") and isinstance(step[kinds[0]], dict):
            allowed = set(condition_names()) | ({"timeout", "interval"} if kinds[0] == "wait_for" else set())
            for key in step[kinds[0]]:
                if key not in allowed:
                    problems.append(
                        Problem(
                            filename,
                            line_of(root, ("steps", index, kinds[0], key)),
                            f"steps[{index}].{kinds[0]}: unknown condition '{key}' "
                            f"(known: {', '.join(condition_names())})",
                        )
                    )
    return problems


def known_sorted() -> list[str]:
    return sorted(STEP_KINDS)


def _reference_problems(
    actors: dict[str, Actor],
    settings: dict[str, Any],
    steps: list[tuple[int, StepBase]],
    root: yaml.Node,
    filename: str,
) -> list[Problem]:
    """Actors and orders a step names must be declared (actors) or made by an earlier step (orders); a
    fault rule's ``until`` names a later step."""
    problems: list[Problem] = []
    orders: set[str] = set()
    if settings:
        try:
            validate_settings(settings)
        except SandboxError as exc:
            details = "; ".join(f"{e['field']}: {e['message']}" for e in getattr(exc, "errors", []) or [])
            problems.append(
                Problem(filename, line_of(root, ("settings",)), f"settings: {details or exc.message}")
            )
    names_after = {index: {s.name for i, s in steps if i > index and s.name} for index, _ in steps}
    for index, step in steps:
        kind, params = step.kind, step.params

        def problem(field: tuple[Any, ...], message: str, index: int = index, kind: str = kind) -> None:
            problems.append(Problem(filename, line_of(root, ("steps", index, kind, *field)), message))

        for field, name in _actor_refs(params):
            if name not in actors:
                declared = ", ".join(sorted(actors)) or "none"
                problem(field, f"steps[{index}].{kind}: actor '{name}' is not declared (actors: {declared})")
        for field, name in _order_refs(kind, params):
            if name == "last" and orders:
                continue
            if name not in orders:
                problem(field, f"steps[{index}].{kind}: order '{name}' is not made by an earlier step")
        if kind in ("checkout", "bulk_order", "phone_order"):
            orders.add("last")
            if params.order:
                orders.add(params.order)
        until = getattr(params, "until", None) if kind == "set_fault" else None
        if until is not None and until not in names_after[index]:
            problem(("until",), f"steps[{index}].set_fault: until '{until}' names no later step")
    return problems


def _actor_refs(params: Any) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(params, Conditions):
        refs = [((name, "actor"), c.actor) for name, c in params.given() if getattr(c, "actor", None)]
        if params.order is not None and params.order.entered_by:
            refs.append((("order", "entered_by"), params.order.entered_by))
        return refs
    refs = []
    for field in ("actor", "staff"):
        value = getattr(params, field, None) if isinstance(params, BaseModel) else None
        if isinstance(value, str):
            refs.append(((field,), value))
    return refs


def _order_refs(kind: str, params: Any) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(params, Conditions):
        refs = []
        if params.order is not None:
            refs.append((("order", "order"), params.order.order))
        if params.ledger is not None and params.ledger.order:
            refs.append((("ledger", "order"), params.ledger.order))
        return refs
    if kind in ("record_payment", "refund", "cancel_order", "assign_seat"):
        return [(("order",), params.order)]
    return []
