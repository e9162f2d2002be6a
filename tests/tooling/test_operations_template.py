"""The operations half of template.yaml: the alarm topic, every alarm wired to it, and a dashboard
whose body renders to JSON and names only metrics the code emits, with the dimensions it emits."""

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from local_stack import template as tpl
from smsgw.platform.observability import METRICS
from smsgw.providers import cmessages, sms230
from smsgw.providers.base import Verdict

LAYER = Path(__file__).resolve().parents[2] / "layers" / "smsgw" / "smsgw"
PROVIDERS = {cls.name: cls for cls in (cmessages.PROVIDER, sms230.PROVIDER)}
PSEUDO = {"AWS::Region": "eu-west-1", "AWS::StackName": "smsgw-ops", "AWS::AccountId": "123456789012"}
TEMPLATE = tpl.load()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ALARMS = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
GLOBAL_ENV = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
NAMESPACE = GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"]


def render(sub: Any) -> str:
    """A !Sub string with every ${...} resolved to a placeholder: pseudo parameters, parameters (their
    default), resources and their attributes; anything else fails the test."""
    assert isinstance(sub, dict) and set(sub) == {"Fn::Sub"} and isinstance(sub["Fn::Sub"], str)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        if name in TEMPLATE["Parameters"]:
            return str(TEMPLATE["Parameters"][name]["Default"])
        resource, _, attribute = name.partition(".")
        assert resource in RESOURCES, f"${{{name}}} names nothing in the template"
        return f"placeholder-{resource}-{attribute or 'ref'}"

    return re.sub(r"\$\{([^}!]+)\}", value, sub["Fn::Sub"])


