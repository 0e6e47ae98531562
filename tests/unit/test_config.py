"""Process settings: defaults, a TOML file, SANDBOX_* variables and flags, and plain errors when wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.config import load_config
from simulator.core.errors import ConfigError


@pytest.fixture(autouse=True)
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a folder without ./sandbox.toml, and with no SANDBOX_* setting in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("SANDBOX_")]:
        monkeypatch.delenv(name)
    return tmp_path


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_every_setting_has_a_default() -> None:
    config = load_config(env={})

    assert (config.console_port, config.ams_port, config.lms_port) == (8000, 8001, 8002)
    assert config.bind == "127.0.0.1"
    assert config.console_url == "http://127.0.0.1:8000"
    assert config.resolved_database_url == f"sqlite:///{(Path('.sandbox') / 'sandbox.db').resolve()}"
    assert config.admin_key is None


def test_environment_variables_override_defaults() -> None:
    config = load_config(
        env={"SANDBOX_AMS_PORT": "9101", "SANDBOX_BIND": "0.0.0.0", "SANDBOX_DATABASE_URL": "sqlite:///x.db"}
    )

    assert config.ams_port == 9101
    assert config.ams_url == "http://0.0.0.0:9101"
    assert config.resolved_database_url == "sqlite:///x.db"


def test_a_toml_file_is_read_and_the_environment_wins_over_it(in_empty_folder: Path) -> None:
    settings = write_toml(
        in_empty_folder / "custom.toml", 'ams_port = 9201\nlms_port = 9202\nbind = "0.0.0.0"\n'
    )

    from_file = load_config(settings, env={})
    assert (from_file.ams_port, from_file.lms_port, from_file.bind) == (9201, 9202, "0.0.0.0")

    both = load_config(env={"SANDBOX_CONFIG": str(settings), "SANDBOX_AMS_PORT": "9301"})
    assert (both.ams_port, both.lms_port) == (9301, 9202)

    with_flags = load_config(settings, env={"SANDBOX_AMS_PORT": "9301"}, overrides={"ams_port": 9401})
    assert with_flags.ams_port == 9401


def test_sandbox_toml_in_the_working_folder_is_picked_up(in_empty_folder: Path) -> None:
    write_toml(in_empty_folder / "sandbox.toml", "console_port = 9500\n")

    assert load_config(env={}).console_port == 9500


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SANDBOX_AMS_PORT": "abc"}, "SANDBOX_AMS_PORT"),
        ({"SANDBOX_LMS_PORT": "70000"}, "SANDBOX_LMS_PORT"),
        ({"SANDBOX_THREADS": "0"}, "SANDBOX_THREADS"),
        ({"SANDBOX_WORKER_POLL_SECONDS": "-1"}, "SANDBOX_WORKER_POLL_SECONDS"),
    ],
)
def test_an_invalid_value_names_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named) as error:
        load_config(env=env)

    assert error.value.message.startswith("Invalid configuration")


def test_a_broken_toml_file_is_named(in_empty_folder: Path) -> None:
    broken = write_toml(in_empty_folder / "broken.toml", "ams_port = = 1\n")

    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_config(broken, env={})


def test_a_missing_config_file_is_named(in_empty_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"Cannot read the configuration file .*missing\.toml"):
        load_config(in_empty_folder / "missing.toml", env={})


def test_an_unknown_setting_in_the_file_is_refused(in_empty_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"'ams_prot' in .*typo\.toml: Extra inputs are not permitted"):
        load_config(write_toml(in_empty_folder / "typo.toml", "ams_prot = 9000\n"), env={})


def test_a_bad_value_in_the_file_is_reported_where_it_was_written(in_empty_folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"'ams_port' in .*ports\.toml: Input should be a valid integer"):
        load_config(write_toml(in_empty_folder / "ports.toml", 'ams_port = "abc"\n'), env={})


def test_the_cli_reports_a_bad_setting_in_one_sentence_without_a_traceback() -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"SANDBOX_AMS_PORT": "abc"})

    assert result.exit_code != 0
    assert "Error: Invalid configuration: SANDBOX_AMS_PORT" in result.output
    assert "Traceback" not in result.output


def test_a_real_sandbox_process_reports_a_broken_config_file_plainly(in_empty_folder: Path) -> None:
    broken = write_toml(in_empty_folder / "broken.toml", "[unclosed\n")

    completed = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "--config", str(broken), "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    assert "broken.toml is not valid TOML" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert not (in_empty_folder / ".sandbox").exists(), "nothing is created when the settings are wrong"


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    for command in ("up", "worker", "seed", "tenant", "migrate", "serve"):
        assert f"  {command} " in result.output


def test_up_help_lists_the_server_flags() -> None:
    result = CliRunner().invoke(main, ["up", "--help"])

    assert result.exit_code == 0
    for flag in ("--console-port", "--ams-port", "--lms-port", "--bind", "--data-dir", "--database-url"):
        assert flag in result.output


def test_processes_starting_at_once_share_one_generated_secret(tmp_path: Path) -> None:
    """Four processes that start together on an empty data folder (as `sandbox up`'s children do) all
    get the same session secret and admin key; none fails on the race, none reads a half-written file."""
    script = (
        "import sys, time; from simulator.config import load_config\n"
        "config = load_config(env={'SANDBOX_DATA_DIR': sys.argv[1]})\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "print(config.flask_secret_key(), config.effective_admin_key())\n"
    )
    for round_ in range(3):
        data = tmp_path / f"data{round_}"
        start = str(time.time() + 1.5)
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(data), start],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        outputs = [process.communicate(timeout=60) for process in processes]
        assert all(process.returncode == 0 for process in processes), outputs
        values = {stdout.decode().strip() for stdout, _ in outputs}
        assert len(values) == 1
        secret, key = values.pop().split()
        assert (data / "session_secret").read_text() == secret and (data / "admin_key").read_text() == key
        assert sorted(path.name for path in data.iterdir()) == ["admin_key", "session_secret"]
