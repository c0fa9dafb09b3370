"""A value a stack reads from a producer that changes it in the same plan: deploy reads it again once the producer is deployed,
makes the reader's change set again with the new value, and runs it only if it is what plan reviewed. Against moto."""

from __future__ import annotations

import hashlib
import json

from troposphere import Output, Parameter, Ref, Template, ssm

from compiler.context import App, Edge, Stack
from compiler.emit import emit

from .conftest import flat, read_plan, run_cli

E1 = "us-east-1"
CONFIG, READER, FOLLOWER = f"{E1}/demo-dev-config", f"{E1}/demo-dev-reader", f"{E1}/demo-dev-follower"
SETTINGS = {"termination_protection": False, "rollback_alarms": False, "monitoring_minutes": 0, "timeout_minutes": 10}


def _param(name: str, value) -> ssm.Parameter:
    return ssm.Parameter(name, Name=f"/demo/dev/{name}", Type="String", Value=value)


def _write(out, release: str, reader_note: str = "one", extra: tuple[str, ...] = ()) -> None:
    """config outputs Release; reader (with a change of its own from `reader_note`) and follower get it as a parameter.
    extra: "newcomer" (another reader), "relay" (passes Release on as its output Relayed) with "end" reading Relayed."""
    config = Template()
    config.add_resource(_param("ConfigRelease", release))
    config.add_output(Output("Release", Value=release))
    stacks = {CONFIG: Stack("demo-dev-config", "config", E1, config, {"Application": "demo"})}
    edges = []
    readers = [("reader", [_param("ReaderNote", reader_note)]), ("follower", [])]
    readers += [(name, []) for name in ("newcomer", "relay") if name in extra]
    for name, more in readers:
        t = Template()
        t.add_parameter(Parameter("Release", Type="String", Description="output Release of demo-dev-config"))
        t.add_resource(_param(f"{name.title()}Release", Ref("Release")))
        for r in more:
            t.add_resource(r)
        if name == "relay":
            t.add_output(Output("Relayed", Value=Ref("Release")))
        stacks[f"{E1}/demo-dev-{name}"] = Stack(f"demo-dev-{name}", name, E1, t, {"Application": "demo"})
        edges.append(Edge(f"{E1}/demo-dev-{name}", CONFIG, "Release", "Parameter", "Release"))
    if "relay" in extra:
        t = Template()
        t.add_parameter(Parameter("Relayed", Type="String", Description="output Relayed of demo-dev-relay"))
        t.add_resource(_param("EndRelease", Ref("Relayed")))
        stacks[f"{E1}/demo-dev-end"] = Stack("demo-dev-end", "end", E1, t, {"Application": "demo"})
        edges.append(Edge(f"{E1}/demo-dev-end", f"{E1}/demo-dev-relay", "Relayed", "Parameter", "Relayed"))
    emit(App("demo", "dev", stacks, edges), hashlib.sha256(release.encode()).hexdigest(), out, SETTINGS)


def _plan(out, moto, *extra):
    return run_cli("plan", "--env", "dev", "--out", out, "--endpoint-url", moto, "--poll", "0.05", *extra)


def _deploy(out, moto):
    return run_cli("deploy", "--plan", out / "dev" / "plan.json", "--yes", "--endpoint-url", moto, "--poll", "0.05")


def _value(boto, name):
    return boto("ssm", E1).get_parameter(Name=f"/demo/dev/{name}")["Parameter"]["Value"]


def _stack(plan, sid):
    return next(s for s in plan["stacks"] if s["id"] == sid)


def test_a_producer_output_that_changes_reaches_its_readers_in_the_same_deploy(moto, boto, tmp_path):
    out = tmp_path / "out"
    _write(out, "r1")
    assert _plan(out, moto).code == 1 and _deploy(out, moto).code == 0
    assert _value(boto, "ReaderRelease") == _value(boto, "FollowerRelease") == "r1"

    _write(out, "r2", reader_note="two")  # the producer's output changes; the reader has a change of its own, the follower none
    r = _plan(out, moto)
    assert r.code == 1, r.stdout + r.stderr
    plan = read_plan(out)
    reader, follower = _stack(plan, READER), _stack(plan, FOLLOWER)
    assert reader["status"] == "changes" and follower["status"] == "update after"
    assert reader["reads"] == follower["reads"] == [{"producer": CONFIG, "output": "Release", "kind": "Parameter", "parameter": "Release", "value": "r1"}]
    assert reader["parameters"]["Release"] == "r1"  # the change set plan made holds the value as it is now
    expected = [row for row in follower["changes"] if row.get("condition")]
    assert [(x["logical_id"], x["action"], x["replacement"]) for x in expected] == [("FollowerRelease", "Modify", "False")]
    assert {(x["stack"], x["code"]) for x in plan["risks"]} == {(READER, "D507"), (FOLLOWER, "D507")}
    assert "UPDATE after the stacks it reads from, only if Release of us-east-1/demo-dev-config changes" in flat(r.stdout)
    assert "1 updated after them if a value they read changes" in flat(r.stdout)

    r = _deploy(out, moto)
    assert r.code == 0, r.stdout + r.stderr
    assert "values it reads changed since the plan (Release of us-east-1/demo-dev-config: r1 -> r2)" in r.stdout
    assert _value(boto, "ReaderRelease") == _value(boto, "FollowerRelease") == "r2"  # the new value, not the planned one
    assert _value(boto, "ReaderNote") == "two"  # and the reader's own reviewed change
    assert _plan(out, moto).code == 0  # nothing stale left behind


