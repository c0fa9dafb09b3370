"""An export another stack imports cannot change: CloudFormation refuses the producer's update mid-deploy ("Cannot update
export ... as it is in use"). plan finds it first and refuses with D506, at the output in the compiled template."""

from __future__ import annotations

from compiler.deploy.review import export_locks, value_locks

from ..conftest import build_app, shipped_spec, with_updates
from .conftest import stub_aws

NETWORK = "ap-northeast-1/fillup-dev-network"


def _app(azs: int) -> dict:
    spec = with_updates(shipped_spec("dev"), "network.azs", azs)
    app, _ = build_app(spec, env="dev")
    return {sid: s.template.to_dict() for sid, s in app.stacks.items()}


def _network(azs: int) -> dict:
    return _app(azs)[NETWORK]


def test_two_to_three_azs_locks_nothing_archc_made():
    """The subnet lists reach the data and functions stacks as parameters archc fills from the network stack's outputs
    when it makes their change sets: no stack imports them, so the network stack may change them."""
    two, three = _app(2), _app(3)
    imported = {v for t in two.values() for v in _imports(t)}
    assert not [name for name in imported if "Subnet" in name]
    network_old, network_new = two[NETWORK], three[NETWORK]
    assert network_old["Outputs"]["AppSubnetIds"] != network_new["Outputs"]["AppSubnetIds"]  # a third subnet
    assert export_locks(NETWORK, "x", _exported(network_old), network_old, network_new, [],
                        lambda name: sorted(sid for sid, t in two.items() if name in _imports(t))) == []
    for sid in ("ap-northeast-1/fillup-dev-data", "ap-northeast-1/fillup-dev-functions"):
        assert two[sid] == three[sid]  # their templates do not change; the parameter takes the new list
        assert "AppSubnetIds" in two[sid]["Parameters"]


def _imports(template: dict) -> set[str]:
    import json
    import re

    return set(re.findall(r'"Fn::ImportValue": "([^"]+)"', json.dumps(template)))


def _exported(template: dict) -> dict[str, str]:
    return {k: o["Export"]["Name"] for k, o in template["Outputs"].items() if "Export" in o}


def test_an_export_another_stack_imports_cannot_change_and_plan_says_so_with_d506():
    old, new = _network(2), _network(3)  # a stack of the user's own importing the subnet lists would lock them
    importers = {"fillup-dev-network-AppSubnetIds": ["their-batch-jobs", "their-etl"],
                 "fillup-dev-network-DataSubnetIds": ["their-etl"]}
    risks = export_locks(NETWORK, "out/dev/ap-northeast-1/fillup-dev-network.json", _exported(old), old, new, [],
                         lambda name: importers.get(name, []))
    assert [(r.logical_id, r.code, r.blocking) for r in risks] == [("AppSubnetIds", "D506", True), ("DataSubnetIds", "D506", True)]
    assert risks[0].message.startswith("out/dev/ap-northeast-1/fillup-dev-network.json Outputs.AppSubnetIds: export "
                                       "fillup-dev-network-AppSubnetIds would get a new value, and their-batch-jobs, their-etl import it")


def test_an_export_nobody_imports_or_that_keeps_its_value_is_no_risk():
    old, new = _network(2), _network(3)
    assert export_locks(NETWORK, "x", _exported(old), old, new, [], lambda name: []) == []
    assert export_locks(NETWORK, "x", _exported(old), old, old, [], lambda name: ["someone"]) == []


def test_an_export_reading_a_replaced_resource_is_a_risk_though_its_text_is_the_same():
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}, "Export": {"Name": "s-QueueArn"}}}}
    rows = [{"logical_id": "Q", "action": "Modify", "replacement": "True"}]
    [risk] = export_locks("r/s", "out/dev/r/s.json", {"QueueArn": "s-QueueArn"}, template, template, rows, lambda name: ["other"])
    assert risk.code == "D506" and "reads Q, which this change replaces" in risk.message
    removed = {"Resources": template["Resources"], "Outputs": {}}
    [risk] = export_locks("r/s", "out/dev/r/s.json", {"QueueArn": "s-QueueArn"}, template, removed, [], lambda name: ["other"])
    assert "would no longer be exported" in risk.message


def test_importers_are_read_page_by_page_and_none_is_an_empty_list():
    aws, stubs = stub_aws(("cloudformation", "eu-west-1"))
    stub = stubs[("cloudformation", "eu-west-1")]
    stub.add_response("list_imports", {"Imports": ["b", "a"], "NextToken": "t"}, {"ExportName": "x"})
    stub.add_response("list_imports", {"Imports": ["c"]}, {"ExportName": "x", "NextToken": "t"})
    stub.add_client_error("list_imports", "ValidationError", "Export 'y' is not imported by any stack.", expected_params={"ExportName": "y"})
    assert aws.importers("eu-west-1", "x") == ["a", "b", "c"]
    assert aws.importers("eu-west-1", "y") == []
    stub.assert_no_pending_responses()


def test_an_output_that_stops_being_exported_is_a_change_to_the_export():
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}, "Export": {"Name": "s-QueueArn"}}}}
    unexported = {"Resources": template["Resources"], "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}}}}
    [risk] = export_locks("r/s", "out/dev/r/s.json", {"QueueArn": "s-QueueArn"}, template, unexported, [], lambda name: ["other"])
    assert risk.code == "D506" and "would no longer be exported" in risk.message


def test_going_from_three_azs_to_two_is_refused_while_functions_and_the_database_use_the_subnets():
    three, two = _app(3), _app(2)
    old, new = three[NETWORK], two[NETWORK]
    rows = [{"logical_id": lid, "action": "Remove", "replacement": None} for lid in sorted(set(old["Resources"]) - set(new["Resources"]))]
    assert any("Subnet" in r["logical_id"] for r in rows)
    readers = {"AppSubnetIds": ["ap-northeast-1/fillup-dev-data", "ap-northeast-1/fillup-dev-functions"],
               "DataSubnetIds": ["ap-northeast-1/fillup-dev-data"]}
    risks = value_locks(NETWORK, "out/dev/ap-northeast-1/fillup-dev-network.json", readers, old, new, rows)
    assert [(r.logical_id, r.code, r.blocking) for r in risks] == [("AppSubnetIds", "D506", True), ("DataSubnetIds", "D506", True)]
    assert "which this change removes or replaces, and ap-northeast-1/fillup-dev-data, ap-northeast-1/fillup-dev-functions use" in risks[0].message
    grow = [{"logical_id": lid, "action": "Add", "replacement": None} for lid in sorted(set(old["Resources"]) - set(new["Resources"]))]
    assert value_locks(NETWORK, "x", readers, new, old, grow) == []  # 2 -> 3: only additions
