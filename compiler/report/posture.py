"""The security posture the compiled templates of one environment give: each data store's encryption and key, what each
endpoint exposes, who may call each route, and the exceptions written into the templates for scanners. Pure over out/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Environment, Template

SCANNERS = {"cfn_nag": "cfn_nag", "checkov": "Checkov", "cdk_nag": "cdk-nag", "cfn-lint": "cfn-lint", "guard": "cfn-guard"}


@dataclass(frozen=True, order=True)
class Store:
    region: str
    kind: str
    name: str
    stack: str
    logical_id: str
    encryption: str
    key: str
    kept: str  # what happens to its data on delete / replace


@dataclass(frozen=True, order=True)
class Endpoint:
    region: str
    kind: str
    name: str
    exposure: str
    protection: str


@dataclass(frozen=True, order=True)
class Route:
    region: str
    api: str
    route: str
    authorization: str


@dataclass(frozen=True, order=True)
class Exception_:
    stack: str
    logical_id: str
    rule: str
    reason: str
    scanners: str


def _name(props: dict, key: str, lid: str) -> str:
    v = props.get(key)
    return v if isinstance(v, str) else lid


class Keys:
    """Describes a KMS key reference: a customer-managed key of this environment (by logical ID, with rotation), an AWS
    managed alias, or none."""

    def __init__(self, env: Environment):
        self.env = env

    def describe(self, t: Template, ref: Any) -> str:
        if ref is None:
            return "AWS owned key"
        if isinstance(ref, str):
            return f"AWS managed ({ref})" if ref.startswith("alias/aws/") else ref
        for sid, lid in self._keys(t, ref):
            key = self.env.templates[sid].resources[lid]
            rotation = "rotation on" if (key.get("Properties") or {}).get("EnableKeyRotation") else "no rotation"
            where = "" if sid == t.entry.id else f" in {sid}"
            return f"customer managed: {lid}{where} ({rotation})"
        return "customer managed (from another stack)"

    def _keys(self, t: Template, ref: Any) -> list[tuple[str, str]]:
        from .model import Resolver, _walk

        found = []
        for d in _walk(ref):
            lid = d.get("Ref") if isinstance(d.get("Ref"), str) else None
            if "Fn::GetAtt" in d:
                ga = d["Fn::GetAtt"]
                lid = (ga if isinstance(ga, list) else str(ga).split("."))[0]
            if lid and (t.resources.get(lid) or {}).get("Type") == "AWS::KMS::Key":
                found.append((t.entry.id, lid))
        if not found:  # an imported key: follow the output to the producer's key
            keys = {f"{sid}/{lid}": (sid, lid) for sid, tt in self.env.templates.items()
                    for lid, r in tt.resources.items() if r.get("Type") == "AWS::KMS::Key"}
            resolver = Resolver(self.env, keys)
            found = [keys[k] for k in resolver.targets(t, ref) if k in keys]
        return found


def _kept(res: dict) -> str:
    d, r = res.get("DeletionPolicy", "Delete"), res.get("UpdateReplacePolicy", "Delete")
    return d if d == r else f"{d} on delete, {r} on replace"


def stores(env: Environment) -> list[Store]:
    """Every data store: buckets, tables (and their replicas), queues, databases, repositories, secrets."""
    keys = Keys(env)
    out = []
    for sid, t in sorted(env.templates.items()):
        region = t.entry.region
        for lid, res in sorted(t.resources.items()):
            p, rtype = res.get("Properties") or {}, res.get("Type")
            row = None
            if rtype == "AWS::S3::Bucket":
                rules = (p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or [{}]
                by_default = rules[0].get("ServerSideEncryptionByDefault") or {}
                algo = by_default.get("SSEAlgorithm", "AES256")
                key = keys.describe(t, by_default.get("KMSMasterKeyID")) if algo.startswith("aws:kms") else "S3 managed key (SSE-S3)"
                row = ("bucket", _name(p, "BucketName", lid), algo, key)
            elif rtype in ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"):
                sse = p.get("SSESpecification") or {}
                name = _name(p, "TableName", lid)
                if rtype == "AWS::DynamoDB::GlobalTable":
                    for rep in p.get("Replicas") or []:
                        ref = (rep.get("SSESpecification") or {}).get("KMSMasterKeyId")
                        rep_region = rep.get("Region", region)
                        what = "KMS" if sse.get("SSEEnabled") else "DynamoDB owned key"
                        key = keys.describe(t, ref) if sse.get("SSEEnabled") else "AWS owned key"
                        out.append(Store(rep_region if isinstance(rep_region, str) else region, "table" + ("" if rep_region == region else " (replica)"),
                                         name, t.entry.stack, lid, what, key, _kept(res)))
                    continue
                row = ("table", name, "KMS" if sse.get("SSEEnabled") else "DynamoDB owned key",
                       keys.describe(t, sse.get("KMSMasterKeyId")) if sse.get("SSEEnabled") else "AWS owned key")
            elif rtype == "AWS::SQS::Queue":
                kms = p.get("KmsMasterKeyId")
                row = ("queue", _name(p, "QueueName", lid), "KMS" if kms else ("SSE-SQS" if p.get("SqsManagedSseEnabled", True) else "none"),
                       keys.describe(t, kms) if kms else "SQS managed key")
            elif rtype == "AWS::RDS::DBInstance":
                row = ("database", _name(p, "DBInstanceIdentifier", lid), "KMS" if p.get("StorageEncrypted") or p.get("KmsKeyId") else "none",
                       keys.describe(t, p.get("KmsKeyId")) if p.get("KmsKeyId") else ("AWS managed (aws/rds)" if p.get("StorageEncrypted") else "none"))
            elif rtype == "AWS::ECR::Repository":
                enc = p.get("EncryptionConfiguration") or {}
                row = ("repository", _name(p, "RepositoryName", lid), enc.get("EncryptionType", "AES256"),
                       (keys.describe(t, enc.get("KmsKey")) if enc.get("KmsKey") else "AWS managed (aws/ecr)") if enc.get("EncryptionType") == "KMS" else "ECR managed key (AES-256)")
            elif rtype == "AWS::SecretsManager::Secret":
                row = ("secret", _name(p, "Name", lid), "KMS", keys.describe(t, p.get("KmsKeyId")) if p.get("KmsKeyId") else "AWS managed (aws/secretsmanager)")
            if row:
                out.append(Store(region, row[0], row[1], t.entry.stack, lid, row[2], row[3], _kept(res)))
    return sorted(out)


def endpoints(env: Environment) -> list[Endpoint]:
    """What answers on the internet, and what stands in front of it."""
    out = []
    for sid, t in sorted(env.templates.items()):
        region = t.entry.region
        acls = {}  # resource the web ACL protects (logical id or "stage") -> web ACL logical id
        for lid, res in t.resources.items():
            if res.get("Type") == "AWS::WAFv2::WebACLAssociation":
                acls["stage"] = lid
        for lid, res in sorted(t.resources.items()):
            p, rtype = res.get("Properties") or {}, res.get("Type")
            if rtype == "AWS::CloudFront::Distribution":
                c = p.get("DistributionConfig") or {}
                viewer = c.get("ViewerCertificate") or {}
                waf = "web ACL " + ("attached" if c.get("WebACLId") else "none")
                tls = viewer.get("MinimumProtocolVersion", "TLSv1 (default certificate)")
                aliases = ", ".join(a for a in c.get("Aliases") or [] if isinstance(a, str)) or "its cloudfront.net name"
                out.append(Endpoint(region, "CloudFront distribution", lid, f"public on {aliases}; HTTPS only "
                                    f"({(c.get('DefaultCacheBehavior') or {}).get('ViewerProtocolPolicy', '?')})",
                                    f"{waf}; minimum TLS {tls}; origins reached through origin access control or the origin-verify header"))
            elif rtype == "AWS::ApiGateway::RestApi":
                types = ((p.get("EndpointConfiguration") or {}).get("Types") or ["EDGE"])
                protection = (f"regional web ACL on the stage ({acls['stage']}): only requests carrying CloudFront's origin-verify header"
                              if "stage" in acls else "no web ACL on the stage")
                out.append(Endpoint(region, "REST API", _name(p, "Name", lid), f"{', '.join(types)} endpoint (public DNS)", protection))
            elif rtype == "AWS::ApiGatewayV2::Api":
                out.append(Endpoint(region, f"{p.get('ProtocolType', 'HTTP')} API", _name(p, "Name", lid), "public endpoint",
                                    "authorization per route (see the routes)"))
            elif rtype == "AWS::Lambda::Url":
                out.append(Endpoint(region, "function URL", lid, "public URL" if p.get("AuthType") == "NONE" else "URL with IAM authorization",
                                    f"AuthType {p.get('AuthType')}"))
            elif rtype == "AWS::S3::Bucket":
                block = p.get("PublicAccessBlockConfiguration") or {}
                all_on = all(block.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
                if not all_on:
                    out.append(Endpoint(region, "bucket", _name(p, "BucketName", lid), "public access not fully blocked", "-"))
    return sorted(out)


def routes(env: Environment) -> list[Route]:
    """Who may call each API route: REST methods by path, WebSocket routes by key."""
    out = []
    for sid, t in sorted(env.templates.items()):
        res_all = t.resources
        paths: dict[str, str] = {}

        def path_of(ref: Any) -> str:
            if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in res_all:
                lid = ref["Ref"]
                if lid not in paths:
                    p = res_all[lid].get("Properties") or {}
                    paths[lid] = path_of(p.get("ParentId")) .rstrip("/") + "/" + str(p.get("PathPart"))
                return paths[lid]
            return "/"  # the API's root resource

        apis = {lid: _name(r.get("Properties") or {}, "Name", lid) for lid, r in res_all.items()
                if r.get("Type") in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api")}
        for lid, res in sorted(res_all.items()):
            p, rtype = res.get("Properties") or {}, res.get("Type")
            if rtype == "AWS::ApiGateway::Method":
                api = apis.get((p.get("RestApiId") or {}).get("Ref"), "?")
                auth = p.get("AuthorizationType", "NONE")
                if auth == "NONE":
                    auth = "none (open)" if p.get("HttpMethod") != "OPTIONS" else "none (CORS preflight)"
                elif p.get("AuthorizerId"):
                    auth += f" ({(p['AuthorizerId'] or {}).get('Ref', 'authorizer')})"
                out.append(Route(t.entry.region, api, f"{p.get('HttpMethod')} {path_of(p.get('ResourceId'))}", auth))
            elif rtype == "AWS::ApiGatewayV2::Route":
                api = apis.get((p.get("ApiId") or {}).get("Ref"), "?")
                auth = p.get("AuthorizationType", "NONE")
                out.append(Route(t.entry.region, api, str(p.get("RouteKey")),
                                 auth if auth != "NONE" else ("none (after $connect)" if p.get("RouteKey") != "$connect" else "none (open)")))
    return sorted(out)


def exceptions(env: Environment) -> list[Exception_]:
    """Each exception written into a template (Metadata.archc.exceptions) and the scanners whose own format carries it."""
    out = []
    for sid, t in sorted(env.templates.items()):
        for lid, res in sorted(t.resources.items()):
            meta = res.get("Metadata") or {}
            scanners = ", ".join(SCANNERS[k] for k in sorted(meta) if k in SCANNERS)
            for e in (meta.get("archc") or {}).get("exceptions") or []:
                out.append(Exception_(sid, lid, str(e.get("rule")), str(e.get("reason")), scanners))
    return out