def test_a_remade_change_set_that_differs_from_the_review_is_deleted_and_deploy_stops(moto, boto, tmp_path):
    out = tmp_path / "out"
    _write(out, "r1")
    assert _plan(out, moto).code == 1 and _deploy(out, moto).code == 0
    _write(out, "r2", reader_note="two")
    assert _plan(out, moto).code == 1
    path = out / "dev" / "plan.json"
    plan = json.loads(path.read_text())
    note = next(row for row in _stack(plan, READER)["changes"] if row["logical_id"] == "ReaderNote")
    note["replacement"] = "True"  # what AWS makes with the new value no longer matches the review (here: the review edited)
    path.write_text(json.dumps(plan))

    r = _deploy(out, moto)
    assert r.code == 2, r.stdout + r.stderr
    assert f"{READER}: failed" in r.stdout
    assert "with the new values its change set is not what plan reviewed (another action or replacement than reviewed: ReaderNote" in r.stdout
    assert _value(boto, "ReaderRelease") == "r1" and _value(boto, "ReaderNote") == "one"  # nothing of it ran
    cfn = boto("cloudformation", E1)
    assert [c for c in cfn.list_change_sets(StackName="demo-dev-reader")["Summaries"]
            if c["StackName"] == "demo-dev-reader" and c["ExecutionStatus"] == "AVAILABLE"] == []
    assert _plan(out, moto).code == 1 and _deploy(out, moto).code == 0  # plan again: the review holds the new value
    assert _value(boto, "ReaderRelease") == "r2"


def test_a_new_reader_of_a_changing_output_is_created_after_it_and_readers_of_readers_follow(moto, boto, tmp_path):
    out = tmp_path / "out"
    _write(out, "r1", extra=("relay",))
    assert _plan(out, moto).code == 1 and _deploy(out, moto).code == 0
    assert _value(boto, "EndRelease") == "r1"

    _write(out, "r2", extra=("relay", "newcomer"))  # a new stack reads Release as it changes; relay passes it on to end
    r = _plan(out, moto)
    assert r.code == 1, r.stdout + r.stderr
    plan = read_plan(out)
    newcomer, relay, end = (_stack(plan, f"{E1}/demo-dev-{n}") for n in ("newcomer", "relay", "end"))
    assert newcomer["status"] == "create after" and newcomer["create_after"] == [CONFIG] and newcomer["change_set"] is None
    assert relay["status"] == "update after" and end["status"] == "update after"  # end reads what relay reads again
    assert end["reads"] == [{"producer": f"{E1}/demo-dev-relay", "output": "Relayed", "kind": "Parameter", "parameter": "Relayed",
                             "value": "r1"}]
    r = _deploy(out, moto)
    assert r.code == 0, r.stdout + r.stderr
    assert _value(boto, "NewcomerRelease") == _value(boto, "RelayRelease") == _value(boto, "EndRelease") == "r2"
    assert _plan(out, moto).code == 0


def test_a_plan_that_leaves_readers_out_names_them_on_the_producer(moto, boto, tmp_path):
    out = tmp_path / "out"
    _write(out, "r1")
    assert _plan(out, moto).code == 1 and _deploy(out, moto).code == 0
    _write(out, "r2")
    r = _plan(out, moto, "--stack", "demo-dev-config")
    assert r.code == 1, r.stdout + r.stderr
    [risk] = read_plan(out)["risks"]
    assert (risk["stack"], risk["code"], risk["logical_id"]) == (CONFIG, "D507", "Release")
    assert f"{FOLLOWER}, {READER} read it but this plan leaves them out: plan them too" in risk["message"]


def test_what_plan_expects_a_new_value_to_touch():
    from compiler.deploy.review import output_may_change, readers_of

    old = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}, "Other": {"Type": "AWS::SNS::Topic"}},
           "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}, "Fixed": {"Value": "v1"}}}
    assert not output_may_change(old, old, "TopicArn", [{"logical_id": "Other"}])  # nothing it reads changes
    assert output_may_change(old, old, "TopicArn", [{"logical_id": "Topic"}])  # what it reads is updated or replaced
    assert output_may_change(old, {**old, "Outputs": {"Fixed": {"Value": "v2"}}}, "Fixed", [])  # its definition changes
    assert output_may_change(old, {**old, "Outputs": {}}, "Fixed", [])  # it goes
    reader = {"Resources": {
        "ByParameter": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Fn::Sub": "${TopicArn}/x"}}},
        "ByRef": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "TopicArn"}}},
        "Elsewhere": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "OtherArn"}}}}}
    assert readers_of(reader, "TopicArn") == ["ByParameter", "ByRef"]


def test_a_remade_change_set_matches_only_the_reviewed_rows_plus_in_place_updates_of_the_expected_readers():
    from compiler.deploy.deferred import matches

    def row(lid, action="Modify", replacement="False", condition=None):
        return {"logical_id": lid, "action": action, "replacement": replacement} | ({"condition": condition} if condition else {})

    s = {"changes": [row("Own"), row("Reader", condition="only if TopicArn of us-east-1/demo-dev-base changes")]}
    assert matches(s, [row("Own"), row("Reader")]) is None
    assert matches(s, [row("Own")]) is None  # the value reached no property of the reader after all
    assert "reviewed but not in it: Own" in matches(s, [row("Reader")])
    assert "another action or replacement than reviewed: Own (Modify, replacement True)" in matches(s, [row("Own", replacement="True")])
    assert "not reviewed: Reader (Modify, replacement Conditional)" in matches(s, [row("Own"), row("Reader", replacement="Conditional")])
    assert "not reviewed: Extra (Add, replacement None)" in matches(s, [row("Own"), row("Extra", "Add", None)])
