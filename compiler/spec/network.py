"""The `network:` section: VPC CIDR, AZs, subnet tiers, NAT gateways, VPC endpoints, flow logs."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues
from .regions import retention_issues

TIERS = ("public", "app", "data")
# Subnets are planned for this many AZ slots whatever `azs` is, so going from 2 to 3 AZs adds
# subnets without moving the existing ones (a moved CIDR is a replaced subnet).
AZ_SLOTS = 3
GATEWAY_ENDPOINTS = ("s3", "dynamodb")
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "secretsmanager", "logs", "sqs", "kms", "sts", "monitoring", "lambda")
Endpoint = Literal["s3", "dynamodb", "ecr.api", "ecr.dkr", "secretsmanager", "logs", "sqs", "kms", "sts", "monitoring", "lambda"]


class SubnetPrefixes(StrictModel):
    """Prefix length of each tier's subnets (one per AZ)."""

    public: int = Field(24, ge=16, le=28)
    app: int = Field(20, ge=16, le=28)
    data: int = Field(24, ge=16, le=28)


class FlowLogs(StrictModel):
    retention_days: int = 90
    traffic: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"

    @model_validator(mode="after")
    def _retention(self):
        raise_issues(retention_issues(("retention_days",), self.retention_days))
        return self


class ExistingVpc(StrictModel):
    """A VPC someone else manages in one region: archc only adds what the spec asks inside it."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="private subnets (in at least two AZs) for functions and interface endpoints")
    data_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] | None = Field(
        None, min_length=2, description="private subnets for the database; default: subnet_ids")
    security_group_id: str | None = Field(None, pattern=r"^sg-[0-9a-f]{8,17}$",
                                          description="the functions' security group; default: archc creates one (HTTPS out only)")
    route_table_ids: list[Annotated[str, Field(pattern=r"^rtb-[0-9a-f]{8,17}$")]] = Field(
        default_factory=list, description="route tables of the private subnets, for gateway endpoints (s3, dynamodb)")


NEW_VPC_ONLY = ("cidr", "dr_cidr", "azs", "nat_gateways", "subnet_prefix", "flow_logs")


class Network(StrictModel):
    # YAML gives the CIDR as text: parsed in lax mode, everything else in the spec is strict ("20" is not 20).
    cidr: ipaddress.IPv4Network = Field(ipaddress.IPv4Network("10.0.0.0/16"), strict=False, description="VPC CIDR, /16 to /24")
    dr_cidr: ipaddress.IPv4Network | None = Field(None, strict=False, description=(
        "the DR region's VPC CIDR; default: the block of the same size after `cidr` (two VPCs that may one day be "
        "peered must not overlap)"))
    azs: int = Field(3, ge=2, le=AZ_SLOTS, description="availability zones used (2 or 3)")
    nat_gateways: int = Field(1, ge=0, description="NAT gateways; 0 leaves private subnets with VPC endpoints only")
    subnet_prefix: SubnetPrefixes = SubnetPrefixes()
    endpoints: list[Endpoint] | None = Field(None, description="VPC endpoints archc creates; default: s3, ecr.api, ecr.dkr and "
                                             "secretsmanager in a new VPC, none in an existing one")
    flow_logs: FlowLogs = FlowLogs()
    existing: dict[str, ExistingVpc] | None = Field(None, description=(
        "region -> a VPC that already exists there, used instead of creating one (every region of the spec needs one)"))

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if self.nat_gateways > self.azs:
            issues.append(Issue("S201", ("nat_gateways",),
                                f"{self.nat_gateways} NAT gateways over {self.azs} AZs: a NAT gateway lives in one AZ's public subnet, use at most {self.azs}"))
        # Each region's VPC: a size archc plans for, room for every subnet (a subnet that does not fit the primary's
        # block is a subnet_prefix mistake), and the DR block clear of the primary's.
        for field, block, misfit in (("cidr", self.cidr, "subnet_prefix"), ("dr_cidr", self.dr_cidr, "dr_cidr")):
            if block is None:
                continue
            if not 16 <= block.prefixlen <= 24:
                issues.append(Issue("S202", (field,), f"a VPC CIDR must be /16 to /24 here, got /{block.prefixlen}"))
            elif field == "dr_cidr" and block.overlaps(self.cidr):
                issues.append(Issue("S255", (field,), f"{block} overlaps the primary VPC's {self.cidr}: VPCs with overlapping "
                                    f"CIDRs can never be peered or routed to each other; use e.g. {next_block(self.cidr)}"))
            else:
                try:
                    plan_subnets(block, self.subnet_prefix)
                except ValueError as e:
                    issues.append(Issue("S202", (misfit,), str(e)))
        if len(set(self.vpc_endpoints)) != len(self.vpc_endpoints):
            issues.append(Issue("S105", ("endpoints",), "each endpoint may be listed once"))
        if self.existing is not None:
            for field in NEW_VPC_ONLY:
                if field in self.model_fields_set:
                    issues.append(Issue("S250", (field,), f"{field} describes a VPC archc creates; with `existing:` archc does not create one: "
                                        "remove it"))
            interface = [e for e in self.vpc_endpoints if e not in GATEWAY_ENDPOINTS]
            if interface:
                issues.append(Issue("S250", ("endpoints",), f"interface endpoints ({', '.join(interface)}) with private DNS change what the "
                                    "service's name resolves to for everything in the VPC, and fail where the VPC already has one: "
                                    "in an existing VPC archc creates gateway endpoints (s3, dynamodb) only"))
            for region, vpc in self.existing.items():
                for field in ("subnet_ids", "data_subnet_ids", "route_table_ids"):
                    ids = getattr(vpc, field) or []
                    if len(set(ids)) != len(ids):
                        issues.append(Issue("S250", ("existing", region, field), "each id may be listed once"))
            if any(e in GATEWAY_ENDPOINTS for e in self.vpc_endpoints):
                for region, vpc in self.existing.items():
                    if not vpc.route_table_ids:
                        issues.append(Issue("S250", ("existing", region, "route_table_ids"),
                                            "a gateway endpoint (s3, dynamodb) is a route in the private subnets' route tables: list them"))
        raise_issues(issues)
        return self

    @property
    def vpc_endpoints(self) -> list[str]:
        if self.endpoints is not None:
            return list(self.endpoints)
        return [] if self.existing is not None else ["s3", "ecr.api", "ecr.dkr", "secretsmanager"]

    def region_cidr(self, primary: bool) -> ipaddress.IPv4Network:
        """The primary region's VPC CIDR, or the DR region's (its own block by default)."""
        return self.cidr if primary else (self.dr_cidr or next_block(self.cidr))

    def subnets(self, primary: bool = True) -> dict[str, list[str]]:
        """Subnet CIDRs per tier, one per AZ in use."""
        plan = plan_subnets(self.region_cidr(primary), self.subnet_prefix)
        return {tier: cidrs[: self.azs] for tier, cidrs in plan.items()}


def next_block(cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    """The block of the same size right after `cidr` (10.0.0.0/16 -> 10.1.0.0/16), or right before it at the top of the space."""
    size = cidr.num_addresses
    start = int(cidr.network_address) + size
    if start + size > 2 ** 32:
        start = int(cidr.network_address) - size
    return ipaddress.IPv4Network((start, cidr.prefixlen))


def plan_subnets(cidr: ipaddress.IPv4Network, prefixes: SubnetPrefixes) -> dict[str, list[str]]:
    """Carve AZ_SLOTS subnets per tier out of the CIDR, largest blocks first so every block stays aligned."""
    order = sorted(TIERS, key=lambda t: (getattr(prefixes, t), TIERS.index(t)))
    cursor = int(cidr.network_address)
    end = int(cidr.broadcast_address) + 1
    plan: dict[str, list[str]] = {}
    for tier in order:
        prefix = getattr(prefixes, tier)
        if prefix < cidr.prefixlen:
            raise ValueError(f"a /{prefix} {tier} subnet is larger than the /{cidr.prefixlen} VPC")
        size = 2 ** (32 - prefix)
        plan[tier] = []
        for _ in range(AZ_SLOTS):
            if cursor + size > end:
                need = sum(AZ_SLOTS * 2 ** (32 - getattr(prefixes, t)) for t in TIERS)
                raise ValueError(f"{AZ_SLOTS} AZ slots x 3 tiers need {need} addresses but {cidr} has {cidr.num_addresses}; "
                                 "use smaller subnets (a larger prefix) or a larger VPC CIDR")
            plan[tier].append(str(ipaddress.IPv4Network((cursor, prefix))))
            cursor += size
    return {t: plan[t] for t in TIERS}
