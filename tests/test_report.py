"""archc report and archc graph: one self-contained HTML page per environment and the diagram, read from out/ only.
The expectations here are counted from the templates directly, not through the report's own model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .conftest import ROOT, SHIPPED

ARCHC = [sys.executable, "-m", "compiler.cli"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# SVG elements the report writes self-closed
SELF_CLOSED = {"path", "rect", "line", "circle"}
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/arch.yaml"))


def run(*args, cwd=ROOT, env=None):
    return subprocess.run([*ARCHC, *map(str, args)], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    r = run("compile", "--env", "prod", "--spec", SHIPPED, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


class Checker(HTMLParser):
    """Every element closed in order; every src/href and CSS url kept."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.links, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href", "xlink:href") and v is not None]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href", "xlink:href") and v is not None]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _templates(out: Path, env: str = "prod") -> dict[str, dict]:
    man = json.loads((out / env / "manifest.json").read_text())
    return {f"{t['region']}/{t['stack']}": json.loads((out / env / t["path"]).read_text()) for t in man["templates"]}


def _resources(templates: dict[str, dict]):
    for sid, t in templates.items():
        for lid, r in t["Resources"].items():
            yield sid, lid, r["Type"], r.get("Properties") or {}


def test_the_report_is_one_well_formed_self_contained_page_naming_every_stack_store_and_waiver(out):
    r = run("report", "--env", "prod", "--out", out)
    assert r.returncode == 0, r.stderr
    html = (out / "prod" / "report.html").read_text()
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert not checker.problems and checker.stack == [], (checker.problems, checker.stack)
    external = [link for link in checker.links if "://" in link or link.startswith("//")]
    assert external == [] and "@import" not in html and "url(http" not in html
    assert {link for link in checker.links if not link.startswith("#")} <= {"dr-runbook.md", "plan.md"}
    text = " ".join(checker.text)
    man = json.loads((out / "prod" / "manifest.json").read_text())
    for t in man["templates"]:
        assert t["stack"] in text and t["sha256"] in text, t["stack"]
    names = {"AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::GlobalTable": "TableName", "AWS::SQS::Queue": "QueueName",
             "AWS::RDS::DBInstance": "DBInstanceIdentifier", "AWS::ECR::Repository": "RepositoryName", "AWS::SecretsManager::Secret": "Name"}
    stores = [p[names[rtype]] for _, _, rtype, p in _resources(_templates(out)) if rtype in names]
    assert len(stores) >= 20 and all(name in text for name in stores), [n for n in stores if n not in text]
    assert man["weakened"] and all(w["waiver"] in text and w["path"] in text for w in man["weakened"])
    assert man["spec_sha256"] in text
    assert "Not linted since this compile" in text and "No plan since this compile" in text
    assert "warm_standby" in text and 'href="dr-runbook.md"' in html
    first = (out / "prod" / "report.html").read_bytes()
    assert run("report", "--env", "prod", "--out", out).returncode == 0
    assert (out / "prod" / "report.html").read_bytes() == first  # byte-identical


def test_the_diagram_has_one_node_per_drawn_resource_and_one_link_per_event_and_replication(out):
    templates = _templates(out)
    drawn = {"AWS::CloudFront::Distribution", "AWS::CloudFront::Function", "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api",
             "AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table", "AWS::S3::Bucket",
             "AWS::RDS::DBInstance", "AWS::ECR::Repository"}
    nodes = events = replications = 0
    for sid, _, rtype, p in _resources(templates):
        region = sid.split("/")[0]
        nodes += rtype in drawn
        if rtype == "AWS::DynamoDB::GlobalTable":
            others = [x for x in p["Replicas"] if x["Region"] != region]
            nodes += len(others)  # each replica is drawn in its region
            replications += len(others)
        if rtype == "AWS::S3::Bucket":
            config = p.get("NotificationConfiguration") or {}
            events += len(config.get("QueueConfigurations", [])) + len(config.get("LambdaConfigurations", []))
            replications += len((p.get("ReplicationConfiguration") or {}).get("Rules", []))
        events += rtype == "AWS::Lambda::EventSourceMapping"
        replications += rtype == "AWS::RDS::DBInstance" and "SourceDBInstanceIdentifier" in p
        if rtype == "AWS::ECR::ReplicationConfiguration":  # each repository of the region, to each destination region
            repos = sum(1 for s, _, t, _ in _resources(templates) if t == "AWS::ECR::Repository" and s.startswith(region + "/"))
            replications += repos * sum(len(rule["Destinations"]) for rule in p["ReplicationConfiguration"]["Rules"])
    assert events >= 4 and replications >= 7  # the reference has both: the counts below are not vacuous
    r = run("graph", "--env", "prod", "--out", out)
    assert r.returncode == 0, r.stderr
    svg = r.stdout
    assert svg.count('<g class="node"') == nodes
    assert svg.count('<g class="link" data-kind="event"') == events
    assert svg.count('<g class="link" data-kind="replication"') == replications
    assert run("graph", "--env", "prod", "--out", out).stdout == svg  # the same bytes


