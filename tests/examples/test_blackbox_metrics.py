"""The blackbox example's metrics: a scheduled probe of a live and a dead local target under the emulator, with the
real blackbox_exporter, each emits one valid EMF record; and the SAM template that schedules probes and alarms.
"""

from __future__ import annotations

import json

import pytest
import yaml

from emf_rules import assert_valid_emf, emf_lines
from test_blackbox_example import EXAMPLE, WAIT_S, probe_event

TEMPLATE = EXAMPLE / "template.yaml"
SLOTS = (1, 2, 3)


def scheduled_probe(deployed, target: str, module: str = "http_2xx") -> tuple[dict, str]:  # noqa: F811
    """Invoke as EventBridge Scheduler does (a plain event, no token); return the record and the answer's text."""
    result = deployed.emulator.invoke(json.dumps({"target": target, "module": module}).encode(), timeout_s=WAIT_S)
    assert result.function_error is None, result.body
    records = [r for r in emf_lines(deployed.log.read_text()) if r.get("requestId") == result.request_id]
    assert len(records) == 1, deployed.log.read_text()[-3000:]
    assert_valid_emf(records[0])
    return records[0], result.body.decode()


def test_a_scheduled_probe_of_a_live_target_emits_probe_success_1_with_its_dimensions(deployed, targets):  # noqa: F811
    record, answer = scheduled_probe(deployed, targets.ok_url)
    assert answer.startswith("# HELP ")  # the answer is the exporter's, unchanged
    assert record["probe_success"] == 1 and record["probe_http_status_code"] == 200
    assert 0 < record["probe_duration_seconds"] < WAIT_S
    assert record["target"] == targets.ok_url and record["module"] == "http_2xx"
    assert record["Success"] == 1 and record["Error"] == 0 and record["Duration"] > 0
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Blackbox" and directive["Dimensions"] == [["target", "module"]]
    assert {"Name": "probe_duration_seconds", "Unit": "Seconds"} in directive["Metrics"]


def test_a_scheduled_probe_of_a_dead_target_emits_probe_success_0_with_its_dimensions(deployed, targets):  # noqa: F811
    record, _ = scheduled_probe(deployed, targets.closed)
    assert record["probe_success"] == 0
    assert record["target"] == targets.closed and record["module"] == "http_2xx"
    assert record["Success"] == 1  # the probe ran and answered: a down target is a result, not an error


def test_a_tcp_probe_leaves_out_the_http_status_quietly(deployed, targets):  # noqa: F811
    record, _ = scheduled_probe(deployed, f"127.0.0.1:{targets.ok_port}", "tcp_connect")
    assert record["probe_success"] == 1 and record["module"] == "tcp_connect"
    assert "probe_http_status_code" not in record
    assert "Metric left out" not in deployed.log.read_text()


def test_the_target_dimension_has_no_query_string(deployed, targets):  # noqa: F811
    record, _ = scheduled_probe(deployed, f"{targets.ok_url}?token=s3cret&x=1")
    assert record["target"] == targets.ok_url and record["probe_success"] == 1
    assert "s3cret" not in json.dumps(record)


def test_a_prometheus_scrape_through_the_function_url_emits_no_record(deployed, targets):  # noqa: F811
    before = len(emf_lines(deployed.log.read_text()))
    result = deployed.emulator.invoke(probe_event({"target": targets.ok_url}), timeout_s=WAIT_S)
    assert result.json()["statusCode"] == 200
    assert len(emf_lines(deployed.log.read_text())) == before


def test_a_refused_target_counts_an_error_without_putting_the_target_in_a_dimension(deployed):  # noqa: F811
    result = deployed.emulator.invoke(b'{"target": "169.254.169.254"}', timeout_s=WAIT_S)
    assert result.json()["errorType"] == "Function.InvalidEvent"
    (record,) = [r for r in emf_lines(deployed.log.read_text()) if r.get("requestId") == result.request_id]
    assert_valid_emf(record)
    assert record["Error"] == 1 and record["ErrorType"] == "Function.InvalidEvent"
    assert record["target"] == "none" and "probe_success" not in record


# the SAM template


