"""The alert rules and the Prometheus configuration, checked by Debian's promtool (from the
``prometheus`` package, hence the ``prometheus`` mark on the tests that run it).

``promtool test rules`` runs tests/deploy/alert-rules-test.yaml, which must hold a firing case
for every alert. Debian builds Prometheus without Kubernetes service discovery, so before
``promtool check config`` each ``kubernetes_sd_configs`` block is swapped for a file_sd one
(the rest of the job, relabelling included, is checked as written) and the Kubernetes blocks
are checked by hand against the roles and fields they may use.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMTOOL = Path("/usr/bin/promtool")
RULES = Path("manifests/monitoring/alert-rules.yaml")
RULES_TEST = Path("tests/deploy/alert-rules-test.yaml")
REQUIRED_ALERTS = {
    "ClaudescaleNoDecisions",
    "ClaudescaleRefusalRateHigh",
    "ClaudescalePinnedAtMaxWithHighCpu",
    "ClaudescaleExternalControllerFighting",
    "ClaudescaleBlind",
    "ClaudescaleMetricsStale",
    "ClaudescaleMetricsAbsent",
    "ClaudescaleAuditWriteFailures",
    "ClaudescaleApprovalWaitingTooLong",
    "ClaudescaleNoLeader",
}
SD_FIELDS = {"role", "namespaces"}
SD_ROLES = {"node", "pod"}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL.is_file():
        pytest.fail(f"{PROMTOOL} is missing; `make test` installs Debian's prometheus package.")
    return subprocess.run(
        [str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_names(rules: dict[str, Any]) -> list[str]:
    return [
        rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule
    ]


@pytest.mark.prometheus
def test_promtool_accepts_the_rules_file(repo: Path) -> None:
    result = promtool("check", "rules", str(RULES), cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names(load(repo / RULES)))} rules found" in result.stdout


@pytest.mark.prometheus
def test_promtool_unit_tests_of_the_rules_pass(repo: Path) -> None:
    result = promtool("test", "rules", str(RULES_TEST), cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_a_wrong_expectation_makes_the_unit_tests_fail(repo: Path, tmp_path: Path) -> None:
    text = (repo / RULES_TEST).read_text(encoding="utf-8")
    text = text.replace("../../manifests", str(repo / "manifests"))
    broken = tmp_path / "broken-test.yaml"
    broken.write_text(text.replace("severity: critical}", "severity: page}", 1), encoding="utf-8")
    result = promtool("test", "rules", str(broken), cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_every_alert_the_issue_asks_for_exists_and_has_a_firing_and_a_quiet_unit_test(
    repo: Path,
) -> None:
    alerts = alert_names(load(repo / RULES))
    assert set(alerts) >= REQUIRED_ALERTS
    assert len(alerts) == len(set(alerts))
    firing = {
        case["alertname"]
        for test in load(repo / RULES_TEST)["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    quiet = {
        case["alertname"]
        for test in load(repo / RULES_TEST)["tests"]
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    assert set(alerts) == firing, f"alerts without a firing test: {set(alerts) - firing}"
    assert set(alerts) == quiet, f"alerts without a quiet case: {set(alerts) - quiet}"


def test_every_alert_has_a_severity_a_summary_and_a_description(repo: Path) -> None:
    for group in load(repo / RULES)["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
            assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]


def test_the_prometheus_rule_carries_exactly_the_plain_rules(repo: Path) -> None:
    rule = load(repo / "manifests/prometheus-operator/prometheusrule.yaml")
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == load(repo / RULES)


def test_the_pod_monitor_labels_the_job_as_the_rules_expect(repo: Path) -> None:
    monitor = load(repo / "manifests/prometheus-operator/podmonitor.yaml")
    deployment = load(repo / "manifests/deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels[monitor["spec"]["jobLabel"]] == "claudescale"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["http"]
    assert 'job="claudescale"' in (repo / RULES).read_text(encoding="utf-8")


def _without_kubernetes_sd(config: dict[str, Any], targets: Path) -> dict[str, Any]:
    for job in config["scrape_configs"]:
        for sd in job.pop("kubernetes_sd_configs", None) or ():
            assert set(sd) <= SD_FIELDS and sd["role"] in SD_ROLES, job["job_name"]
            job.setdefault("file_sd_configs", []).append({"files": [str(targets)]})
    return config


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "config_path", ["manifests/monitoring/prometheus.yml", "examples/prometheus-scrape.yaml"]
)
def test_promtool_accepts_the_prometheus_configuration(
    repo: Path, tmp_path: Path, config_path: str
) -> None:
    config = _without_kubernetes_sd(load(repo / config_path), tmp_path / "targets.json")
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = promtool("check", "config", "--syntax-only", str(checked), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"claudescale", "kubernetes-cadvisor"} <= jobs


def test_the_bundled_prometheus_loads_the_rules_file_it_is_given(repo: Path) -> None:
    config = load(repo / "manifests/monitoring/prometheus.yml")
    deployment = load(repo / "manifests/monitoring/prometheus-deployment.yaml")
    mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    rules_dir = next(m["mountPath"] for m in mounts if m["name"] == "rules")
    assert config["rule_files"] == [f"{rules_dir}/{RULES.name}"]
    cadvisor = next(j for j in config["scrape_configs"] if j["job_name"] == "kubernetes-cadvisor")
    assert cadvisor["metrics_path"] == "/metrics/cadvisor"
