"""Every exception to a security rule, written into the resource's Metadata in the formats scanners read, each with its
reason: cdk-nag (`cdk_nag.rules_to_suppress`), cfn_nag (`cfn_nag.rules_to_suppress`), checkov (`checkov.skip`), cfn-lint
(`cfn-lint.config.ignore_checks`, for archc's own policy rules) and archc's own list (`archc.exceptions`, for the report).
A user's pipeline running any of these scanners then agrees with archc. An exception is either unavoidable (AWS allows
nothing narrower, or the scanner cannot see what the template does) or a spec waiver, whose reason is the user's."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from troposphere import encode_to_dict


@dataclass(frozen=True)
class Check:
    """One class of finding, by the id each scanner gives it."""

    cdk_nag: str | None = None
    cfn_nag: tuple[str, ...] = ()
    checkov: tuple[str, ...] = ()
    archc: str | None = None  # archc's own policy rule (archc lint), suppressed through cfn-lint's ignore_checks


WILDCARD = Check("AwsSolutions-IAM5", ("W11", "W12"), ("CKV_AWS_111",), "E9106")
TLS_POLICY = Check("AwsSolutions-S10")
LATEST_RUNTIME = Check("AwsSolutions-L1")
DEFAULT_PORT = Check("AwsSolutions-RDS11")
REPLICA_ENCRYPTION = Check("AwsSolutions-RDS2", checkov=("CKV_AWS_16",))
REQUEST_VALIDATION = Check("AwsSolutions-APIG2")
GEO_RESTRICTION = Check("AwsSolutions-CFR1")
NO_AUTHORIZATION = Check("AwsSolutions-APIG4", archc="E9102")
NO_COGNITO = Check("AwsSolutions-COG4")
PUBLIC_ENDPOINT = Check("AwsSolutions-APIG3", archc="E9101")
SECRET_ROTATION = Check("AwsSolutions-SMG4", checkov=("CKV2_AWS_57",))
SECRET_KEY = Check(checkov=("CKV_AWS_149",))

# Why a wildcard in an archc-made statement is the narrowest AWS allows, by the statement's Sid.
WILDCARD_REASONS = {
    "Tracing": "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource narrower than *",
    "VpcDescribe": "EC2's Describe calls a VPC function needs accept no resource narrower than *",
    "VpcInterfaces": "the network interfaces Lambda creates for a VPC function are named at run time; the statement is limited "
                     "to this account and region and to the function's subnets and security group by condition",
    "PostToConnections": "WebSocket connection ids exist only at run time; the grant is this API's stage and POST to @connections only",
    "MetricsLogStreams": "RDS names the enhanced-monitoring log streams after the instance's resource id, known only once it exists",
    "OwnLogsEverywhere": "Lambda@Edge writes its logs in whichever regions CloudFront runs it; the group name is the function's own",
    "SigningKeyDecrypt": "the SSM parameter's key is chosen by whoever writes the parameter; the grant is limited by condition to "
                         "SSM in us-east-1 and this parameter's ARN",
    "AccountLogs": "API Gateway uses one role for every API of the account in a region, so it cannot name their log groups; "
                   "narrowed from AWS's managed policy (every account and region) to this account and region",
}
OBJECTS_REASON = "object keys are chosen at run time: the grant covers the objects of one named bucket (or one prefix of it)"
_OBJECTS = re.compile(r"arn:<AWS::Partition>:s3:::[a-z0-9.-]+/([A-Za-z0-9_.!-]+/)*\*")


def settings(resource: Any) -> dict:
    """A resource as a version or deployment snapshots it: Metadata, where exceptions are recorded, is not a setting."""
    return {k: v for k, v in resource.to_dict().items() if k != "Metadata"}


def open_method(method: Any, reason: str) -> Any:
    """A REST method answered without authorization, for the reason given (cdk-nag reports it twice: APIG4 and COG4)."""
    return record(record(method, NO_AUTHORIZATION, reason), NO_COGNITO, reason)


def newest_runtime(function: Any, runtime: str) -> Any:
    """cdk-nag's L1 compares with aws-cdk-lib's own runtime list, which may name a runtime before cfn-lint's lifecycle data does."""
    from compiler import runtimes

    family = "python" if runtime.startswith("python") else "nodejs"
    if runtime == runtimes.latest(family):
        record(function, LATEST_RUNTIME, f"{runtime} is the newest {family} runtime in cfn-lint's lifecycle data, which archc "
                                         "follows; cdk-nag's list may name one AWS has announced but cfn-lint does not know yet")
    return function


