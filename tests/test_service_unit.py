"""The systemd unit (deploy/systemd/aihelper.service, issue #18 part 5): it parses, runs the
production command with the environment file, restarts on failure, and gives a stop at least the
graceful drain gunicorn.conf.py allows."""

from __future__ import annotations

import configparser
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
UNIT = PROJECT_ROOT / "deploy" / "systemd" / "aihelper.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(UNIT, encoding="utf-8")
    return parser


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "min": 60, "m": 60, "h": 3600}
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if value.endswith(suffix):
            return float(value.removesuffix(suffix)) * factor
    return float(value)


def test_the_unit_runs_gunicorn_with_the_production_config_and_the_environment_file():
    service = _unit()["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "gunicorn" and Path(command[0]).is_absolute()
    assert command[1:] == ["-c", "gunicorn.conf.py", "wsgi:app"]
    assert service["EnvironmentFile"] == "/etc/aihelper/aihelper.env"
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("", "root")
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    instance = dict(line.split("=", 1) for line in service["Environment"].split())["AIHELPER_INSTANCE_PATH"]
    assert instance in service["ReadWritePaths"].split(), "the instance folder must stay writable"


def test_a_stop_waits_for_the_graceful_drain(monkeypatch):
    monkeypatch.delenv("AIHELPER_DRAIN_SECONDS", raising=False)
    graceful_timeout = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))["graceful_timeout"]
    service = _unit()["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert _seconds(service["TimeoutStopSec"]) > graceful_timeout


def test_systemd_reads_every_line_of_the_unit():
    """systemd-analyze verify names each key it does not know or cannot parse. The one thing it
    may miss here is the installed app itself (the virtualenv's gunicorn)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package); the structure is checked above")
    result = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    gunicorn = shlex.split(_unit()["Service"]["ExecStart"])[0]
    complaints = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not (gunicorn in line and "is not executable" in line)
    ]
    assert complaints == []
