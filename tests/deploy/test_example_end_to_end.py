"""The async pipeline example (examples/async-processing), compiled from its arch.yaml and deployed to moto: the first deploy
in one plan and one deploy, then no changes, a change, an import-locked change refused, and destroy. moto's gaps are filled
by examples/moto/server.py (documented there); the VPC the spec names as existing is created in moto with its ids."""

from __future__ import annotations

import json
import shutil

from .conftest import MOTO_SERVER, ROOT, read_plan, run_cli

REGION = "ap-northeast-1"
EXAMPLE = ROOT / "examples" / "async-processing" / "arch.yaml"
STACKS = ("alarms", "data", "functions", "images", "network", "queues", "storage")


def _run(*args, out, spec=None):
    extra = ("--spec", spec) if spec else ()
    return run_cli(*args, "--env", "dev", "--out", out, *extra)


def test_the_async_pipeline_example_plans_deploys_changes_and_is_destroyed(moto, boto, tmp_path):
    spec, out = tmp_path / "arch.yaml", tmp_path / "out"
    shutil.copy(EXAMPLE, spec)
    assert MOTO_SERVER.seed_network(str(spec))  # the spec's existing VPC, subnets, security group and route table
    aws = ("--endpoint-url", moto, "--poll", "0.05")

    def compile_(): 
        r = _run("compile", out=out, spec=spec)
        assert r.code == 0, r.stdout + r.stderr

    def plan():
        return _run("plan", *aws, out=out)

    def deploy():
        return _run("deploy", "--yes", *aws, out=out)

    compile_()
    r = plan()
    assert r.code == 1, r.stdout + r.stderr
    statuses = {s["stack"].removeprefix("hrchat-dev-"): s["status"] for s in read_plan(out)["stacks"]}
    assert statuses == {"alarms": "changes", "data": "changes", "images": "changes", "network": "changes",
                        "queues": "create after", "functions": "create after", "storage": "create after"}  # one plan for all levels
    r = deploy()
    assert r.code == 0, r.stdout + r.stderr
    cfn = boto("cloudformation", REGION)
    assert {s: cfn.describe_stacks(StackName=f"hrchat-dev-{s}")["Stacks"][0]["StackStatus"] for s in STACKS} == dict.fromkeys(STACKS, "CREATE_COMPLETE")
    lam = boto("lambda", REGION)
    assert lam.get_function_configuration(FunctionName="hrchat-dev-processor")["MemorySize"] == 2048
    queue_arn = boto("sqs", REGION).get_queue_attributes(
        QueueUrl=boto("sqs", REGION).get_queue_url(QueueName="hrchat-dev-uploads")["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert [m["EventSourceArn"] for m in lam.list_event_source_mappings(FunctionName="hrchat-dev-processor")["EventSourceMappings"]] == [queue_arn]
    r = plan()
    assert r.code == 0 and "no changes in 7 stacks" in r.stdout, r.stdout + r.stderr

    spec.write_text(spec.read_text().replace("memory_mb: 2048", "memory_mb: 3008"))
    compile_()
    r = plan()
    assert r.code == 1, r.stdout + r.stderr
    changed = {s["stack"]: [c["logical_id"] for c in s["changes"]] for s in read_plan(out)["stacks"] if s["status"] != "no changes"}
    assert changed == {"hrchat-dev-functions": ["FnProcessorFunction"]}
    assert deploy().code == 0
    assert lam.get_function_configuration(FunctionName="hrchat-dev-processor")["MemorySize"] == 3008
    assert plan().code == 0

    # Renaming the table removes the export the functions stack imports: CloudFormation would refuse the data stack's update.
    spec.write_text(spec.read_text().replace("  processed:", "  records:").replace("tables.processed:", "tables.records:"))
    compile_()
    r = plan()
    assert r.code == 3, r.stdout + r.stderr
    locks = [x for x in read_plan(out)["risks"] if x["code"] == "D506"]
    assert [(x["stack"], x["logical_id"]) for x in locks] == [(f"{REGION}/hrchat-dev-data", "ProcessedTableArn")]
    assert "out/dev/ap-northeast-1/hrchat-dev-data.json Outputs.ProcessedTableArn" in locks[0]["message"]
    assert "hrchat-dev-functions imports it" in locks[0]["message"]

    r = _run("destroy", "--yes", "--json", *aws, out=out)
    assert r.code == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    kept = {(k["stack"].rsplit("/", 1)[-1], k["logical_id"]) for k in report["kept"]}
    assert {("hrchat-dev-data", "DataProcessedTable"), ("hrchat-dev-storage", "StorageDocumentsBucket")} <= kept
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"] == []
