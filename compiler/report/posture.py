"""The security posture the compiled templates of one environment give: each data store's encryption and key, what each
endpoint exposes, who may call each route, and the exceptions written into the templates for scanners. Pure over out/."""

from __future__ import annotations

import json
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

    def describe(self, t: Template, ref: Any, default: str = "AWS owned key") -> str:
        """`default` says which key the service uses when none is named (AWS managed aws/s3 for SSE-KMS, for example)."""
        if ref is None:
            return default
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
                key = (keys.describe(t, by_default.get("KMSMasterKeyID"), "AWS managed (aws/s3)") if algo.startswith("aws:kms")
                       else "S3 managed key (SSE-S3)")
                row = ("bucket", _name(p, "BucketName", lid), algo, key)
            elif rtype in ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"):
                sse = p.get("SSESpecification") or {}
                name = _name(p, "TableName", lid)
                if rtype == "AWS::DynamoDB::GlobalTable":
                    for rep in p.get("Replicas") or []:
                        ref = (rep.get("SSESpecification") or {}).get("KMSMasterKeyId")
                        rep_region = rep.get("Region", region)
                        what = "KMS" if sse.get("SSEEnabled") else "DynamoDB owned key"
                        key = keys.describe(t, ref, "AWS managed (aws/dynamodb)") if sse.get("SSEEnabled") else "AWS owned key"
                        out.append(Store(rep_region if isinstance(rep_region, str) else region, "table" + ("" if rep_region == region else " (replica)"),
                                         name, t.entry.stack, lid, what, key, _kept(res)))
                    continue
                row = ("table", name, "KMS" if sse.get("SSEEnabled") else "DynamoDB owned key",
                       keys.describe(t, sse.get("KMSMasterKeyId"), "AWS managed (aws/dynamodb)") if sse.get("SSEEnabled") else "AWS owned key")
            elif rtype == "AWS::SQS::Queue":
                kms = p.get("KmsMasterKeyId")
                sse_sqs = p.get("SqsManagedSseEnabled", True) is not False
                row = ("queue", _name(p, "QueueName", lid), "KMS" if kms else ("SSE-SQS" if sse_sqs else "none"),
                       keys.describe(t, kms) if kms else ("SQS managed key" if sse_sqs else "-"))
            elif rtype == "AWS::RDS::DBInstance":
                row = ("database", _name(p, "DBInstanceIdentifier", lid), "KMS" if p.get("StorageEncrypted") or p.get("KmsKeyId") else "none",
                       keys.describe(t, p.get("KmsKeyId")) if p.get("KmsKeyId") else ("AWS managed (aws/rds)" if p.get("StorageEncrypted") else "none"))
            elif rtype == "AWS::ECR::Repository":
                enc = p.get("EncryptionConfiguration") or {}
                row = ("repository", _name(p, "RepositoryName", lid), enc.get("EncryptionType", "AES256"),
                       (keys.describe(t, enc.get("KmsKey")) if enc.get("KmsKey") else "AWS managed (aws/ecr)") if enc.get("EncryptionType") == "KMS" else "ECR managed key (AES-256)")
            elif rtype == "AWS::SecretsManager::Secret":
                row = ("secret", _name(p, "Name", lid), "KMS", keys.describe(t, p.get("KmsKeyId"), "AWS managed (aws/secretsmanager)"))
                for rep in p.get("ReplicaRegions") or []:  # a replica in another region, with that region's key
                    out.append(Store(str(rep.get("Region")), "secret (replica)", row[1], t.entry.stack, lid, "KMS",
                                     keys.describe(t, rep.get("KmsKeyId"), "AWS managed (aws/secretsmanager)"), _kept(res)))
            if row:
                out.append(Store(region, row[0], row[1], t.entry.stack, lid, row[2], row[3], _kept(res)))
    return sorted(out)


