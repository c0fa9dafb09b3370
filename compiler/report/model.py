"""The architecture as the compiled templates of one environment describe it: the nodes and links archc's report and graph
draw. Pure over out/<env> (the manifest and the templates it lists); no spec, no AWS."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import ArchcError
from ..manifest import Manifest, TemplateEntry
from ..manifest import read as read_manifest
from ..refs import as_dict, as_list, names, walk

# Resource types drawn, by kind; the order is the tier order inside a region (top to bottom).
KINDS: dict[str, tuple[str, ...]] = {
    "distribution": ("AWS::CloudFront::Distribution",),
    "edge function": (),  # a Lambda function a distribution runs at the edge (found through its associations)
    "cloudfront function": ("AWS::CloudFront::Function",),
    "rest api": ("AWS::ApiGateway::RestApi",),
    "websocket api": ("AWS::ApiGatewayV2::Api",),
    "function": ("AWS::Lambda::Function",),
    "queue": ("AWS::SQS::Queue",),
    "table": ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"),
    "bucket": ("AWS::S3::Bucket",),
    "database": ("AWS::RDS::DBInstance",),
    "repository": ("AWS::ECR::Repository",),
    "origin server": (),  # an origin outside this environment's templates (a domain name written in the template)
    "backups": (),  # a database's automated backups, copied to another region
}
KIND_OF = {rtype: kind for kind, types in KINDS.items() for rtype in types}
TIER = {"distribution": 0, "edge function": 1, "cloudfront function": 1, "rest api": 0, "websocket api": 0, "function": 1,
        "queue": 2, "table": 3, "bucket": 3, "database": 3, "repository": 3, "origin server": 0, "backups": 3}
EXTERNAL = "outside AWS"  # the frame external origin servers are drawn in
NAME_PROPERTY = {"AWS::Lambda::Function": "FunctionName", "AWS::SQS::Queue": "QueueName", "AWS::DynamoDB::GlobalTable": "TableName",
                 "AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName", "AWS::RDS::DBInstance": "DBInstanceIdentifier",
                 "AWS::ECR::Repository": "RepositoryName", "AWS::ApiGateway::RestApi": "Name", "AWS::ApiGatewayV2::Api": "Name",
                 "AWS::CloudFront::Function": "Name", "AWS::SecretsManager::Secret": "Name"}


@dataclass(frozen=True, order=True)
class Node:
    id: str  # "<region>/<stack>/<LogicalId>" (a DynamoDB replica: "<replica region>/<stack>/<LogicalId>")
    kind: str
    region: str
    stack: str
    logical_id: str
    name: str  # the physical name when the template fixes it, else the logical ID
    replica_of: str | None = None  # a copy in another region (table replica, database backups): the original's node id


@dataclass(frozen=True, order=True)
class Link:
    source: str
    target: str
    kind: str  # one of FLOWS
    label: str = ""


@dataclass
class Template:
    entry: TemplateEntry
    body: dict[str, Any]
    sha256: str  # of the file as it is now (the manifest's is what compile wrote)

    @property
    def resources(self) -> dict[str, dict]:
        return {lid: r for lid, r in as_dict(self.body.get("Resources")).items() if isinstance(r, dict)}

    @property
    def outputs(self) -> dict[str, dict]:
        return {k: o for k, o in as_dict(self.body.get("Outputs")).items() if isinstance(o, dict)}

    @property
    def edited(self) -> bool:
        """Changed since compile wrote it (by hand, or by something else)."""
        return self.sha256 != self.entry.sha256


@dataclass
class Environment:
    """out/<env> read once: the manifest and every template, by stack id."""

    out_dir: Path
    manifest: Manifest
    templates: dict[str, Template]
    _exports: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (region, export name) -> (stack id, output key)

    @property
    def dir(self) -> Path:
        return self.out_dir / self.manifest.environment

    def template(self, region: str, stack: str) -> Template | None:
        return self.templates.get(f"{region}/{stack}")

    def exported(self, region: str, name: str) -> tuple[str, str] | None:
        """The stack and output of an export (export names are unique per region)."""
        if not self._exports:
            for sid, t in self.templates.items():
                for key, out in t.outputs.items():
                    export = as_dict(out.get("Export")).get("Name")
                    if isinstance(export, str):
                        self._exports[(t.entry.region, export)] = (sid, key)
        return self._exports.get((region, name))


def read(out_dir: Path, env: str) -> Environment:
    manifest = read_manifest(out_dir, env)
    templates = {}
    for t in manifest.templates:
        path = out_dir / env / t.path
        try:
            data = path.read_bytes()
            body = json.loads(data)
        except FileNotFoundError:
            raise ArchcError(f"{path} is missing: run `archc compile --env {env}` again") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ArchcError(f"{path} is not valid JSON ({e}): run `archc compile --env {env}` again") from None
        if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
            raise ArchcError(f"{path} is not a CloudFormation template (no Resources mapping): run `archc compile --env {env}` again")
        templates[t.id] = Template(t, body, hashlib.sha256(data).hexdigest())
    return Environment(out_dir, manifest, templates)


@dataclass
class Architecture:
    env: Environment
    nodes: dict[str, Node] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)

    @property
    def regions(self) -> list[str]:
        """Regions in the order the manifest deploys them, the edge region (CloudFront's) first when it holds a distribution."""
        drawn = {n.region for n in self.nodes.values()}
        order = list(dict.fromkeys(t.region for t in self.env.manifest.templates))
        order = [r for r in order if r in drawn] + sorted(drawn - set(order) - {EXTERNAL}) + sorted(drawn & {EXTERNAL})
        edge = [r for r in order if r in self.edge_regions]
        return edge + [r for r in order if r not in edge]

    @property
    def edge_regions(self) -> set[str]:
        """The regions holding a distribution (CloudFront's us-east-1)."""
        return {n.region for n in self.nodes.values() if n.kind == "distribution"}

    def add(self, link: Link) -> None:
        if link.source in self.nodes and link.target in self.nodes and link not in self.links:
            self.links.append(link)


def name_of(rtype: str, props: dict, lid: str, prefix: str = "") -> str:
    """A resource's name as people know it: the physical name the template fixes (without the app-env prefix), a
    distribution's domain, else its logical ID."""
    if rtype == "AWS::CloudFront::Distribution":  # known by its domain
        aliases = as_dict(props.get("DistributionConfig")).get("Aliases")
        aliases = [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []
        return aliases[0] if aliases else lid
    name = props.get(NAME_PROPERTY.get(rtype, ""))
    return name.removeprefix(prefix) if isinstance(name, str) and name else lid


class Resolver:
    """Which drawn resource a template value points at: Ref / GetAtt / ${X} in the same template, an Fn::ImportValue (by
    export name), an Fn::GetStackOutput, or a template parameter archc fills from another stack's output."""

    def __init__(self, env: Environment, nodes: dict[str, Node]):
        self.env, self.nodes = env, nodes

    def targets(self, t: Template, value: Any, depth: int = 0) -> list[str]:
        found: list[str] = []
        if depth > 6:
            return found
        parameters = as_dict(t.body.get("Parameters"))
        for name in sorted(names(value)):
            found += self._parameter(t, name, depth) if name in parameters else self._local(t, name, depth)
        for d in walk(value):
            if isinstance(d.get("Fn::ImportValue"), str):
                hit = self.env.exported(t.entry.region, d["Fn::ImportValue"])
                if hit:
                    found += self._output(hit[0], hit[1], depth)
            elif isinstance(d.get("Fn::GetStackOutput"), dict):
                g = d["Fn::GetStackOutput"]
                found += self._output(f"{g.get('Region') or t.entry.region}/{g.get('StackName')}", g.get("OutputName"), depth)
        return list(dict.fromkeys(found))

    def _local(self, t: Template, lid: str, depth: int) -> list[str]:
        nid = f"{t.entry.id}/{lid}"
        if nid in self.nodes:
            return [nid]
        res = t.resources.get(lid)
        if res is None:
            return []
        props = as_dict(res.get("Properties"))
        if res.get("Type") in ("AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::Lambda::Url"):  # a function by another name
            return self.targets(t, props.get("FunctionName") or props.get("TargetFunctionArn"), depth + 1)
        return []

    def _output(self, sid: str, key: str | None, depth: int) -> list[str]:
        t = self.env.templates.get(sid)
        return self.targets(t, t.outputs.get(key, {}).get("Value"), depth + 1) if t else []

    def _parameter(self, t: Template, name: str, depth: int) -> list[str]:
        edges = [e for e in self.env.manifest.edges if e.consumer == t.entry.id and e.kind == "Parameter" and e.fills == name]
        return [x for e in edges for x in self._output(e.producer, e.output, depth)]


def architecture(env: Environment) -> Architecture:
    """Every drawn resource of the environment and what flows between them."""
    arch = Architecture(env)
    prefix = f"{env.manifest.app}-{env.manifest.environment}-"
    for sid, t in sorted(env.templates.items()):
        for lid, res in sorted(t.resources.items()):
            kind = KIND_OF.get(res.get("Type", ""))
            if kind:
                nid = f"{sid}/{lid}"
                arch.nodes[nid] = Node(nid, kind, t.entry.region, t.entry.stack, lid, name_of(res["Type"], as_dict(res.get("Properties")), lid, prefix))
    resolve = Resolver(env, arch.nodes)
    for sid, t in sorted(env.templates.items()):
        for lid, res in sorted(t.resources.items()):
            props = as_dict(res.get("Properties"))
            rtype = res.get("Type")
            here = f"{sid}/{lid}"
            if rtype == "AWS::CloudFront::Distribution":
                _distribution(arch, resolve, t, here, as_dict(props.get("DistributionConfig")))
            elif rtype == "AWS::DynamoDB::GlobalTable":
                for replica in as_list(props.get("Replicas")):
                    region = replica.get("Region")
                    if isinstance(region, str) and region != t.entry.region:
                        node = arch.nodes[here]
                        rid = f"{region}/{t.entry.stack}/{lid}"
                        arch.nodes[rid] = Node(rid, "table", region, t.entry.stack, lid, node.name, replica_of=here)
                        arch.add(Link(here, rid, "replication", "global table"))
            elif rtype == "AWS::S3::Bucket":
                _bucket(arch, resolve, t, here, props)
            elif rtype == "AWS::SQS::Queue":
                redrive = props.get("RedrivePolicy")
                if isinstance(redrive, str):  # CloudFormation also takes it as a JSON string
                    try:
                        redrive = json.loads(redrive)
                    except ValueError:
                        redrive = {}
                redrive = as_dict(redrive)
                for target in resolve.targets(t, redrive.get("deadLetterTargetArn")):
                    arch.add(Link(here, target, "dead letter", f"after {redrive.get('maxReceiveCount')} receives"))
            elif rtype == "AWS::Lambda::EventSourceMapping":
                for source in resolve.targets(t, props.get("EventSourceArn")):
                    for fn in resolve.targets(t, props.get("FunctionName")):
                        arch.add(Link(source, fn, "event", f"batch {props['BatchSize']}" if "BatchSize" in props else ""))
            elif rtype == "AWS::RDS::DBInstance":
                for source in resolve.targets(t, props.get("SourceDBInstanceIdentifier")):
                    arch.add(Link(source, here, "replication", "read replica"))
                region = props.get("AutomaticBackupReplicationRegion")
                if isinstance(region, str) and region != t.entry.region:  # automated backups copied to that region
                    bid = f"{region}/{t.entry.stack}/{lid}#backups"
                    arch.nodes[bid] = Node(bid, "backups", region, t.entry.stack, lid, f"{arch.nodes[here].name} backups", replica_of=here)
                    days = props.get("AutomaticBackupReplicationRetentionPeriod")
                    arch.add(Link(here, bid, "backup copy", f"automated backups{f', {days} days' if days else ''}"))
            elif rtype == "AWS::Lambda::Function" and as_dict(props.get("DeadLetterConfig")).get("TargetArn"):
                for target in resolve.targets(t, props["DeadLetterConfig"]["TargetArn"]):
                    arch.add(Link(here, target, "dead letter", "failed async events"))
            elif rtype == "AWS::ECR::ReplicationConfiguration":
                _ecr(arch, t, props)
            elif rtype == "AWS::ApiGateway::Method":
                uri = as_dict(props.get("Integration")).get("Uri")
                for fn in resolve.targets(t, uri):
                    for api in resolve.targets(t, props.get("RestApiId")):
                        arch.add(Link(api, fn, "integration", "proxy"))
            elif rtype == "AWS::ApiGateway::Authorizer":
                for fn in resolve.targets(t, props.get("AuthorizerUri")):
                    for api in resolve.targets(t, props.get("RestApiId")):
                        arch.add(Link(api, fn, "authorizer", "authorizer"))
            elif rtype == "AWS::ApiGatewayV2::Integration":
                for fn in resolve.targets(t, props.get("IntegrationUri")):
                    for api in resolve.targets(t, props.get("ApiId")):
                        arch.add(Link(api, fn, "integration", "routes"))
    return arch


def _bucket(arch: Architecture, resolve: Resolver, t: Template, here: str, props: dict) -> None:
    notes = as_dict(props.get("NotificationConfiguration"))
    for key, field_name in (("QueueConfigurations", "Queue"), ("LambdaConfigurations", "Function")):
        for c in as_list(notes.get(key)):
            rules = as_list(as_dict(as_dict(c.get("Filter")).get("S3Key")).get("Rules"))
            where = " ".join(f"{r.get('Name')}={r.get('Value')}" for r in rules)
            label = f"{c.get('Event', '')} {where}".strip()
            for target in resolve.targets(t, c.get(field_name)):
                arch.add(Link(here, target, "event", label))
    for rule in as_list(as_dict(props.get("ReplicationConfiguration")).get("Rules")):
        destination = as_dict(rule.get("Destination"))
        for target in resolve.targets(t, destination.get("Bucket")):
            rtc = "RTC 15 min" if as_dict(destination.get("ReplicationTime")).get("Status") == "Enabled" else "replication"
            arch.add(Link(here, target, "replication", rtc))


def _ecr(arch: Architecture, t: Template, props: dict) -> None:
    """Registry replication: every repository of this region to the same repository in each destination region."""
    for rule in as_list(as_dict(props.get("ReplicationConfiguration")).get("Rules")):
        for dest in as_list(rule.get("Destinations")):
            region = dest.get("Region")
            for src in [n for n in arch.nodes.values() if n.kind == "repository" and n.region == t.entry.region]:
                for dst in [n for n in arch.nodes.values() if n.kind == "repository" and n.region == region and n.name == src.name]:
                    arch.add(Link(src.id, dst.id, "replication", "registry replication"))


def _distribution(arch: Architecture, resolve: Resolver, t: Template, here: str, config: dict) -> None:
    origins = {o.get("Id"): o for o in as_list(config.get("Origins")) if isinstance(o.get("Id"), str)}
    groups = {g.get("Id"): [m.get("OriginId") for m in as_list(as_dict(g.get("Members")).get("Items"))]
              for g in as_list(as_dict(config.get("OriginGroups")).get("Items")) if isinstance(g.get("Id"), str)}

    def origin_nodes(origin_id: str) -> list[str]:
        domain = as_dict(origins.get(origin_id)).get("DomainName") if origin_id in origins else None
        if isinstance(domain, str):  # a server outside the templates
            nid = f"{EXTERNAL}/{domain}"
            arch.nodes.setdefault(nid, Node(nid, "origin server", EXTERNAL, "", domain, domain))
            return [nid]
        return resolve.targets(t, domain)

    behaviors = [("default (*)", as_dict(config.get("DefaultCacheBehavior")))]
    behaviors += [(str(b.get("PathPattern", "?")), b) for b in as_list(config.get("CacheBehaviors"))]
    patterns: dict[tuple[str, str], list[str]] = {}
    for pattern, b in behaviors:
        target = b.get("TargetOriginId")
        if not isinstance(target, str):
            continue
        for i, origin_id in enumerate(groups.get(target, [target])):
            for node in origin_nodes(origin_id):
                patterns.setdefault((node, "origin" if i == 0 else "failover"), []).append(pattern)
        for assoc in as_list(b.get("LambdaFunctionAssociations")):
            for fn in resolve.targets(t, assoc.get("LambdaFunctionARN")):
                _as_edge(arch, fn)
                arch.add(Link(fn, here, "edge", f"{assoc.get('EventType')} {pattern}"))
        for assoc in as_list(b.get("FunctionAssociations")):
            for fn in resolve.targets(t, assoc.get("FunctionARN")):
                arch.add(Link(fn, here, "edge", f"{assoc.get('EventType')} {pattern}"))
    for (node, kind), pats in sorted(patterns.items()):
        arch.add(Link(here, node, kind, ", ".join(pats)))


def _as_edge(arch: Architecture, nid: str) -> None:
    """A Lambda function a distribution runs is an edge function."""
    n = arch.nodes[nid]
    if n.kind == "function":
        arch.nodes[nid] = Node(n.id, "edge function", n.region, n.stack, n.logical_id, n.name)
