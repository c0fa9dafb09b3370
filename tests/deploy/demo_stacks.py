"""Three small stacks in two regions, written through archc's own emit (out/<env>/<region>/<stack>.json plus manifest.json,
as `archc compile` writes them): the deploy tests' fixture for what a compiled example does not exercise (a template over
the inline limit, code uploads, a data-loss gate on a retained queue, failures).

    version 1; version 2: values changed, a role's permissions widened; version 3: the queue renamed (a replacement)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from troposphere import GetAtt, Output, Parameter, Ref, Sub, Tags, Template, awslambda, iam, s3, sns, sqs, ssm

from compiler.app import App, Edge, Stack
from compiler.assets import Asset, zip_folder
from compiler.emit import emit

APP, PRIMARY, SECOND = "demo", "us-east-1", "us-west-2"
PADDING = 53_000  # bytes of template metadata: the app stack goes over the 51,200-byte inline limit, through S3
WORKER = Path(__file__).resolve().parent / "worker"


def _retain(resource):
    resource.DeletionPolicy = resource.UpdateReplacePolicy = "Retain"
    return resource


def _tags(env: str, concern: str) -> dict[str, str]:
    return {"Application": APP, "Component": concern, "Environment": env}


def base(env: str, region: str, version: int) -> Template:
    """A queue (stateful, retained), a topic, a role and a parameter: one per region."""
    t = Template(Description=f"{APP} {env} base ({region})")
    tags = Tags(_tags(env, "base"))
    queue_name = f"{APP}-{env}-jobs" + ("-v3" if version >= 3 else "")
    t.add_resource(_retain(sqs.Queue("BaseQueue", QueueName=queue_name, VisibilityTimeout=30, Tags=tags)))
    t.add_resource(sns.Topic("BaseTopic", TopicName=f"{APP}-{env}-events", Tags=tags))
    statements = [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [GetAtt("BaseQueue", "Arn")]}]
    if version >= 2:
        statements.append({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]})
    t.add_resource(iam.Role(
        "BaseRole",
        AssumeRolePolicyDocument={"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]},
        Policies=[iam.Policy(PolicyName="jobs", PolicyDocument={"Version": "2012-10-17", "Statement": statements})],
        Tags=tags))
    t.add_resource(ssm.Parameter("BaseVersion", Name=f"/{APP}/{env}/{region}/version", Type="String",
                                 Value=f"v{min(version, 2)}"))
    t.add_output(Output("QueueArn", Value=GetAtt("BaseQueue", "Arn")))
    return t


def worker_asset() -> Asset:
    return Asset("worker", "tests/deploy/worker", zip_folder(WORKER))


def app(env: str, version: int) -> Template:
    """A bucket (stateful, retained), a function whose code archc uploads, a parameter; big enough to go through S3."""
    t = Template(Description=f"{APP} {env} app ({PRIMARY})")
    t.set_metadata({"Padding": "archc walkthrough " * (PADDING // 18)})
    t.add_parameter(Parameter("ArtifactBucket", Type="String", Description="filled by archc plan"))
    t.add_resource(_retain(s3.Bucket("AppBucket", Tags=Tags(_tags(env, "app")))))
    t.add_resource(iam.Role("AppWorkerRole", AssumeRolePolicyDocument={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]},
        Tags=Tags(_tags(env, "app"))))
    t.add_resource(awslambda.Function(
        "AppWorkerFunction", FunctionName=f"{APP}-{env}-worker", Runtime="python3.12", Handler="app.handler",
        Role=GetAtt("AppWorkerRole", "Arn"), Code=awslambda.Code(S3Bucket=Ref("ArtifactBucket"), S3Key=worker_asset().key),
        Tags=Tags(_tags(env, "app"))))
    t.add_resource(ssm.Parameter("AppArtifacts", Name=f"/{APP}/{env}/artifacts", Type="String",
                                 Value=Sub("s3://${ArtifactBucket}/" + ("code-v2" if version >= 2 else "code"))))
    t.add_output(Output("BucketName", Value=Ref("AppBucket")))
    return t


def build(env: str, version: int) -> App:
    stacks = {}
    for region in (PRIMARY, SECOND):
        s = Stack(f"{APP}-{env}-base", "base", region, base(env, region, version), _tags(env, "base"))
        stacks[s.id] = s
    a = Stack(f"{APP}-{env}-app", "app", PRIMARY, app(env, version), _tags(env, "app"))
    stacks[a.id] = a
    # The app stack is deployed after both base stacks (the edges order the deploy; its template reads no output).
    edges = [Edge(a.id, f"{PRIMARY}/{APP}-{env}-base", "QueueArn", "ImportValue"),
             Edge(a.id, f"{SECOND}/{APP}-{env}-base", "QueueArn", "GetStackOutput")]
    return App(APP, env, stacks, edges)


def write(out_dir: Path, env: str = "dev", version: int = 1, deploy: dict | None = None):
    settings = {"termination_protection": False, "rollback_alarms": True, "monitoring_minutes": 0, "timeout_minutes": 10}
    _, manifest = emit(build(env, version), hashlib.sha256(f"tests/deploy/demo_stacks v{version}".encode()).hexdigest(), out_dir,
                       settings | (deploy or {}), {"worker": worker_asset()})
    return manifest
