"""archc's own policy rules, run by `archc lint` beside cfn-lint's (cfn-lint loads this folder with `append_rules`).
One rule per class of hole an outside review found, each with a stable id in cfn-lint's style. A resource is excused
by `Metadata: {cfn-lint: {config: {ignore_checks: [ID]}}}`, which archc writes, with the reason, from a spec waiver
or where the exception is unavoidable (blueprints/exceptions.py)."""

from __future__ import annotations

import json
import re

from cfnlint.rules import CloudFormationLintRule, RuleMatch

SOURCE = "https://github.com/archc/archc#security-defaults-waivers-and-exceptions-where-scanners-read-them"
# Services whose actions take resource ARNs: a "*" there grants every resource of the kind where one could be named.
ARN_SERVICES = ("s3", "dynamodb", "sqs", "sns", "secretsmanager", "lambda", "ssm", "execute-api", "rds-db", "states", "events")


# Services that invoke a function asynchronously (the event is queued; a failure ends in the dead-letter queue).
ASYNC_INVOKERS = ("s3.amazonaws.com", "sns.amazonaws.com", "events.amazonaws.com", "ses.amazonaws.com", "iot.amazonaws.com",
                  "logs.amazonaws.com", "config.amazonaws.com", "codecommit.amazonaws.com", "scheduler.amazonaws.com")


def _refers(value, lid: str) -> bool:
    """Whether a template value names resource `lid` (Ref, GetAtt, or ${lid...} in a Sub)."""
    text = json.dumps(value)
    return bool(re.search(r'\{"Ref": "%s"\}|"Fn::GetAtt": \["%s"|\$\{%s[.}]' % ((re.escape(lid),) * 3), text))


def _found(lid: str, message: str) -> RuleMatch:
    return RuleMatch(["Resources", lid, "Properties"], message)


class _Rule(CloudFormationLintRule):
    source_url = SOURCE
    tags = ["archc", "security"]

    def _each(self, cfn, *types):
        for lid, res in cfn.get_resources(resource_type=list(types)).items():
            yield lid, res.get("Properties") or {}

    def _statements(self, cfn, *types):
        """(resource id, statement) for every statement of the IAM resources' policy documents."""
        for lid, p in self._each(cfn, *types):
            for doc in [pol.get("PolicyDocument") or {} for pol in p.get("Policies") or []] + [p.get("PolicyDocument") or {}]:
                yield from ((lid, s) for s in _list(doc.get("Statement")) if isinstance(s, dict))


class PublicRegionalEndpoint(_Rule):
    id = "E9101"
    shortdesc = "REST API stage open to anyone who knows its domain"
    description = "A regional or edge-optimized REST API stage without a WAF web ACL: callers skip CloudFront and its checks"

    def match(self, cfn):
        private = {lid for lid, p in self._each(cfn, "AWS::ApiGateway::RestApi")
                   if (p.get("EndpointConfiguration") or {}).get("Types") == ["PRIVATE"]}
        guarded = [p.get("ResourceArn") for _, p in self._each(cfn, "AWS::WAFv2::WebACLAssociation")]
        out = []
        for lid, p in self._each(cfn, "AWS::ApiGateway::Stage"):
            api = (p.get("RestApiId") or {}).get("Ref") if isinstance(p.get("RestApiId"), dict) else None
            if api in private:
                continue
            if not any(_refers(arn, api or "") and f"/stages/{p.get('StageName')}" in json.dumps(arn) for arn in guarded):
                out.append(_found(lid, f"{lid}: the stage has no web ACL, so anyone who knows its execute-api domain reaches it"))
        return out


class UnauthenticatedRoute(_Rule):
    id = "E9102"
    shortdesc = "API route without authorization"
    description = "A REST method (other than a CORS preflight) or a WebSocket $connect route that anyone may call"

    def match(self, cfn):
        out = []
        for lid, p in self._each(cfn, "AWS::ApiGateway::Method"):
            if p.get("AuthorizationType", "NONE") == "NONE" and p.get("HttpMethod") != "OPTIONS":
                out.append(_found(lid, f"{lid}: {p.get('HttpMethod')} needs no authorization"))
        for lid, p in self._each(cfn, "AWS::ApiGatewayV2::Route"):
            if p.get("RouteKey") == "$connect" and p.get("AuthorizationType", "NONE") == "NONE":
                out.append(_found(lid, f"{lid}: anyone may connect"))
        return out