def endpoints(env: Environment) -> list[Endpoint]:
    """What answers on the internet, and what stands in front of it."""
    out = []
    for sid, t in sorted(env.templates.items()):
        region = t.entry.region
        acls = {}  # "stage" -> what the web ACL associated with the REST stage lets through
        for lid, res in t.resources.items():
            if res.get("Type") == "AWS::WAFv2::WebACLAssociation":
                ref = (res.get("Properties") or {}).get("WebACLArn") or {}
                acl_lid = (ref.get("Fn::GetAtt") or [None])[0] if isinstance(ref, dict) else None
                acl = (t.resources.get(acl_lid) or {}).get("Properties") or {}
                blocks = "Block" in (acl.get("DefaultAction") or {})
                header = "x-origin-verify" in json.dumps(acl.get("Rules") or []).lower()
                acls["stage"] = (f"regional web ACL {acl_lid} on the stage: blocks everything but requests carrying CloudFront's "
                                 "origin-verify header" if blocks and header else f"regional web ACL {acl_lid or lid} on the stage")
        for lid, res in sorted(t.resources.items()):
            p, rtype = res.get("Properties") or {}, res.get("Type")
            if rtype == "AWS::CloudFront::Distribution":
                c = p.get("DistributionConfig") or {}
                viewer = c.get("ViewerCertificate") or {}
                waf = "web ACL attached" if c.get("WebACLId") else "no web ACL"
                tls = viewer.get("MinimumProtocolVersion", "TLSv1 (default certificate)")
                aliases = ", ".join(a for a in c.get("Aliases") or [] if isinstance(a, str)) or "its cloudfront.net name"
                policies = {b.get("ViewerProtocolPolicy") for b in [c.get("DefaultCacheBehavior") or {}, *(c.get("CacheBehaviors") or [])]}
                http = {"https-only": "HTTPS only", "redirect-to-https": "HTTP redirected to HTTPS", "allow-all": "HTTP and HTTPS"}
                viewers = " / ".join(http.get(v, str(v)) for v in sorted(policies, key=str))
                out.append(Endpoint(region, "CloudFront distribution", lid, f"public on {aliases}; {viewers}",
                                    f"{waf}; minimum TLS {tls}; origins: {_origin_guards(c)}"))
            elif rtype == "AWS::ApiGateway::RestApi":
                types = ((p.get("EndpointConfiguration") or {}).get("Types") or ["EDGE"])
                protection = acls.get("stage", "no web ACL on the stage")
                out.append(Endpoint(region, "REST API", _name(p, "Name", lid), f"{', '.join(types)} endpoint (public DNS)", protection))
            elif rtype == "AWS::ApiGatewayV2::Api":
                connect = next(((r.get("Properties") or {}).get("AuthorizationType", "NONE") for r in t.resources.values()
                                if r.get("Type") == "AWS::ApiGatewayV2::Route" and (r.get("Properties") or {}).get("RouteKey") == "$connect"), None)
                front = f"$connect authorization {connect}" if connect else "authorization per route"
                out.append(Endpoint(region, f"{p.get('ProtocolType', 'HTTP')} API", _name(p, "Name", lid), "public endpoint", f"{front}; no web ACL"))
            elif rtype == "AWS::Lambda::Url":
                out.append(Endpoint(region, "function URL", lid, "public URL" if p.get("AuthType") == "NONE" else "URL with IAM authorization",
                                    f"AuthType {p.get('AuthType')}"))
            elif rtype == "AWS::S3::Bucket":
                block = p.get("PublicAccessBlockConfiguration") or {}
                all_on = all(block.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
                if not all_on:
                    out.append(Endpoint(region, "bucket", _name(p, "BucketName", lid), "public access not fully blocked", "-"))
    return sorted(out)


def _origin_guards(config: dict) -> str:
    """What keeps each origin from being reached around the distribution, per origin."""
    parts = []
    for o in config.get("Origins") or []:
        headers = {h.get("HeaderName", "").lower() for h in o.get("OriginCustomHeaders") or []}
        if o.get("OriginAccessControlId"):
            guard = "origin access control"
        elif "x-origin-verify" in headers:
            guard = "origin-verify header, checked by the API's web ACL"
        else:
            guard = "nothing: reachable directly"
        parts.append(f"{o.get('Id')} ({guard})")
    return ", ".join(parts) or "none"


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
                api_lid = (p.get("ApiId") or {}).get("Ref")
                api = apis.get(api_lid, "?")
                auth = p.get("AuthorizationType", "NONE")
                websocket = ((res_all.get(api_lid) or {}).get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"
                has_connect = any((r.get("Properties") or {}).get("RouteKey") == "$connect" for r in res_all.values()
                                  if r.get("Type") == "AWS::ApiGatewayV2::Route")
                if auth != "NONE":
                    said = auth
                elif websocket and p.get("RouteKey") != "$connect" and has_connect:
                    said = "none (on a connection $connect authorized)"  # WebSocket authorizes the connection, not each message
                else:
                    said = "none (open)"
                out.append(Route(t.entry.region, api, str(p.get("RouteKey")), said))
    return sorted(out)


def _written_for(meta: dict, rule: str, reason: str) -> str:
    """The scanners whose own Metadata format carries this exception, with the rule IDs each suppresses for it (archc
    writes every scanner's entry with the exception's reason; cfn-lint's list holds archc's own rule ID)."""
    found = []
    for key in ("cdk_nag", "cfn_nag"):
        ids = sorted({str(x.get("id")) for x in (meta.get(key) or {}).get("rules_to_suppress") or [] if x.get("reason") == reason})
        if ids:
            found.append(f"{SCANNERS[key]} {', '.join(ids)}")
    ids = sorted({str(x.get("id")) for x in (meta.get("checkov") or {}).get("skip") or [] if x.get("comment") == reason})
    if ids:
        found.append(f"Checkov {', '.join(ids)}")
    if rule in (((meta.get("cfn-lint") or {}).get("config") or {}).get("ignore_checks") or []):
        found.append(f"cfn-lint {rule}")
    guard = (meta.get("guard") or {}).get("SuppressedRules") or []
    if rule in guard:
        found.append(f"cfn-guard {rule}")
    return "; ".join(found) or "archc only"


def exceptions(env: Environment) -> list[Exception_]:
    """Each exception written into a template (Metadata.archc.exceptions) and, per scanner, the rule IDs that carry it."""
    out = []
    for sid, t in sorted(env.templates.items()):
        for lid, res in sorted(t.resources.items()):
            meta = res.get("Metadata") or {}
            for e in (meta.get("archc") or {}).get("exceptions") or []:
                rule, reason = str(e.get("rule")), str(e.get("reason"))
                out.append(Exception_(sid, lid, rule, reason, _written_for(meta, rule, reason)))
    return out
