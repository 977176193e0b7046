"""The chart's PrometheusRule checked and unit-tested by the real promtool (Debian's `prometheus`
package): every expression parses, and each alert fires on the series it is about, with the
labels and annotations an on-call person reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.support import CHART, Helm, find

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH (Debian package `prometheus`)")

MD = {"namespace": "ml", "name": "fraud"}
OPERATOR = {"namespace": "glidepath-system", "job": "glidepath-metrics"}
ALERT_LABELS = {"severity": "warning", "team": "ml-platform"}  # ci/observability-values.yaml


@pytest.fixture(scope="module")
def rules(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The rendered PrometheusRule's groups as a Prometheus rule file; returns (path, alerts by name)."""
    rule = find(helm.objects(values=[CHART / "ci" / "observability-values.yaml"]), "PrometheusRule")
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    return path, alerts


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def test_rules_parse(rules: tuple[Path, dict[str, Any]]) -> None:
    out = promtool("check", "rules", str(rules[0]))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout


def expand(template: str, labels: dict[str, str], value: float) -> str:
    """The Prometheus template subset the annotations use: $labels.X, $value, humanizePercentage."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
    text = text.replace("{{ $value | humanizePercentage }}", f"{value * 100:.4g}%")
    return text.replace("{{ $value }}", f"{value:g}")


def expected(alert: dict[str, Any], labels: dict[str, str], value: float) -> dict[str, Any]:
    return {
        "exp_labels": {**labels, **ALERT_LABELS},
        "exp_annotations": {k: expand(v, labels, value) for k, v in alert["annotations"].items()},
    }


def test_alerts_fire_on_their_series(rules: tuple[Path, dict[str, Any]]) -> None:
    path, alerts = rules
    md_series = ",".join(f'{k}="{v}"' for k, v in MD.items())
    op_series = ",".join(f'{k}="{v}"' for k, v in OPERATOR.items())
    cases = [
        # (alert, input series, fired at, quiet at, labels, $value)
        (
            "GlidepathRolledBack",
            [(f'glidepath_model_deployment_phase{{{md_series},phase="RolledBack"}}', "0 0 0 1 1 1")],
            "4m",
            "2m",
            MD,
            1.0,
        ),
        (
            "GlidepathCanaryAnalysisFailing",
            [(f"glidepath_canary_failed_checks{{{md_series}}}", "0 0 2 2 2")],
            "3m",
            "1m",
            MD,
            2.0,
        ),
        (
            "GlidepathModelDeploymentNotReady",  # notReadyFor: 10m in the ci values
            [(f"glidepath_model_deployment_ready{{{md_series}}}", "1 1 0x20")],
            "13m",
            "11m",
            MD,
            0.0,
        ),
        (
            "GlidepathReconcileErrors",  # a third of reconciles fail, for 10m
            [
                (f'glidepath_reconcile_total{{{op_series},result="error"}}', "0+1x40"),
                (f'glidepath_reconcile_total{{{op_series},result="ok"}}', "0+2x40"),
            ],
            "25m",
            "5m",
            OPERATOR,
            1 / 3,
        ),
    ]
    tests = []
    for name, series, fired, quiet, labels, value in cases:
        tests.append(
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": [
                    {"eval_time": quiet, "alertname": name, "exp_alerts": []},
                    {
                        "eval_time": fired,
                        "alertname": name,
                        "exp_alerts": [expected(alerts[name], labels, value)],
                    },
                ],
            }
        )
    spec = path.parent / "alerts-test.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [path.name], "evaluation_interval": "1m", "tests": tests}))
    out = promtool("test", "rules", spec.name, cwd=path.parent)
    assert out.returncode == 0, out.stdout + out.stderr
