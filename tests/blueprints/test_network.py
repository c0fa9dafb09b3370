"""Network stack: subnet tiers per AZ, NAT per environment, endpoints, flow logs, locked-down security groups."""

import ipaddress

import pytest

from compiler.spec.network import Network, SubnetPrefixes, plan_subnets

from ..conftest import props, resources


def net(templates, env, region="ap-northeast-1"):
    return templates[(env, region, f"fillup-{env}-network")]


@pytest.mark.parametrize("env,azs,nats", [("dev", 2, 1), ("staging", 3, 1), ("prod", 3, 3)])
def test_azs_and_nat_gateways_per_environment(templates, env, azs, nats):
    t = net(templates, env)
    assert len(resources(t, "AWS::EC2::Subnet")) == 3 * azs
    assert len(resources(t, "AWS::EC2::NatGateway")) == nats


def test_prod_routes_each_app_subnet_through_its_own_az_nat(templates):
    t = net(templates, "prod")
    for az in "ABC":
        route = props(t, f"NetworkApp{az}DefaultRoute")
        assert route["NatGatewayId"] == {"Ref": f"NetworkNat{az}Gateway"}


def test_data_subnets_have_no_route_out(templates):
    t = net(templates, "prod")
    routes = resources(t, "AWS::EC2::Route").values()
    assert not any(r["Properties"]["RouteTableId"] == {"Ref": "NetworkDataRouteTable"} for r in routes)


def test_subnets_fit_the_vpc_and_do_not_overlap(templates):
    t = net(templates, "prod")
    vpc = ipaddress.ip_network(props(t, "NetworkVpc")["CidrBlock"])
    cidrs = [ipaddress.ip_network(r["Properties"]["CidrBlock"]) for r in resources(t, "AWS::EC2::Subnet").values()]
    assert all(c.subnet_of(vpc) for c in cidrs)
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:])


def test_no_subnet_assigns_public_ips(templates):
    t = net(templates, "prod")
    assert all(r["Properties"]["MapPublicIpOnLaunch"] is False for r in resources(t, "AWS::EC2::Subnet").values())


def test_adding_an_az_keeps_the_existing_subnets(templates):
    dev, prod = net(templates, "dev"), net(templates, "prod")
    for lid in ("NetworkPublicSubnetA", "NetworkAppSubnetB", "NetworkDataSubnetA"):
        assert props(dev, lid)["CidrBlock"] == props(prod, lid)["CidrBlock"]


def test_vpc_endpoints(templates):
    t = net(templates, "prod")
    eps = {lid: r["Properties"] for lid, r in resources(t, "AWS::EC2::VPCEndpoint").items()}
    assert eps["NetworkS3Endpoint"]["VpcEndpointType"] == "Gateway"
    for lid in ("NetworkEcrApiEndpoint", "NetworkEcrDkrEndpoint", "NetworkSecretsmanagerEndpoint"):
        assert eps[lid]["VpcEndpointType"] == "Interface" and eps[lid]["PrivateDnsEnabled"] is True


def test_flow_logs_go_to_an_encrypted_retained_log_group(templates):
    t = net(templates, "prod")
    flow = props(t, "NetworkFlowLog")
    assert flow["TrafficType"] == "ALL" and flow["ResourceType"] == "VPC"
    group = t["Resources"]["NetworkFlowLogGroup"]
    assert group["Properties"]["RetentionInDays"] == 90 and "KmsKeyId" in group["Properties"]
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"


def test_data_security_group_has_no_egress_and_no_open_ingress(templates):
    t = net(templates, "prod")
    data = props(t, "NetworkDataSecurityGroup")
    assert "SecurityGroupIngress" not in data
    assert [r["CidrIp"] for r in data["SecurityGroupEgress"]] == ["255.255.255.255/32"]


def test_database_accepts_postgres_only_from_the_app_group(templates):
    t = templates[("prod", "ap-northeast-1", "fillup-prod-data")]
    [ingress] = resources(t, "AWS::EC2::SecurityGroupIngress").values()
    p = ingress["Properties"]
    assert (p["FromPort"], p["ToPort"], p["IpProtocol"]) == (5432, 5432, "tcp")
    assert p["SourceSecurityGroupId"] == {"Fn::ImportValue": "fillup-prod-network-AppSecurityGroupId"}
    assert p["GroupId"] == {"Fn::ImportValue": "fillup-prod-network-DataSecurityGroupId"}


def test_dr_region_gets_its_own_network(templates):
    assert ("prod", "us-west-2", "fillup-prod-network") in templates


def test_subnet_plan_refuses_what_does_not_fit():
    with pytest.raises(ValueError):
        plan_subnets(ipaddress.ip_network("10.0.0.0/22"), SubnetPrefixes(public=24, app=24, data=24))


def test_subnet_plan_is_aligned():
    plan = plan_subnets(ipaddress.ip_network("10.0.0.0/16"), SubnetPrefixes())
    assert plan["app"][0] == "10.0.0.0/20" and plan["public"][0] == "10.0.48.0/24"
    assert Network().subnets()["data"] == ["10.0.51.0/24", "10.0.52.0/24", "10.0.53.0/24"]
