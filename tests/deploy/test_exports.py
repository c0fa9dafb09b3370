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


AZ_SPEC = """app: azs
regions: {primary: us-east-1}
environments: {dev: {}}
waivers: {alarms: "a test of the network's subnets"}
network: {cidr: 10.0.0.0/16, azs: AZS, nat_gateways: 1}
functions:
  worker: {code: worker, handler: app.handler, runtime: python3.12, memory_mb: 256, timeout_s: 10, in_vpc: true}
"""


def test_two_to_three_azs_plans_and_deploys_and_the_functions_get_the_new_subnets(moto, boto, tmp_path):
    """Against moto: a VPC with 2 AZs and a function in it; 3 AZs plans (the function updated after the network, only if
    its subnets change) and deploys in one run, the function ending on the three subnets; back to 2 is refused (D506)."""
    from .conftest import read_plan, run_cli

    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    spec, out = tmp_path / "arch.yaml", tmp_path / "out"
    aws = ("--endpoint-url", moto, "--poll", "0.05")

    def at(azs: int) -> None:
        spec.write_text(AZ_SPEC.replace("AZS", str(azs)))
        assert run_cli("compile", "--env", "dev", "--spec", spec, "--out", out).code == 0

    def plan():
        return run_cli("plan", "--env", "dev", "--out", out, *aws)

    def deploy():
        return run_cli("deploy", "--env", "dev", "--out", out, "--yes", *aws)

    def subnets():
        return boto("lambda").get_function_configuration(FunctionName="azs-dev-worker")["VpcConfig"]["SubnetIds"]

    def output():
        outputs = boto("cloudformation").describe_stacks(StackName="azs-dev-network")["Stacks"][0]["Outputs"]
        return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "AppSubnetIds").split(",")

    at(2)
    assert plan().code == 1 and deploy().code == 0
    assert len(subnets()) == 2 and subnets() == output()

    at(3)
    r = plan()
    assert r.code == 1, r.stdout + r.stderr
    stacks = {s["stack"]: s for s in read_plan(out)["stacks"]}
    assert stacks["azs-dev-network"]["status"] == "changes" and not stacks["azs-dev-network"]["risks"]
    assert {c["logical_id"] for c in stacks["azs-dev-network"]["changes"] if c["action"] == "Add"} >= {"NetworkAppSubnetC", "NetworkDataSubnetC"}
    assert not [c for c in stacks["azs-dev-network"]["changes"] if c["action"] == "Remove" or c["replacement"] == "True"]
    functions = stacks["azs-dev-functions"]
    assert functions["status"] == "update after" and [c["logical_id"] for c in functions["changes"]] == ["FnWorkerFunction"]
    r = deploy()
    assert r.code == 0, r.stdout + r.stderr
    assert len(subnets()) == 3 and subnets() == output()  # the new list reached the function in the same deploy
    assert plan().code == 0

    at(2)
    r = plan()
    assert r.code == 3, r.stdout + r.stderr
    assert {(x["code"], x["logical_id"]) for x in read_plan(out)["risks"] if x["blocking"]} == {("D506", "AppSubnetIds")}
