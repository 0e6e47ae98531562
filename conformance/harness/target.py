"""Target files: what a connector under test is (``target.yaml``), read with ``file:line: message`` errors.

A target file holds only what the real connector has (its metadata URL, where its login starts, how to
see who is signed in). Values may name the sandbox's own addresses as ``{console_url}``, ``{ams_url}``,
``{lms_url}`` and the target's IdP tenant as ``{tenant}`` (filled in when the file is read, so one file
serves any sandbox); ``{email}``, ``{member_id}``, ``{name}``, ``{given_name}`` and ``{family_name}``
are left for the suite to fill with the test member it signs in as.

Example::

    target = load_target(Path("target.yaml"), SamlSpTarget, "saml-sp", sandbox_placeholders(client))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from simulator.core.errors import SandboxError
from simulator.scenario.loader import Problem, line_of, problem_message

IDENTITY_PLACEHOLDERS = ("email", "member_id", "name", "given_name", "family_name")
SANDBOX_PLACEHOLDERS = ("console_url", "ams_url", "lms_url", "tenant")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Model = TypeVar("Model", bound=BaseModel)


class TargetFileError(SandboxError):
    """A target file that cannot be used; ``problems`` has one entry per mistake."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems), code="invalid_target", http_status=422)


@dataclass
class LoadedTarget:
    path: Path
    target: Any
    text: str


def load_target(path: Path, model: type[Model], suite: str, sandbox: dict[str, str]) -> LoadedTarget:
    """Read and validate ``path`` as a ``suite`` target; raises :class:`TargetFileError`.

    ``sandbox`` maps ``console_url``, ``ams_url`` and ``lms_url`` to the sandbox the suite runs against.
    """
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetFileError([Problem(filename, 0, f"cannot read the file: {exc.strerror}")]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise TargetFileError(
            [Problem(filename, mark.line + 1 if mark else 0, f"not valid YAML: {exc.problem}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise TargetFileError([Problem(filename, 0, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict) or root is None:
        raise TargetFileError(
            [Problem(filename, 1, f"a target file is a mapping that starts 'suite: {suite}'")]
        )
    if data.get("suite") != suite:
        line = line_of(root, ("suite",)) if "suite" in data else 1
        found = f"'{data['suite']}'" if "suite" in data else "no 'suite' key"
        raise TargetFileError(
            [Problem(filename, line, f"suite: this is a target for '{suite}', found {found}")]
        )
    tenant = data.get("idp", {}).get("tenant") if isinstance(data.get("idp"), dict) else None
    values = {**sandbox, "tenant": str(tenant or "")}
    problems: list[Problem] = []
    data = _Filler(root, values, filename, problems).fill(data, ())
    if problems:
        raise TargetFileError(problems)
    try:
        target = model.model_validate(data, context={"base": path.parent})
    except ValidationError as exc:
        raise TargetFileError(
            [Problem(filename, line_of(root, err["loc"]), problem_message(err)) for err in exc.errors()]
        ) from exc
    return LoadedTarget(path, target, text)


class _Filler:
    """Fills sandbox placeholders into every string of the document; unknown names are problems."""

    def __init__(
        self, root: yaml.Node, values: dict[str, str], filename: str, problems: list[Problem]
    ) -> None:
        self.root, self.values, self.filename, self.problems = root, values, filename, problems

    def fill(self, value: Any, loc: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            return {key: self.fill(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item, (*loc, index)) for index, item in enumerate(value)]
        if not isinstance(value, str):
            return value
        return _PLACEHOLDER.sub(lambda match: self._replacement(match, loc), value)

    def _replacement(self, match: re.Match[str], loc: tuple[Any, ...]) -> str:
        name = match.group(1)
        if name in self.values:
            return self.values[name]
        if name not in IDENTITY_PLACEHOLDERS:
            known = ", ".join(f"{{{known}}}" for known in (*SANDBOX_PLACEHOLDERS, *IDENTITY_PLACEHOLDERS))
            where = ".".join(str(part) for part in loc)
            message = f"{where}: unknown placeholder {{{name}}} (known: {known})"
            self.problems.append(Problem(self.filename, line_of(self.root, loc), message))
        return match.group(0)