class UnencryptedStore(_Rule):
    id = "E9103"
    shortdesc = "Data store without encryption at rest"
    description = "A bucket, table, queue, topic or database instance that does not say how its data is encrypted"

    def match(self, cfn):
        checks = {
            "AWS::S3::Bucket": lambda p: "BucketEncryption" in p,
            "AWS::DynamoDB::Table": lambda p: (p.get("SSESpecification") or {}).get("SSEEnabled") is True,
            "AWS::DynamoDB::GlobalTable": lambda p: (p.get("SSESpecification") or {}).get("SSEEnabled") is True,
            "AWS::SQS::Queue": lambda p: p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p,
            "AWS::SNS::Topic": lambda p: "KmsMasterKeyId" in p,
            # A replica or a restore takes its encryption from its source, with the key given here.
            "AWS::RDS::DBInstance": lambda p: p.get("StorageEncrypted") is True or "KmsKeyId" in p,
        }
        return [_found(lid, f"{lid} ({kind}) is not encrypted at rest")
                for kind, ok in checks.items() for lid, p in self._each(cfn, kind) if not ok(p)]


class UnmanagedLogGroup(_Rule):
    id = "E9104"
    shortdesc = "Log group without a key or a retention"
    description = "A log group kept forever, or encrypted only with CloudWatch's own key"

    def match(self, cfn):
        return [_found(lid, f"{lid}: give the log group a KmsKeyId and a RetentionInDays")
                for lid, p in self._each(cfn, "AWS::Logs::LogGroup") if "KmsKeyId" not in p or "RetentionInDays" not in p]


class DeadLetterOnSynchronousFunction(_Rule):
    id = "E9105"
    shortdesc = "Dead-letter queue on a function nothing invokes asynchronously"
    description = ("A function with a DeadLetterConfig and no asynchronous invoker in the template (a service that queues "
                   "events, or an InvokeFunction grant): synchronous callers get the error, the queue stays empty, its alarm silent")

    def match(self, cfn):
        permissions = [p for _, p in self._each(cfn, "AWS::Lambda::Permission")]
        grants = [s for _, s in self._statements(cfn, "AWS::IAM::Role", "AWS::IAM::Policy")
                  if any(a in ("lambda:InvokeFunction", "lambda:InvokeAsync", "lambda:*") for a in _list(s.get("Action")))]
        out = []
        for lid, p in self._each(cfn, "AWS::Lambda::Function"):
            if "DeadLetterConfig" not in p:
                continue
            invoked = any(_refers(q.get("FunctionName"), lid) and q.get("Principal") in ASYNC_INVOKERS for q in permissions)
            invoked = invoked or any(_refers(s.get("Resource"), lid) for s in grants)
            if not invoked:
                out.append(_found(lid, f"{lid}: nothing here invokes it asynchronously, so its dead-letter queue can never receive"))
        return out


def _list(value) -> list:
    return value if isinstance(value, list) else [value] if value is not None else []


class WildcardWhereArnKnown(_Rule):
    id = "E9106"
    shortdesc = "Wildcard resource where an ARN could be named"
    description = "An IAM statement allowing actions of a service that takes resource ARNs on every resource (*)"

    def match(self, cfn):
        out = []
        for lid, s in self._statements(cfn, "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            actions = _list(s.get("Action"))
            if s.get("Effect") == "Allow" and "*" in _list(s.get("Resource")) and any(
                    isinstance(a, str) and a.split(":")[0] in ARN_SERVICES for a in actions):
                out.append(_found(lid, f"{lid}: statement {s.get('Sid', '')!r} allows {', '.join(map(str, actions))} on every resource"))
        return out
