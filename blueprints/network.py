"""The network stack: VPC over 2-3 AZs with public, private-app and private-data subnets, NAT, endpoints, flow logs."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import logs as alogs
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import AccountId, GetAtt, GetAZs, Join, Ref, Select, Sub, Tags, ec2, iam

from compiler.context import Context
from compiler.spec import Network
from compiler.spec.network import GATEWAY_ENDPOINTS, ExistingVpc

from .secure import kms_key, log_group

CONCERN = "network"
AZ_LETTERS = "ABC"
# CDK's "disallow all egress" rule: a security group without it allows all outbound traffic.
NO_EGRESS = ec2.SecurityGroupRule(CidrIp="255.255.255.255/32", IpProtocol="icmp", FromPort=252, ToPort=86,
                                  Description="no outbound traffic")


def build(net: Network, ctx: Context) -> Iterable[Any]:
    if net.existing is not None:
        yield from _existing(net, net.existing[ctx.region], ctx)
        return
    name = ctx.prefix
    vpc = ec2.VPC("NetworkVpc", CidrBlock=str(net.region_cidr(ctx.primary)), EnableDnsHostnames=True, EnableDnsSupport=True, Tags=Tags(Name=name))
    igw = ec2.InternetGateway("NetworkInternetGateway", Tags=Tags(Name=name))
    attach = ec2.VPCGatewayAttachment("NetworkInternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw))
    yield from (vpc, igw, attach)

    subnets: dict[str, list[ec2.Subnet]] = {}
    for tier, cidrs in net.subnets(ctx.primary).items():
        subnets[tier] = []
        for i, cidr in enumerate(cidrs):
            az = AZ_LETTERS[i]
            subnet = ec2.Subnet(f"Network{tier.capitalize()}Subnet{az}", VpcId=Ref(vpc), CidrBlock=cidr,
                                AvailabilityZone=Select(i, GetAZs("")), MapPublicIpOnLaunch=False,
                                Tags=Tags(Name=f"{name}-{tier}-{az.lower()}", Tier=tier))
            subnets[tier].append(subnet)
            yield subnet

    public_rt = ec2.RouteTable("NetworkPublicRouteTable", VpcId=Ref(vpc), Tags=Tags(Name=f"{name}-public"))
    yield public_rt
    yield ec2.Route("NetworkPublicDefaultRoute", RouteTableId=Ref(public_rt), DestinationCidrBlock="0.0.0.0/0",
                    GatewayId=Ref(igw), DependsOn=attach.title)
    for i, subnet in enumerate(subnets["public"]):
        yield ec2.SubnetRouteTableAssociation(f"NetworkPublicSubnet{AZ_LETTERS[i]}RouteTableAssociation",
                                              SubnetId=Ref(subnet), RouteTableId=Ref(public_rt))

    nats = []
    for i in range(net.nat_gateways):
        az = AZ_LETTERS[i]
        eip = ec2.EIP(f"NetworkNat{az}Eip", Domain="vpc", Tags=Tags(Name=f"{name}-nat-{az.lower()}"), DependsOn=attach.title)
        nat = ec2.NatGateway(f"NetworkNat{az}Gateway", AllocationId=GetAtt(eip, "AllocationId"),
                             SubnetId=Ref(subnets["public"][i]), Tags=Tags(Name=f"{name}-nat-{az.lower()}"))
        nats.append(nat)
        yield from (eip, nat)

    # App subnets reach the internet through a NAT (the one in their AZ when there is one per AZ);
    # data subnets have no route out at all.
    private_rts = []
    for i, subnet in enumerate(subnets["app"]):
        az = AZ_LETTERS[i]
        rt = ec2.RouteTable(f"NetworkApp{az}RouteTable", VpcId=Ref(vpc), Tags=Tags(Name=f"{name}-app-{az.lower()}"))
        private_rts.append(rt)
        yield rt
        if nats:
            yield ec2.Route(f"NetworkApp{az}DefaultRoute", RouteTableId=Ref(rt), DestinationCidrBlock="0.0.0.0/0",
                            NatGatewayId=Ref(nats[i % len(nats)]))
        yield ec2.SubnetRouteTableAssociation(f"NetworkAppSubnet{az}RouteTableAssociation", SubnetId=Ref(subnet), RouteTableId=Ref(rt))
    data_rt = ec2.RouteTable("NetworkDataRouteTable", VpcId=Ref(vpc), Tags=Tags(Name=f"{name}-data"))
    private_rts.append(data_rt)
    yield data_rt
    for i, subnet in enumerate(subnets["data"]):
        yield ec2.SubnetRouteTableAssociation(f"NetworkDataSubnet{AZ_LETTERS[i]}RouteTableAssociation",
                                              SubnetId=Ref(subnet), RouteTableId=Ref(data_rt))

    app_sg, data_sg = _app_security_group(Ref(vpc), name), _data_security_group(Ref(vpc), name)
    yield from (app_sg, data_sg)

    yield from _endpoints(net, ctx, Ref(vpc), [Ref(rt) for rt in private_rts], [Ref(s) for s in subnets["app"]],
                          ec2.SecurityGroupRule(CidrIp=str(net.region_cidr(ctx.primary)), IpProtocol="tcp", FromPort=443, ToPort=443,
                                                Description="HTTPS from inside the VPC"))

    yield from _flow_logs(net, ctx, vpc)

    yield ctx.output("VpcId", Ref(vpc), "VPC")
    yield ctx.output("VpcCidr", GetAtt(vpc, "CidrBlock"), "VPC CIDR")
    for tier, label in (("public", "Public"), ("app", "App"), ("data", "Data")):
        yield ctx.output(f"{label}SubnetIds", Join(",", [Ref(s) for s in subnets[tier]]), f"{tier} subnets, one per AZ, comma-separated")
    yield ctx.output("AppSecurityGroupId", Ref(app_sg), "security group of the application tier")
    yield ctx.output("DataSecurityGroupId", Ref(data_sg), "security group of the data tier")


def _existing(net: Network, vpc: ExistingVpc, ctx: Context) -> Iterable[Any]:
    """Someone else's VPC: archc adds the security groups and endpoints the spec asks for, and passes the ids on."""
    name = ctx.prefix
    app_sg: Any = vpc.security_group_id
    if app_sg is None:
        sg = _app_security_group(vpc.vpc_id, name)
        yield sg
        app_sg = Ref(sg)
    # Gateway endpoints only: the spec refuses interface endpoints here (their private DNS is VPC-wide).
    yield from _endpoints(net, ctx, vpc.vpc_id, list(vpc.route_table_ids), [], None)
    yield ctx.output("VpcId", vpc.vpc_id, "VPC (existing)")
    yield ctx.output("AppSubnetIds", ",".join(vpc.subnet_ids), "private subnets of the application tier, comma-separated")
    yield ctx.output("AppSecurityGroupId", app_sg, "security group of the application tier")
    if ctx.spec.database is not None:
        data_sg = _data_security_group(vpc.vpc_id, name)
        yield data_sg
        yield ctx.output("DataSubnetIds", ",".join(vpc.data_subnet_ids or vpc.subnet_ids), "private subnets of the data tier, comma-separated")
        yield ctx.output("DataSecurityGroupId", Ref(data_sg), "security group of the data tier")