def test_graph_speaks_mermaid_and_dot_with_the_same_nodes_and_links(out):
    svg = run("graph", "--env", "prod", "--out", out).stdout
    mermaid = run("graph", "--env", "prod", "--out", out, "--format", "mermaid").stdout
    dot = run("graph", "--env", "prod", "--out", out, "--format", "dot").stdout
    nodes, links = svg.count('<g class="node"'), svg.count('<g class="link"')
    assert mermaid.startswith("flowchart TB\n") and mermaid.count('"]\n') == nodes + mermaid.count("  subgraph ")
    assert mermaid.count("-->|") + mermaid.count("-.->|") == links
    assert dot.startswith("digraph architecture {") and dot.count(" -> ") == links and dot.count("subgraph cluster_") == 3


def test_report_reads_lint_findings_and_the_latest_plan_from_out(out, tmp_path):
    work = tmp_path / "out"
    shutil.copytree(out, work)
    sample = next(p for p in (work / "prod").glob("*/*.json"))
    lint = {"templates": {str(sample.relative_to(work / "prod")): "0" * 64},
            "findings": [{"path": str(sample), "line": 3, "column": 5, "level": "warning", "rule": "W9999", "message": "a finding"}]}
    (work / "prod" / "lint.json").write_text(json.dumps(lint))
    summary = {"stacks": 1, "with_changes": 1, "no_changes": 0, "deferred": 0, "create_after": 0, "settings": 0,
               "resources": {"Add": 0, "Modify": 1, "Remove": 0, "Replace": 1}}
    plan = {"account": "123456789012", "blocked": True, "stacks": [], "summary": summary,
            "risks": [{"code": "D501", "severity": "blocked", "blocking": True, "stack": "ap-northeast-1/fillup-prod-data",
                       "logical_id": "DataDatabaseInstance", "message": "would be replaced"}]}
    (work / "prod" / "plan.json").write_text(json.dumps(plan))
    assert run("report", "--env", "prod", "--out", work).returncode == 0
    html = (work / "prod" / "report.html").read_text()
    assert "W9999" in html and "a finding" in html and "Changed since the lint" in html
    assert "DataDatabaseInstance" in html and "would be replaced" in html and "BLOCKED" in html
    (work / "prod" / "plan.json").write_text(json.dumps({"stacks": [{"id": 1}]}))  # edited by hand: said, not a traceback
    r = run("report", "--env", "prod", "--out", work)
    assert r.returncode == 0 and "not a plan this archc wrote" in (work / "prod" / "report.html").read_text()


def test_report_and_graph_touch_no_aws_and_load_no_aws_library(out):
    code = ("import sys; from compiler.cli import main; sys.argv = ['archc', 'report', '--env', 'prod', '--out', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'cfnlint', 'troposphere', 'pydantic')))")
    r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_gets_a_report_and_a_diagram(example, tmp_path):
    out = tmp_path / "out"
    folder = ROOT / "examples" / example
    assert run("compile", "--env", "prod", "--out", out, cwd=folder).returncode == 0
    r = run("report", "--env", "all", "--out", out, cwd=folder)
    assert r.returncode == 0, r.stderr
    html = (out / "prod" / "report.html").read_text()
    for t in json.loads((out / "prod" / "manifest.json").read_text())["templates"]:
        assert t["stack"] in html
    assert '<g class="node"' in html


