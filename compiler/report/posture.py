"""The security posture the compiled templates of one environment give: each data store's encryption and key, what each
endpoint exposes, who may call each route, and the exceptions written into the templates for scanners. Pure over out/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..refs import as_dict, as_list, names
from .model import Environment, Resolver, Template, name_of

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
            rotation = "rotation on" if as_dict(key.get("Properties")).get("EnableKeyRotation") else "no rotation"
            where = "" if sid == t.entry.id else f" in {sid}"
            return f"customer managed: {lid}{where} ({rotation})"
        return "customer managed (from another stack)"

    def _keys(self, t: Template, ref: Any) -> list[tuple[str, str]]:
        found = [(t.entry.id, lid) for lid in sorted(names(ref)) if t.resources.get(lid, {}).get("Type") == "AWS::KMS::Key"]
        if not found:  # an imported key, or one passed as a parameter: follow the output to the producer's key
            keys = {f"{sid}/{lid}": (sid, lid) for sid, tt in self.env.templates.items()
                    for lid, r in tt.resources.items() if r.get("Type") == "AWS::KMS::Key"}
            found = [keys[k] for k in Resolver(self.env, keys).targets(t, ref) if k in keys]
        return found


def _kept(res: dict) -> str:
    d, r = str(res.get("DeletionPolicy", "Delete")), str(res.get("UpdateReplacePolicy", "Delete"))
    return d if d == r else f"{d} on delete, {r} on replace"


def stores(env: Environment) -> list[Store]:
    """Every data store: buckets, tables (and their replicas), queues, databases, repositories, secrets."""
    keys = Keys(env)
    out = []
    for sid, t in sorted(env.templates.items()):
        region = t.entry.region
        for lid, res in sorted(t.resources.items()):
            p, rtype = as_dict(res.get("Properties")), res.get("Type")
            name = name_of(str(rtype), p, lid)
            row = None
            if rtype == "AWS::S3::Bucket":
                rules = as_list(as_dict(p.get("BucketEncryption")).get("ServerSideEncryptionConfiguration")) or [{}]
                by_default = as_dict(rules[0].get("ServerSideEncryptionByDefault"))
                algo = str(by_default.get("SSEAlgorithm", "AES256"))
                key = (keys.describe(t, by_default.get("KMSMasterKeyID"), "AWS managed (aws/s3)") if algo.startswith("aws:kms")
                       else "S3 managed key (SSE-S3)")
                row = ("bucket", name, algo, key)
            elif rtype in ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"):
                sse = as_dict(p.get("SSESpecification"))
                if rtype == "AWS::DynamoDB::GlobalTable":
                    for rep in as_list(p.get("Replicas")):
                        ref = as_dict(rep.get("SSESpecification")).get("KMSMasterKeyId")
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
                row = ("queue", name, "KMS" if kms else ("SSE-SQS" if sse_sqs else "none"),
                       keys.describe(t, kms) if kms else ("SQS managed key" if sse_sqs else "-"))
            elif rtype == "AWS::RDS::DBInstance":
                row = ("database", name, "KMS" if p.get("StorageEncrypted") or p.get("KmsKeyId") else "none",
                       keys.describe(t, p.get("KmsKeyId")) if p.get("KmsKeyId") else ("AWS managed (aws/rds)" if p.get("StorageEncrypted") else "none"))
            elif rtype == "AWS::ECR::Repository":
                enc = as_dict(p.get("EncryptionConfiguration"))
                row = ("repository", name, enc.get("EncryptionType", "AES256"),
                       (keys.describe(t, enc.get("KmsKey")) if enc.get("KmsKey") else "AWS managed (aws/ecr)") if enc.get("EncryptionType") == "KMS" else "ECR managed key (AES-256)")
            elif rtype == "AWS::SecretsManager::Secret":
                row = ("secret", name, "KMS", keys.describe(t, p.get("KmsKeyId"), "AWS managed (aws/secretsmanager)"))
                for rep in as_list(p.get("ReplicaRegions")):  # a replica in another region, with that region's key
                    out.append(Store(str(rep.get("Region")), "secret (replica)", row[1], t.entry.stack, lid, "KMS",
                                     keys.describe(t, rep.get("KmsKeyId"), "AWS managed (aws/secretsmanager)"), _kept(res)))
            if row:
                out.append(Store(region, row[0], row[1], t.entry.stack, lid, row[2], row[3], _kept(res)))
    return sorted(out)


def _props(res: dict) -> dict:
    return as_dict(res.get("Properties"))


def endpoints(env: Environment) -> list[Endpoint]:
    """What answers on the internet, and what stands in front of it."""
    out = []
    for sid, t in sorted(env.templates.items()):
        region = t.entry.region
        stage_acl = None  # what the web ACL associated with the REST stage lets through
        for lid, res in t.resources.items():
            if res.get("Type") == "AWS::WAFv2::WebACLAssociation":
                acl_lid = next(iter(sorted(names(_props(res).get("WebACLArn")))), None)
                acl = _props(t.resources.get(acl_lid) or {})
                blocks = "Block" in as_dict(acl.get("DefaultAction"))
                header = "x-origin-verify" in json.dumps(acl.get("Rules") or []).lower()
                stage_acl = (f"regional web ACL {acl_lid} on the stage: blocks everything but requests carrying CloudFront's "
                             "origin-verify header" if blocks and header else f"regional web ACL {acl_lid or lid} on the stage")
        for lid, res in sorted(t.resources.items()):
            p, rtype = _props(res), res.get("Type")
            name = name_of(str(rtype), p, lid)
            if rtype == "AWS::CloudFront::Distribution":
                c = as_dict(p.get("DistributionConfig"))
                waf = "web ACL attached" if c.get("WebACLId") else "no web ACL"
                tls = as_dict(c.get("ViewerCertificate")).get("MinimumProtocolVersion", "TLSv1 (default certificate)")
                aliases = ", ".join(a for a in c.get("Aliases") or [] if isinstance(a, str)) if isinstance(c.get("Aliases"), list) else ""
                behaviors = [as_dict(c.get("DefaultCacheBehavior")), *as_list(c.get("CacheBehaviors"))]
                http = {"https-only": "HTTPS only", "redirect-to-https": "HTTP redirected to HTTPS", "allow-all": "HTTP and HTTPS"}
                viewers = " / ".join(http.get(v, v) for v in sorted({str(b.get("ViewerProtocolPolicy")) for b in behaviors}))
                out.append(Endpoint(region, "CloudFront distribution", lid, f"public on {aliases or 'its cloudfront.net name'}; {viewers}",
                                    f"{waf}; minimum TLS {tls}; origins: {_origin_guards(c)}"))
            elif rtype == "AWS::ApiGateway::RestApi":
                types = as_dict(p.get("EndpointConfiguration")).get("Types")
                kinds = ", ".join(map(str, types)) if isinstance(types, list) and types else "EDGE"
                out.append(Endpoint(region, "REST API", name, f"{kinds} endpoint (public DNS)", stage_acl or "no web ACL on the stage"))
            elif rtype == "AWS::ApiGatewayV2::Api":
                connect = next((_props(r).get("AuthorizationType", "NONE") for r in t.resources.values()
                                if r.get("Type") == "AWS::ApiGatewayV2::Route" and _props(r).get("RouteKey") == "$connect"), None)
                front = f"$connect authorization {connect}" if connect else "authorization per route"
                out.append(Endpoint(region, f"{p.get('ProtocolType', 'HTTP')} API", name, "public endpoint", f"{front}; no web ACL"))
            elif rtype == "AWS::Lambda::Url":
                auth = p.get("AuthType")
                out.append(Endpoint(region, "function URL", lid, "public URL" if auth == "NONE" else "URL with IAM authorization",
                                    f"AuthType {auth}"))
            elif rtype == "AWS::S3::Bucket":
                block = as_dict(p.get("PublicAccessBlockConfiguration"))
                if not all(block.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
                    out.append(Endpoint(region, "bucket", name, "public access not fully blocked", "-"))
    return sorted(out)


def _origin_guards(config: dict) -> str:
    """What keeps each origin from being reached around the distribution, per origin."""
    parts = []
    for o in as_list(config.get("Origins")):
        headers = {str(h.get("HeaderName", "")).lower() for h in as_list(o.get("OriginCustomHeaders"))}
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
        resources = t.resources

        def path_of(ref: Any, seen: frozenset = frozenset()) -> str:
            """/a/b of an AWS::ApiGateway::Resource, by its parents (the API's root resource is /)."""
            lid = ref.get("Ref") if isinstance(ref, dict) else None
            if not isinstance(lid, str) or lid not in resources or lid in seen:
                return ""
            p = _props(resources[lid])
            return f"{path_of(p.get('ParentId'), seen | {lid})}/{p.get('PathPart')}"

        apis = {lid: name_of(str(r.get("Type")), _props(r), lid) for lid, r in resources.items()
                if r.get("Type") in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api")}
        connects = {str(_props(r).get("ApiId", {}).get("Ref") if isinstance(_props(r).get("ApiId"), dict) else "")
                    for r in resources.values() if r.get("Type") == "AWS::ApiGatewayV2::Route" and _props(r).get("RouteKey") == "$connect"}
        for lid, res in sorted(resources.items()):
            p, rtype = _props(res), res.get("Type")
            if rtype == "AWS::ApiGateway::Method":
                api = apis.get(as_dict(p.get("RestApiId")).get("Ref"), "?")
                auth = str(p.get("AuthorizationType", "NONE"))
                if auth == "NONE":
                    auth = "none (open)" if p.get("HttpMethod") != "OPTIONS" else "none (CORS preflight)"
                elif p.get("AuthorizerId"):
                    auth += f" ({as_dict(p.get('AuthorizerId')).get('Ref', 'authorizer')})"
                out.append(Route(t.entry.region, api, f"{p.get('HttpMethod')} {path_of(p.get('ResourceId')) or '/'}", auth))
            elif rtype == "AWS::ApiGatewayV2::Route":
                api_lid = as_dict(p.get("ApiId")).get("Ref")
                auth = str(p.get("AuthorizationType", "NONE"))
                websocket = _props(resources.get(api_lid) or {}).get("ProtocolType") == "WEBSOCKET"
                if auth != "NONE":
                    said = auth
                elif websocket and p.get("RouteKey") != "$connect" and api_lid in connects:
                    said = "none (on a connection $connect authorized)"  # WebSocket authorizes the connection, not each message
                else:
                    said = "none (open)"
                out.append(Route(t.entry.region, apis.get(api_lid, "?"), str(p.get("RouteKey")), said))
    return sorted(out)


def _written_for(meta: dict, rule: str, reason: str) -> str:
    """The scanners whose own Metadata format carries this exception, with the rule IDs each suppresses for it (archc
    writes every scanner's entry with the exception's reason; cfn-lint's list holds archc's own rule ID)."""
    found = []
    for key in ("cdk_nag", "cfn_nag"):
        ids = sorted({str(x.get("id")) for x in as_list(as_dict(meta.get(key)).get("rules_to_suppress")) if x.get("reason") == reason})
        if ids:
            found.append(f"{SCANNERS[key]} {', '.join(ids)}")
    ids = sorted({str(x.get("id")) for x in as_list(as_dict(meta.get("checkov")).get("skip")) if x.get("comment") == reason})
    if ids:
        found.append(f"Checkov {', '.join(ids)}")
    ignored = as_dict(as_dict(meta.get("cfn-lint")).get("config")).get("ignore_checks")
    if isinstance(ignored, list) and rule in ignored:
        found.append(f"cfn-lint {rule}")
    guard = as_dict(meta.get("guard")).get("SuppressedRules")
    if isinstance(guard, list) and rule in guard:
        found.append(f"cfn-guard {rule}")
    return "; ".join(found) or "archc only"


def exceptions(env: Environment) -> list[Exception_]:
    """Each exception written into a template (Metadata.archc.exceptions) and, per scanner, the rule IDs that carry it."""
    out = []
    for sid, t in sorted(env.templates.items()):
        for lid, res in sorted(t.resources.items()):
            meta = as_dict(res.get("Metadata"))
            for e in as_list(as_dict(meta.get("archc")).get("exceptions")):
                rule, reason = str(e.get("rule")), str(e.get("reason"))
                out.append(Exception_(sid, lid, rule, reason, _written_for(meta, rule, reason)))
    return out