def load_template() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !If, ...) as plain data: {"Ref": ...}, {"Fn::If": ...}
    def tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict:
        name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            return {name: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}

    Loader.add_multi_constructor("!", tag)
    return yaml.load(TEMPLATE.read_text(), Loader=Loader)  # a SafeLoader subclass


def test_the_template_passes_cfn_lint():
    from cfnlint.api import lint_file  # AWS's CloudFormation linter; it expands the SAM transform first

    assert [str(match) for match in lint_file(TEMPLATE)] == []


def test_cfn_lint_does_find_a_broken_alarm(tmp_path):
    from cfnlint.api import lint_file

    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Statistic: Minimum", "Statistic: Lowest", 1))
    assert any("Lowest" in str(match) for match in lint_file(broken))


def test_the_alarms_watch_the_namespace_and_dimensions_the_config_emits():
    template = load_template()
    config = yaml.safe_load((EXAMPLE / "wrapper.yaml").read_text())
    assert template["Mappings"]["Metrics"]["Blackbox"]["Namespace"] == config["metrics"]["namespace"]
    assert [series["series"] for series in config["metrics"]["prometheus"]][:2] == [
        "probe_success", "probe_duration_seconds"]
    assert list(config["metrics"]["dimensions"]) == ["target", "module"]
    for slot in SLOTS:
        alarm = template["Resources"][f"ProbeAlarm{slot}"]
        properties = alarm["Properties"]
        assert alarm["Condition"] == f"Probe{slot}"
        assert properties["MetricName"] == "probe_success" and properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "LessThanThreshold" and properties["Statistic"] == "Minimum"
        assert [d["Name"] for d in properties["Dimensions"]] == ["target", "module"]
        assert properties["Dimensions"][1]["Value"] == {"Ref": f"ProbeModule{slot}"}
        assert properties["TreatMissingData"] == "breaching"


def test_each_scheduled_target_has_its_own_schedule_sending_the_event_the_config_reads():
    template = load_template()
    for slot in SLOTS:
        schedule = template["Resources"][f"ProbeSchedule{slot}"]
        assert schedule["Type"] == "AWS::Scheduler::Schedule" and schedule["Condition"] == f"Probe{slot}"
        event = schedule["Properties"]["Target"]["Input"]["Fn::Sub"]
        assert json.loads(event.replace("${", "").replace("}\"", "\"")) == {
            "target": f"ProbeTarget{slot}", "module": f"ProbeModule{slot}"}
        assert template["Parameters"][f"ProbeTarget{slot}"]["Default"] == ""  # optional: empty means none


@pytest.mark.parametrize("target, expected", [
    ("https://example.com/health", "https://example.com/health"),
    ("https://example.com/?token=s3cret", "https://example.com/"),
    ("https://example.com/x#top", "https://example.com/x"),
    ("https://example.com/?a=1#top", "https://example.com/"),
])
def test_the_alarms_cut_the_target_exactly_as_wrapper_does(target, expected):
    from wrapper.metrics.emf import dimension_value

    # the template's !Select [0, !Split ["#", !Select [0, !Split ["?", target]]]], evaluated here
    cut = target.split("?")[0].split("#")[0]
    assert cut == dimension_value(target) == expected
    alarm = load_template()["Resources"]["ProbeAlarm1"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::Select": [0, {"Fn::Split": ["#", {"Fn::Select": [
        0, {"Fn::Split": ["?", {"Ref": "ProbeTarget1"}]}]}]}]}


def test_notifications_go_to_an_existing_topic_or_a_new_e_mail_topic_or_nowhere():
    template = load_template()
    conditions = template["Conditions"]
    assert conditions["ExistingTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    topic = template["Resources"]["AlarmTopic"]
    assert topic["Condition"] == "EmailTopic"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    actions = template["Resources"]["ProbeAlarm2"]["Properties"]["AlarmActions"]
    assert actions == {"Fn::If": ["Notify", [{"Fn::If": ["ExistingTopic", {"Ref": "AlarmTopicArn"},
                                                         {"Ref": "AlarmTopic"}]}], {"Ref": "AWS::NoValue"}]}
