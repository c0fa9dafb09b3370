"""Stacks moto can run, written through archc's own emit: the stand-in for `archc compile` in the deploy walkthrough.

The stacks archc compiles from arch.yaml do not run on moto 5.2 (see docs/deploy-walkthrough.md), so this
builds three small stacks in two regions from types moto models and writes them exactly as `archc compile`
writes its output: out/<env>/<region>/<stack>.json plus manifest.json (hashes, deploy order, stateful IDs).

    python examples/moto/stacks.py --out out-moto            # version 1
    python examples/moto/stacks.py --out out-moto --version 2  # values changed, a role's permissions widened
    python examples/moto/stacks.py --out out-moto --version 3  # the queue renamed: a replacement the gate blocks
"""

from __future__ import annotations

import argparse
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
    return Asset("worker", "examples/moto/worker", zip_folder(WORKER))


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
    # The app stack is deployed after both base stacks. (It does not import their outputs: moto loses
    # outputs after a change set, so the edges here only order the deploy.)
    edges = [Edge(a.id, f"{PRIMARY}/{APP}-{env}-base", "QueueArn", "ImportValue"),
             Edge(a.id, f"{SECOND}/{APP}-{env}-base", "QueueArn", "GetStackOutput")]
    return App(APP, env, stacks, edges)


def write(out_dir: Path, env: str = "dev", version: int = 1, deploy: dict | None = None):
    settings = {"termination_protection": False, "rollback_alarms": True, "monitoring_minutes": 0, "timeout_minutes": 10}
    _, manifest = emit(build(env, version), hashlib.sha256(f"examples/moto v{version}".encode()).hexdigest(), out_dir,
                       settings | (deploy or {}), {"worker": worker_asset()})
    return manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out-moto"))
    p.add_argument("--env", default="dev")
    p.add_argument("--version", type=int, choices=(1, 2, 3), default=1)
    args = p.parse_args()
    manifest = write(args.out, args.env, args.version)
    for t in manifest.templates:
        print(f"{args.out / args.env / t.path}  {t.bytes:>6,} bytes  {'inline' if t.inline else 'via S3'}")
    print(f"{args.out / args.env / 'manifest.json'}")


if __name__ == "__main__":
    main()