def test_report_of_an_environment_never_compiled_is_a_clean_error(tmp_path):
    r = run("report", "--env", "prod", "--out", tmp_path / "nothing")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "archc compile" in r.stderr
    r = run("graph", "--env", "prod", "--out", tmp_path / "nothing", "--format", "png")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_what_the_examples_add_is_drawn_and_said_as_the_templates_have_it(tmp_path):
    """image-failover: an origin outside AWS, reachable directly; fillup: database backups copied to the DR region;
    the exceptions name, per scanner, the rule IDs that carry them."""
    reports = {}
    for example in ("image-failover", "fillup"):
        out = tmp_path / example
        folder = ROOT / "examples" / example
        assert run("compile", "--env", "prod", "--out", out, cwd=folder).returncode == 0
        assert run("report", "--env", "prod", "--out", out, cwd=folder).returncode == 0
        reports[example] = (out / "prod" / "report.html").read_text()
    failover = reports["image-failover"]
    assert '<g class="node" data-kind="origin server"' in failover and "api.images.example.com" in failover
    assert "nothing: reachable directly" in failover and '<g class="link" data-kind="failover"' in failover
    fillup = reports["fillup"]
    assert fillup.count('<g class="link" data-kind="backup copy"') == 1 and '<g class="node" data-kind="backups"' in fillup
    assert "HTTP redirected to HTTPS" in fillup


def test_each_exception_names_the_rule_ids_each_scanner_suppresses_for_it(out):
    from compiler.report.model import read
    from compiler.report.posture import exceptions

    found = {(e.logical_id, e.rule): e.scanners for e in exceptions(read(out, "prod"))}
    assert found[("ApiOriginVerifySecret", "CKV_AWS_149")] == "Checkov CKV_AWS_149"  # cdk-nag's entry there is another rule's
    assert found[("ApiCloudWatchRole", "E9106")] == "cdk-nag AwsSolutions-IAM5; cfn_nag W11, W12; Checkov CKV_AWS_111; cfn-lint E9106"


def test_templates_edited_into_odd_shapes_are_drawn_or_refused_cleanly(out, tmp_path):
    """Conditions where lists are expected, a redrive policy as a JSON string, GetAtt in its dotted form, a resource that
    is its own parent: the report still renders and says a template was edited; a template that is no template is a
    clean error."""
    work = tmp_path / "out"
    shutil.copytree(out, work)
    edge = work / "prod" / "us-east-1" / "fillup-prod-edge.json"
    t = json.loads(edge.read_text())
    config = t["Resources"]["EdgeAppDistribution"]["Properties"]["DistributionConfig"]
    config["Origins"] = {"Fn::If": ["Cond", config["Origins"], []]}
    config["CacheBehaviors"][0]["TargetOriginId"] = {"Fn::If": ["Cond", "a", "b"]}
    edge.write_text(json.dumps(t))
    queues = work / "prod" / "ap-northeast-1" / "fillup-prod-queues.json"
    t = json.loads(queues.read_text())
    queue = t["Resources"]["QueuesUploadsQueue"]["Properties"]
    queue["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": {"Fn::GetAtt": "QueuesUploadsDeadLetterQueue.Arn"},
                                          "maxReceiveCount": 7})
    queues.write_text(json.dumps(t))
    api = work / "prod" / "ap-northeast-1" / "fillup-prod-api.json"
    t = json.loads(api.read_text())
    lid = next(k for k, r in t["Resources"].items() if r["Type"] == "AWS::ApiGateway::Resource")
    t["Resources"][lid]["Properties"]["ParentId"] = {"Ref": lid}
    api.write_text(json.dumps(t))
    r = run("report", "--env", "prod", "--out", work)
    assert r.returncode == 0, r.stderr
    html = (work / "prod" / "report.html").read_text()
    assert html.count("edited since compile") == 3 and "after 7 receives" in html
    assert run("graph", "--env", "prod", "--out", work, "--format", "dot").returncode == 0
    edge.write_text(json.dumps({"Resources": [1, 2]}))
    r = run("report", "--env", "prod", "--out", work)
    assert r.returncode == 2 and "not a CloudFormation template" in r.stderr and "Traceback" not in r.stderr