def database_port(instance: Any, port: int) -> Any:
    if port == 5432:
        record(instance, DEFAULT_PORT, "the port is no secret worth keeping: the instance sits in data subnets with no route out, "
                                       "reachable on it only from the application security group, with TLS and rotated credentials")
    return instance


def tls_policy(resource: Any, policy: str) -> Any:
    """A bucket (or bucket policy) whose DenyInsecureTransport statement cdk-nag cannot see."""
    return record(resource, TLS_POLICY, f"the bucket policy {policy} denies every request without TLS (DenyInsecureTransport); "
                  "cdk-nag does not resolve the Fn::Sub ARNs it names, nor read a policy kept in another stack")


def record(resource: Any, check: Check, reason: str, applies_to: list[str] | None = None) -> Any:
    """Write one exception into the resource's Metadata for every scanner that names the check."""
    meta = dict(getattr(resource, "Metadata", None) or {})
    if check.cdk_nag:
        entry: dict[str, Any] = {"id": check.cdk_nag, "reason": reason}
        if applies_to:
            entry["applies_to"] = sorted(set(applies_to))
        _append(meta, ("cdk_nag", "rules_to_suppress"), entry)
    for rid in check.cfn_nag:
        _append(meta, ("cfn_nag", "rules_to_suppress"), {"id": rid, "reason": reason})
    for rid in check.checkov:
        _append(meta, ("checkov", "skip"), {"id": rid, "comment": reason})
    if check.archc:
        _append(meta, ("cfn-lint", "config", "ignore_checks"), check.archc)
    _append(meta, ("archc", "exceptions"), {"rule": check.archc or check.cdk_nag or (check.checkov + check.cfn_nag)[0], "reason": reason})
    resource.Metadata = meta
    return resource


def _append(meta: dict, path: tuple[str, ...], item: Any) -> None:
    node = meta
    for key in path[:-1]:
        node = node.setdefault(key, {})
    items = node.setdefault(path[-1], [])
    if item not in items:
        items.append(item)


def rendered(value: Any) -> str:
    """A policy value as cdk-nag names it in a finding: `${X}` of a Sub becomes `<X>`; anything else its compact JSON."""
    if isinstance(value, str):
        return value
    data = encode_to_dict(value)
    if isinstance(data, dict) and isinstance(data.get("Fn::Sub"), str):
        return re.sub(r"\$\{([^}]+)\}", r"<\1>", data["Fn::Sub"])
    return json.dumps(data, separators=(",", ":"), sort_keys=False)


def wildcards(statements: list[Any]) -> list[tuple[str, str]]:
    """(statement Sid, cdk-nag applies_to) for each wildcard action or resource in Allow statements."""
    out = []
    for s in statements:
        data = encode_to_dict(s)
        if data.get("Effect") != "Allow":
            continue
        for action in data.get("Action", []):
            if "*" in rendered(action):
                out.append((data.get("Sid", ""), f"Action::{rendered(action)}"))
        for res in data.get("Resource", []):
            if "*" in rendered(res):
                out.append((data.get("Sid", ""), f"Resource::{rendered(res)}"))
    return out


def record_wildcards(resource: Any, statements: list[Any], reasons: dict[str, str] | None = None, users: frozenset[str] = frozenset()) -> Any:
    """An exception for every wildcard in the statements: the Sid's reason (archc's, or a waiver's given in `reasons`), or,
    for an object-level S3 ARN, why object keys cannot be named. A user's statement (`users`) without a waiver stays
    unsuppressed, so that every scanner reports it; an archc statement with no reason is a bug in archc."""
    for sid, applies in wildcards(statements):
        reason = (reasons or {}).get(sid) or WILDCARD_REASONS.get(sid)
        if reason is None and sid in users:
            continue
        if reason is None and _OBJECTS.fullmatch(applies.removeprefix("Resource::")):
            reason = OBJECTS_REASON
        if reason is None:
            raise ValueError(f"{resource.title}: statement {sid!r} has the wildcard {applies} and no recorded reason")
        record(resource, WILDCARD, reason, [applies])
    return resource
