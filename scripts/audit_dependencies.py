"""Audits the installed packages against the vulnerability data of the package registry alone.

Usage: ``.venv/bin/python scripts/audit_dependencies.py [--index-url URL] [--justifications FILE]
[--only NAME==VERSION ...]`` (run with the venv's python: it audits exactly what that interpreter sees
installed, minus the project itself).

What it can see: for each package it asks the registry's project JSON (``{index}/{name}/json``). That
document carries ``info.version``, the latest release, and ``vulnerabilities``, the known vulnerabilities
of that latest release only. So a package installed at its latest release is *checked*: each of those
vulnerabilities that is not withdrawn is a *finding*.

What it cannot see: PyPI publishes the vulnerabilities of older releases only through its per-release JSON
(``{index}/{name}/{version}/json``) and through OSV, and neither is reachable where ``make test`` runs. A
package pinned below its latest release is therefore listed as *not checkable here* ("pinned X, latest Y"),
as is a package the registry does not know (404) or did not answer for. Those are not failures. For a
full check use ``make audit`` (pip-audit, which needs OSV or the per-release JSON).

A finding is a failure unless ``scripts/audit-justifications.toml`` justifies it: ``[[justified]]`` tables
with ``package``, ``id`` (the vulnerability's id or any alias) and a non-empty ``reason``. A justification
that matches no finding of a checked package is reported as stale (a warning, not a failure).

``--only NAME==VERSION ...`` audits the given pairs instead of the installed set: for the tests, and for
checking a candidate pin before changing ``pyproject.toml``.

Exit codes: 0 clean (or only justified findings and packages not checkable here); 1 unjustified
findings, or the registry unreachable altogether when the environment variable ``CI`` is ``true``
(otherwise that is a warning and 0, so a newcomer offline is not stopped by it); 2 a bad command line or
justifications file.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import os
import re
import socket
import ssl
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INDEX = "https://pypi.org/pypi"
DEFAULT_JUSTIFICATIONS = REPO / "scripts" / "audit-justifications.toml"
TIMEOUT_SECONDS = 20
THREADS = 8
JUSTIFICATION_KEYS = {"package", "id", "reason"}


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    summary: str
    link: str
    justification: str | None = None


@dataclass(frozen=True)
class Justification:
    package: str
    id: str
    reason: str


@dataclass
class Audit:
    packages: int = 0
    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    not_checkable: list[str] = field(default_factory=list)
    stale: list[Justification] = field(default_factory=list)


class Unreachable(Exception):
    """The registry gave no HTTP answer at all (refused, unresolvable, timed out)."""


class NotCheckable(Exception):
    """The registry answered, but not with what a check needs; the message says why."""


class BadJustifications(Exception):
    """The justifications file cannot be used; ``args`` are ``file:line: message`` lines."""


def normalised_name(name: str) -> str:
    """The name as PEP 503 normalises it: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalised_version(version: str) -> str:
    """The version in a form where PEP 440-equal spellings compare equal (``1.0`` == ``1.0.0``,
    ``2.0RC1`` == ``2.0-rc.1``); enough to tell "the latest release" from "another one"."""
    version = version.strip().lower()
    match = re.fullmatch(r"v?(\d+(?:\.\d+)*)(.*)", version)
    if not match:
        return version
    release = [int(part) for part in match.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    rest = match.group(2)
    for spelling, canonical in (("alpha", "a"), ("beta", "b"), ("preview", "rc"), ("pre", "rc"), ("c", "rc")):
        rest = re.sub(rf"(?<![a-z]){spelling}(?![a-z])", canonical, rest)
    return ".".join(map(str, release)) + re.sub(r"[-_.]", "", rest)


def installed_packages(project: str) -> list[tuple[str, str]]:
    """(name, version) of every distribution this interpreter sees, except ``project``, by name."""
    found: dict[str, tuple[str, str]] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name and normalised_name(name) != normalised_name(project):
            found.setdefault(normalised_name(name), (name, distribution.version))
    return sorted(found.values(), key=lambda pair: normalised_name(pair[0]))


def project_name() -> str:
    with (REPO / "pyproject.toml").open("rb") as pyproject:
        return tomllib.load(pyproject)["project"]["name"]


def load_justifications(path: Path) -> list[Justification]:
    """The ``[[justified]]`` entries of ``path``; raises :class:`BadJustifications` listing every problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadJustifications(f"{path}: cannot be read ({error.strerror or error}).") from None
    except UnicodeDecodeError:
        raise BadJustifications(f"{path}: is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        at = re.search(r"\s*\(at line (\d+), column \d+\)$", message)
        if at:
            raise BadJustifications(f"{path}:{at.group(1)}: {message[: at.start()]}.") from None
        raise BadJustifications(f"{path}: {message}.") from None
    problems = [
        f"{path}: unknown key {key!r} (entries go in [[justified]] tables)."
        for key in document
        if key != "justified"
    ]
    entries = document.get("justified", [])
    if not isinstance(entries, list):
        problems.append(f"{path}: 'justified' must be an array of tables ([[justified]]).")
        entries = []
    justifications = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table ([[justified]]).")
            continue
        problems += [f"{where}: unknown key {key!r}." for key in sorted(entry.keys() - JUSTIFICATION_KEYS)]
        missing = [
            key
            for key in ("package", "id", "reason")
            if not isinstance(entry.get(key), str) or not entry[key].strip()
        ]
        problems += [f"{where}: {key!r} is missing or empty." for key in missing]
        if not missing:
            justifications.append(Justification(entry["package"], entry["id"], entry["reason"].strip()))
    if problems:
        raise BadJustifications(*problems)
    return justifications


def failure_reason(error: BaseException, timeout: float) -> str:
    """Why a request got no HTTP answer, in a few plain words."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError):
        return f"no answer came within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(reason, ssl.SSLError):
        return f"the TLS connection failed ({reason.reason or reason})"
    return str(reason) or type(reason).__name__


def fetch_project(index: str, name: str, timeout: float) -> dict:
    """The registry's project JSON for ``name``; raises :class:`Unreachable` or :class:`NotCheckable`."""
    request = urllib.request.Request(  # noqa: S310 (main accepts only http and https index URLs)
        f"{index.rstrip('/')}/{normalised_name(name)}/json",
        headers={"Accept": "application/json", "User-Agent": "ams-lms-sandbox dependency audit"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (see above)
            document = json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise NotCheckable("not on this registry (404)") from None
        raise NotCheckable(f"the registry answered {error.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise Unreachable(failure_reason(error, timeout)) from None
    except ValueError:
        raise NotCheckable("the registry's answer was not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("info"), dict):
        raise NotCheckable("the registry's answer has no 'info'")
    return document


def one_line(text: object, limit: int = 100) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def findings_of(name: str, version: str, document: dict) -> list[Finding]:
    """The vulnerabilities the project JSON lists for its latest release, except withdrawn ones."""
    findings = []
    for entry in document.get("vulnerabilities") or []:
        if not isinstance(entry, dict) or entry.get("withdrawn"):
            continue
        details = str(entry.get("details") or "").strip().splitlines()
        findings.append(
            Finding(
                package=name,
                version=version,
                id=str(entry.get("id") or "(no id)"),
                aliases=tuple(map(str, entry.get("aliases") or ())),
                fixed_in=tuple(map(str, entry.get("fixed_in") or ())),
                summary=one_line(entry.get("summary") or (details[0] if details else "no summary")),
                link=str(entry.get("link") or ""),
            )
        )
    return findings


def matches(justification: Justification, finding: Finding) -> bool:
    """Whether ``justification`` names ``finding``'s package and its id or one of its aliases."""
    return normalised_name(justification.package) == normalised_name(finding.package) and (
        justification.id.lower() in {finding.id.lower(), *(alias.lower() for alias in finding.aliases)}
    )


def audit(
    packages: list[tuple[str, str]], index: str, justifications: list[Justification], timeout: float
) -> Audit:
    """Checks ``packages`` against ``index`` and applies ``justifications``. Raises :class:`Unreachable`
    when the first request gets no answer at all, so an offline machine learns it after one timeout
    rather than one per package; later requests without an answer make their package not checkable."""

    def answer(package: tuple[str, str]) -> dict | Exception:
        try:
            return fetch_project(index, package[0], timeout)
        except (Unreachable, NotCheckable) as error:
            return error

    result = Audit(packages=len(packages))
    if not packages:
        return result
    first = answer(packages[0])
    if isinstance(first, Unreachable):
        raise first
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = [first, *pool.map(answer, packages[1:])]
    uncheckable = set()
    for (name, version), document in zip(packages, answers, strict=True):
        if isinstance(document, Exception):
            result.not_checkable.append(f"{name} {version}: {document}")
            uncheckable.add(normalised_name(name))
            continue
        latest = str(document["info"].get("version") or "")
        if normalised_version(latest) != normalised_version(version):
            result.not_checkable.append(f"{name}: pinned {version}, latest {latest or '(none listed)'}")
            uncheckable.add(normalised_name(name))
            continue
        result.checked.append(name)
        for finding in findings_of(name, version, document):
            reasons = [j.reason for j in justifications if matches(j, finding)]
            result.findings.append(replace(finding, justification=reasons[0]) if reasons else finding)
    result.stale = [
        justification
        for justification in justifications
        if normalised_name(justification.package) not in uncheckable
        and not any(matches(justification, finding) for finding in result.findings)
    ]
    return result


def report(result: Audit, index: str, subject: str, justifications_path: Path) -> list[str]:
    """The plain report of ``result``: a summary line, then the findings and the packages not checked."""
    justified = sum(1 for finding in result.findings if finding.justification)
    registry = "PyPI" if index == DEFAULT_INDEX else index
    lines = [
        f"audited {result.packages} {subject} packages against {registry}: {len(result.checked)} checked at "
        f"their latest release, {len(result.findings)} findings ({justified} justified), "
        f"{len(result.not_checkable)} not checkable here"
        + (":" if result.findings or result.not_checkable else ".")
    ]
    if result.findings:
        lines.append("findings:")
    for finding in result.findings:
        aliases = f" ({', '.join(finding.aliases)})" if finding.aliases else ""
        fixed = f"fixed in {', '.join(finding.fixed_in)}" if finding.fixed_in else "no fixed release listed"
        lines.append(
            f"  {finding.package} {finding.version}: {finding.id}{aliases}, {fixed}: {finding.summary}"
        )
        if finding.link:
            lines.append(f"    {finding.link}")
        lines.append(
            f"    justified: {finding.justification}"
            if finding.justification
            else f"    not justified (add a [[justified]] entry with a reason to {justifications_path.name})"
        )
    if result.not_checkable:
        lines.append(
            f"not checkable here ({len(result.not_checkable)}; the registry's project JSON lists "
            "vulnerabilities of the latest release only):"
        )
        lines += [f"  {entry}" for entry in result.not_checkable]
    lines += [
        f"warning: stale justification in {justifications_path}: {j.package} {j.id} matches no finding."
        for j in result.stale
    ]
    return lines


def parse_only(pairs: list[str]) -> list[tuple[str, str]]:
    """``NAME==VERSION`` arguments as (name, version); raises ValueError naming the first bad one."""
    packages = []
    for pair in pairs:
        name, separator, version = pair.partition("==")
        if not separator or not name.strip() or not version.strip():
            raise ValueError(f"--only takes NAME==VERSION, not {pair!r}.")
        packages.append((name.strip(), version.strip()))
    return packages


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Audit the installed packages against the registry's vulnerability data "
        "(packages at their latest release only; see the module docstring)."
    )
    parser.add_argument(
        "--index-url", default=DEFAULT_INDEX, help=f"JSON API root (default {DEFAULT_INDEX})."
    )
    parser.add_argument(
        "--justifications",
        type=Path,
        default=DEFAULT_JUSTIFICATIONS,
        help="TOML file of [[justified]] findings (default scripts/audit-justifications.toml).",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME==VERSION",
        help="audit these name/version pairs instead of the installed set (for tests, or to check a "
        "candidate pin).",
    )
    return parser.parse_args(argv)


def say(lines: list[str], stream: TextIO = sys.stdout) -> None:
    stream.write("".join(f"{line}\n" for line in lines))


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    if urllib.parse.urlsplit(options.index_url).scheme not in {"http", "https"}:
        say([f"--index-url must be an http or https URL, not {options.index_url!r}."], sys.stderr)
        return 2
    try:
        packages = parse_only(options.only) if options.only else installed_packages(project_name())
        justifications = load_justifications(options.justifications)
    except ValueError as error:
        say([str(error)], sys.stderr)
        return 2
    except BadJustifications as error:
        say(list(error.args), sys.stderr)
        return 2
    if options.only:
        audited = {normalised_name(name) for name, _ in packages}
        justifications = [j for j in justifications if normalised_name(j.package) in audited]
    try:
        result = audit(packages, options.index_url, justifications, TIMEOUT_SECONDS)
    except Unreachable as error:
        in_ci = os.environ.get("CI", "").lower() == "true"
        sentence = f"{options.index_url} could not be reached ({error}), so no dependency was audited."
        say([sentence if in_ci else f"warning: {sentence}"], sys.stderr)
        return 1 if in_ci else 0
    say(report(result, options.index_url, "given" if options.only else "installed", options.justifications))
    return 1 if any(not finding.justification for finding in result.findings) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