def dashboard() -> dict[str, Any]:
    (board,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body: dict[str, Any] = json.loads(render(board["Properties"]["DashboardBody"]))
    return body


def dashboard_metrics() -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of every metric line of every widget (expressions left out)."""
    found = []
    for widget in dashboard()["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):  # a metric-math expression
                continue
            parts = [p for p in line if not isinstance(p, dict)]
            assert "." not in parts, "the shorthand '.' hides what a line names: spell it out"
            namespace, name, *pairs = parts
            assert len(pairs) % 2 == 0, line
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of an alarm's metric, or of each metric of its metric math."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        return [(alarm["Namespace"], alarm["MetricName"], dims)]
    found = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric["Namespace"], metric["MetricName"], dims))
    return found


def emitted_in_source() -> dict[str, list[str]]:
    """Metric names passed as a literal to count(), observe() or count_reason() in the layer."""
    found: dict[str, list[str]] = {}
    for path in sorted(LAYER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"count", "observe", "count_reason"}
                and node.args
            ):
                first = node.args[0]  # or count("A" if changed else "B", ...)
                names = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
                for name in names:
                    if isinstance(name, ast.Constant) and isinstance(name.value, str):
                        found.setdefault(name.value, []).append(path.name)
    return found


def check_custom(namespace: str, name: str, dims: dict[str, str], where: str) -> None:
    """A metric of ours: registered, with exactly its registered dimensions, real values for them."""
    if namespace != NAMESPACE:
        assert namespace.startswith("AWS/"), f"{where}: unexpected namespace {namespace}"
        return
    assert name in METRICS, f"{where} names {name}, which the code does not emit"
    assert dims.pop("service", None) == SERVICE, f"{where}: {name} without service={SERVICE}"
    assert set(dims) == set(METRICS[name]), f"{where}: {name} has dimensions {set(dims)}"
    if "provider" in dims:
        assert dims["provider"] in PROVIDERS, f"{where}: unknown provider {dims['provider']}"


# -- the metrics registry -------------------------------------------------------------------------


def test_every_metric_the_layer_emits_is_registered_and_every_registered_one_is_emitted() -> None:
    emitted = emitted_in_source()
    assert set(emitted) - set(METRICS) == set(), "emitted but not in observability.METRICS"
    assert set(METRICS) - set(emitted) == set(), "in observability.METRICS but emitted nowhere"


def test_metric_dimensions_are_few_and_small() -> None:
    for name, dims in METRICS.items():
        assert set(dims) <= {"provider", "kind", "reason"}, name


# -- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_body_renders_to_json_with_widgets_on_the_grid() -> None:
    widgets = dashboard()["widgets"]
    assert len(widgets) >= 10
    for widget in widgets:
        assert widget["type"] in {"metric", "text", "alarm"}
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == PSEUDO["AWS::Region"]
            assert widget["properties"]["metrics"]


def test_every_dashboard_metric_of_ours_is_one_the_code_emits() -> None:
    lines = dashboard_metrics()
    for namespace, name, dims in lines:
        check_custom(namespace, name, dict(dims), "dashboard")
    ours = {name for namespace, name, _ in lines if namespace == NAMESPACE}
    wanted = {
        "MessagesSubmitted",
        "MessagesDelivered",
        "MessagesUndelivered",
        "MessagesFailed",
        "MessagesUnknown",
        "DeliveryLatency",
        "ProviderLatency",
        "ProviderErrors",
        "ProviderBackOffs",
        "ProviderBalance",
        "VerificationsSent",
        "VerificationsApproved",
    }
    assert wanted <= ours
    api = {name for namespace, name, dims in lines if namespace == "AWS/ApiGateway"}
    assert {"Count", "4XXError", "5XXError", "Latency"} <= api


def test_the_dashboard_shows_latency_percentiles_per_provider() -> None:
    stats: dict[str, set[str]] = {}
    for widget in dashboard()["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if line[0] == NAMESPACE and line[1] == "DeliveryLatency":
                options = line[-1] if isinstance(line[-1], dict) else {}
                stats.setdefault(line[line.index("provider") + 1], set()).add(options.get("stat", ""))
    assert stats == {name: {"p50", "p95", "p99"} for name in PROVIDERS}


def test_dashboard_expressions_only_use_ids_of_their_widget() -> None:
    for widget in dashboard()["widgets"]:
        lines = widget["properties"].get("metrics", [])
        ids = {opt["id"] for line in lines for opt in line if isinstance(opt, dict) and "id" in opt}
        for line in lines:
            if isinstance(line[0], dict) and "expression" in line[0]:
                used = set(re.findall(r"\b([a-z][A-Za-z0-9_]*)\b", line[0]["expression"]))
                assert used - {"IF", "FILL"} - ids == set(), line[0]["expression"]


def test_the_dashboard_shows_every_alarm() -> None:
    (widget,) = [w for w in dashboard()["widgets"] if w["type"] == "alarm"]
    assert sorted(widget["properties"]["alarms"]) == sorted(f"placeholder-{a}-Arn" for a in ALARMS)


# -- the alarms ------------------------------------------------------------------------------------


def test_the_topic_is_subscribed_only_when_an_address_is_given() -> None:
    assert RESOURCES["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""
    subscriptions = [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert len(subscriptions) == 1
    (subscription,) = subscriptions
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    condition = TEMPLATE["Conditions"][subscription["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_notifies_the_topic_when_it_fires_and_clears(name: str) -> None:
    assert {"Ref": "AlarmTopic"} in ALARMS[name]["AlarmActions"]
    assert {"Ref": "AlarmTopic"} in ALARMS[name]["OKActions"]


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_on_our_metrics_names_one_the_code_emits(name: str) -> None:
    metrics = alarm_metrics(ALARMS[name])
    assert metrics
    for namespace, metric, dims in metrics:
        check_custom(namespace, metric, dict(dims), name)
    if "Metrics" in ALARMS[name]:
        returned = [q for q in ALARMS[name]["Metrics"] if q.get("ReturnData", True)]
        assert len(returned) == 1 and "Expression" in returned[0], "one expression decides"


def test_the_issue_s_alarms_exist() -> None:
    def on(metric: str, **dims: str) -> list[str]:
        return [
            name
            for name, alarm in ALARMS.items()
            for _, m, d in alarm_metrics(alarm)
            if m == metric and all(d.get(k) == v for k, v in dims.items())
        ]

    assert on("5XXError")
    assert on("ProviderErrors", kind="refused_account")
    assert on("MessagesUnknown")
    assert on("ReceiptsNotStored")
    assert on("ApproximateNumberOfMessagesVisible")
    # 105: on a provider whose codes have a back-off answer, as a share of its requests.
    (backoff,) = set(on("ProviderBackOffs"))
    assert {m for _, m, _ in alarm_metrics(ALARMS[backoff])} == {"ProviderBackOffs", "ProviderLatency"}
    for _, _, dims in alarm_metrics(ALARMS[backoff]):
        assert any(c.verdict is Verdict.BACK_OFF for c in PROVIDERS[dims["provider"]].codes.values())
    # The balance: a provider that has one, under the threshold parameter.
    (balance,) = on("ProviderBalance")
    assert PROVIDERS[alarm_metrics(ALARMS[balance])[0][2]["provider"]].has_balance
    assert ALARMS[balance]["Threshold"] == {"Ref": "CmessagesBalanceThreshold"}
    assert ALARMS[balance]["ComparisonOperator"] == "LessThanThreshold"
    # Delivery rate: one per provider, delivered against undelivered, under the threshold parameter.
    rates = set(on("MessagesDelivered")) & set(on("MessagesUndelivered"))
    assert {alarm_metrics(ALARMS[r])[0][2]["provider"] for r in rates} == set(PROVIDERS)
    for rate in rates:
        assert ALARMS[rate]["Threshold"] == {"Ref": "DeliveryRateThreshold"}
        assert ALARMS[rate]["ComparisonOperator"] == "LessThanThreshold"
