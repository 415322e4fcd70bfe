"""The alert rules in deploy/prometheus/ are valid and do what their unit tests say
(``promtool``, from Debian's prometheus package that ``stack.py`` installs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.local.prometheus import ALERT_RULES, scrape_config, target_groups
from shared.settings import StackSettings

pytestmark = pytest.mark.unit

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("promtool")
    assert program, "promtool is missing: `python deploy/local/stack.py prometheus-install`"
    return subprocess.run(
        [program, *args], cwd=RULES, capture_output=True, text=True, check=False, timeout=120
    )


def test_the_alert_rules_are_valid() -> None:
    checked = promtool("check", "rules", "alerts.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_where_its_unit_test_says_and_nowhere_else() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")

    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_rule_has_a_unit_test() -> None:
    rules = (RULES / "alerts.yml").read_text()
    tests = (RULES / "alerts.test.yml").read_text()
    alerts = {line.split(":", 1)[1].strip() for line in rules.splitlines() if "- alert:" in line}
    tested = {line.split(":", 1)[1].strip() for line in tests.splitlines() if "alertname:" in line}

    assert alerts, "no alert rules found"
    assert alerts == tested


def test_the_local_prometheus_configuration_is_valid_and_loads_the_alert_rules(
    tmp_path: Path,
) -> None:
    config = scrape_config(StackSettings())
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    groups = target_groups({"contacts": [("api", 8101), ("worker", 8201)]})
    checked = promtool("check", "config", str(path))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert config["rule_files"] == [str(ALERT_RULES)]
    assert groups == [
        {"targets": ["127.0.0.1:8101"], "labels": {"service": "contacts", "role": "api"}},
        {"targets": ["127.0.0.1:8201"], "labels": {"service": "contacts", "role": "worker"}},
    ]