def _app_security_group(vpc: Any, name: str) -> ec2.SecurityGroup:
    return ec2.SecurityGroup("NetworkAppSecurityGroup", VpcId=vpc, GroupDescription=f"{name} application tier (Lambda)",
                             SecurityGroupEgress=[ec2.SecurityGroupRule(CidrIp="0.0.0.0/0", IpProtocol="tcp", FromPort=443, ToPort=443,
                                                                        Description="HTTPS to AWS APIs and the internet")],
                             Tags=Tags(Name=f"{name}-app"))


def _data_security_group(vpc: Any, name: str) -> ec2.SecurityGroup:
    return ec2.SecurityGroup("NetworkDataSecurityGroup", VpcId=vpc, GroupDescription=f"{name} data tier (database)",
                             SecurityGroupEgress=[NO_EGRESS], Tags=Tags(Name=f"{name}-data"))


def _endpoints(net: Network, ctx: Context, vpc: Any, route_tables: list[Any], subnets: list[Any],
               ingress: ec2.SecurityGroupRule | None) -> Iterable[Any]:
    """Gateway endpoints in the private route tables; interface endpoints in the app subnets behind their own group."""
    for service in (e for e in net.vpc_endpoints if e in GATEWAY_ENDPOINTS):
        yield ec2.VPCEndpoint(f"Network{_endpoint_id(service)}Endpoint", VpcId=vpc, VpcEndpointType="Gateway",
                              ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"), RouteTableIds=route_tables)
    interface = [e for e in net.vpc_endpoints if e not in GATEWAY_ENDPOINTS]
    if interface:
        endpoint_sg = ec2.SecurityGroup(
            "NetworkEndpointSecurityGroup", VpcId=vpc, GroupDescription=f"{ctx.prefix} interface VPC endpoints",
            SecurityGroupIngress=[ingress], SecurityGroupEgress=[NO_EGRESS], Tags=Tags(Name=f"{ctx.prefix}-endpoints"))
        yield endpoint_sg
        for service in interface:
            yield ec2.VPCEndpoint(f"Network{_endpoint_id(service)}Endpoint", VpcId=vpc, VpcEndpointType="Interface",
                                  ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"), PrivateDnsEnabled=True,
                                  SubnetIds=subnets, SecurityGroupIds=[Ref(endpoint_sg)])


def _flow_logs(net: Network, ctx: Context, vpc: ec2.VPC) -> Iterable[Any]:
    key = kms_key("NetworkLogsKey", f"{ctx.prefix} network log encryption", log_groups=(f"/archc/{ctx.prefix}/*",))
    group = log_group("NetworkFlowLogGroup", f"/archc/{ctx.prefix}/vpc-flow-logs", net.flow_logs.retention_days, key)
    role = iam.Role(
        "NetworkFlowLogRole",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "vpc-flow-logs.amazonaws.com"), Action=[AssumeRole],
            Condition=Condition(StringEquals({"aws:SourceAccount": AccountId})))]),
        Policies=[iam.Policy(PolicyName="write-flow-logs", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Action=[alogs.CreateLogStream, alogs.PutLogEvents, alogs.DescribeLogStreams],
            Resource=[GetAtt(group, "Arn")])]))])
    flow = ec2.FlowLog("NetworkFlowLog", ResourceId=Ref(vpc), ResourceType="VPC", TrafficType=net.flow_logs.traffic,
                       LogDestinationType="cloud-watch-logs", LogGroupName=Ref(group), DeliverLogsPermissionArn=GetAtt(role, "Arn"),
                       MaxAggregationInterval=60)
    yield from (key, group, role, flow)


def _endpoint_id(service: str) -> str:
    return "".join(p.capitalize() for p in service.replace("-", ".").split("."))
