"""archc's own policy rules, run by `archc lint` beside cfn-lint's (cfn-lint loads this folder with `append_rules`).
One rule per class of hole an outside review found, each with a stable id in cfn-lint's style. A resource is excused
by `Metadata: {cfn-lint: {config: {ignore_checks: [ID]}}}`, which archc writes, with the reason, from a spec waiver
or where the exception is unavoidable (blueprints/exceptions.py)."""

from __future__ import annotations

from cfnlint.rules import CloudFormationLintRule, RuleMatch

SOURCE = "https://github.com/archc/archc#security-defaults-waivers-and-exceptions-where-scanners-read-them"
# Services whose actions take resource ARNs: a "*" there grants every resource of the kind where one could be named.
ARN_SERVICES = ("s3", "dynamodb", "sqs", "sns", "secretsmanager", "lambda", "ssm", "execute-api", "rds-db", "states", "events")


def _found(lid: str, message: str) -> RuleMatch:
    return RuleMatch(["Resources", lid, "Properties"], message)


class _Rule(CloudFormationLintRule):
    source_url = SOURCE
    tags = ["archc", "security"]

    def _each(self, cfn, *types):
        for lid, res in cfn.get_resources(resource_type=list(types)).items():
            yield lid, res.get("Properties") or {}


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


class WildcardWhereArnKnown(_Rule):
    id = "E9106"
    shortdesc = "Wildcard resource where an ARN could be named"
    description = "An IAM statement allowing actions of a service that takes resource ARNs on every resource (*)"

    def match(self, cfn):
        out = []
        for lid, p in self._each(cfn, "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [pol.get("PolicyDocument") or {} for pol in p.get("Policies") or []] + [p.get("PolicyDocument") or {}]
            for doc in docs:
                statements = doc.get("Statement") or []
                for s in statements if isinstance(statements, list) else [statements]:
                    resources = s.get("Resource") or []
                    actions = s.get("Action") or []
                    resources = resources if isinstance(resources, list) else [resources]
                    actions = actions if isinstance(actions, list) else [actions]
                    if s.get("Effect") == "Allow" and "*" in resources and any(
                            isinstance(a, str) and a.split(":")[0] in ARN_SERVICES for a in actions):
                        out.append(_found(lid, f"{lid}: statement {s.get('Sid', '')!r} allows {', '.join(map(str, actions))} on every resource"))
        return out
