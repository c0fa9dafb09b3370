"""Edge tier: us-east-1 edge stack, distribution with origin failover, Lambda@Edge versions, WAF, DNS; web buckets."""

import json
import zipfile

import pytest

from compiler.app import compile_app
from compiler.assets import edge_package
from compiler.loader import load
from compiler.validate import validate

from ..conftest import SHIPPED, props, resources

ENVS = ["dev", "staging", "prod"]


def edge(templates, env="prod"):
    return templates[(env, "us-east-1", f"fillup-{env}-edge")]


def dist(templates, env="prod"):
    return props(edge(templates, env), "EdgeDistribution")["DistributionConfig"]


@pytest.mark.parametrize("env", ENVS)
def test_edge_stack_is_in_us_east_1_with_its_own_alarm_topic(templates, env):
    t = edge(templates, env)
    assert "EdgeDistribution" in t["Resources"]
    assert (env, "us-east-1", f"fillup-{env}-alarms") in templates
    [alarm] = resources(t, "AWS::CloudWatch::Alarm").values()
    p = alarm["Properties"]
    assert (p["Namespace"], p["MetricName"], p["Statistic"]) == ("AWS/CloudFront", "5xxErrorRate", "Average")
    assert {"Name": "Region", "Value": "Global"} in p["Dimensions"]
    assert p["AlarmActions"] == [{"Fn::ImportValue": f"fillup-{env}-alarms-TopicArn"}]


def test_origin_groups_have_two_members_and_the_right_failover_codes(templates):
    groups = {g["Id"]: g for g in dist(templates)["OriginGroups"]["Items"]}
    images, api = groups["images-group"], groups["api-group"]
    assert [m["OriginId"] for m in images["Members"]["Items"]] == ["images-cache", "images-api"]
    assert images["FailoverCriteria"]["StatusCodes"]["Items"] == [403, 404, 500, 502, 503, 504]
    assert [m["OriginId"] for m in api["Members"]["Items"]] == ["api", "api-dr"]
    assert api["FailoverCriteria"]["StatusCodes"]["Items"] == [500, 502, 503, 504]
    for g in groups.values():
        assert g["Members"]["Quantity"] == len(g["Members"]["Items"]) == 2


def test_group_behaviors_read_only_and_writes_straight_to_the_primary_api(templates):
    config = dist(templates)
    groups = {g["Id"] for g in config["OriginGroups"]["Items"]}
    by_path = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    for b in config["CacheBehaviors"]:
        if b["TargetOriginId"] in groups:
            assert set(b["AllowedMethods"]) <= {"GET", "HEAD", "OPTIONS"}, b["PathPattern"]
    assert by_path["/api/echo"]["TargetOriginId"] == "api" and "POST" in by_path["/api/echo"]["AllowedMethods"]
    assert by_path["/api/health"]["TargetOriginId"] == "api-group"
    for path in ("/api/echo", "/api/health", "/api/*"):
        assert by_path[path]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        assert by_path[path]["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader


def test_api_origins_come_from_both_regions(templates):
    origins = {o["Id"]: o for o in dist(templates)["Origins"]}
    assert origins["api"]["DomainName"] == {"Fn::GetStackOutput": {"StackName": "fillup-prod-api", "OutputName": "RestApiDomain", "Region": "ap-northeast-1"}}
    assert origins["api-dr"]["DomainName"]["Fn::GetStackOutput"]["Region"] == "us-west-2"
    assert origins["api"]["OriginPath"] == "/prod" and origins["images-api"]["OriginPath"] == "/prod/api"
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_s3_origins_use_oac_and_the_cache_prefix(templates):
    origins = {o["Id"]: o for o in dist(templates)["Origins"]}
    for oid in ("site", "images-cache"):
        assert origins[oid]["OriginAccessControlId"] == {"Fn::GetAtt": ["EdgeS3AccessControl", "Id"]}
        assert origins[oid]["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert origins["images-cache"]["OriginPath"] == "/processed"


def test_site_behaviors_spa_tls_http3_logging(templates):
    config = dist(templates)
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # HTML not cached
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https" and config["DefaultCacheBehavior"]["Compress"]
    assets = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/assets/*")
    policy = props(edge(templates), "EdgeAssetsCachePolicy")["CachePolicyConfig"]
    assert assets["CachePolicyId"] == {"Ref": "EdgeAssetsCachePolicy"} and policy["DefaultTTL"] == 31536000
    assert [(e["ErrorCode"], e["ResponsePagePath"], e["ErrorCachingMinTTL"]) for e in config["CustomErrorResponses"]] == \
        [(403, "/index.html", 10), (404, "/index.html", 10)]
    assert config["ViewerCertificate"] == {"AcmCertificateArn": {"Ref": "EdgeCertificate"}, "MinimumProtocolVersion": "TLSv1.2_2021",
                                           "SslSupportMethod": "sni-only"}
    assert config["HttpVersion"] == "http2and3" and config["IPV6Enabled"] is True and config["PriceClass"] == "PriceClass_200"
    assert config["Logging"]["Bucket"]["Fn::GetStackOutput"]["OutputName"] == "LogsBucketDomain"


def test_certificate_dns_and_aliases(templates):
    t = edge(templates)
    cert = props(t, "EdgeCertificate")
    assert cert["ValidationMethod"] == "DNS" and cert["DomainValidationOptions"][0]["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    for kind in ("A", "AAAA"):
        r = props(t, f"Edge{kind}Record")
        assert r["AliasTarget"]["HostedZoneId"] == "Z2FDTNDATAQYW2" and r["AliasTarget"]["EvaluateTargetHealth"] is False
    assert dist(templates, "dev")["Aliases"] == ["dev.app.example.com"]


def test_waf_in_prod_and_not_in_dev(templates):
    acl = props(edge(templates), "EdgeWebAcl")
    assert acl["Scope"] == "CLOUDFRONT"
    names = [r["Name"] for r in acl["Rules"]]
    assert names == ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "rate-limit-per-ip"]
    assert acl["Rules"][-1]["Statement"]["RateBasedStatement"]["Limit"] == 2000
    assert dist(templates)["WebACLId"] == {"Fn::GetAtt": ["EdgeWebAcl", "Arn"]}
    assert "EdgeWebAcl" not in edge(templates, "dev")["Resources"] and "WebACLId" not in dist(templates, "dev")


def test_edge_functions_versions_roles_and_limits(templates):
    t = edge(templates)
    functions = resources(t, "AWS::Lambda::Function")
    assert set(functions) == {"EdgeViewerRequestFunction", "EdgeOriginResponseFunction"}
    for lid, f in functions.items():
        p = f["Properties"]
        assert f["DeletionPolicy"] == "Retain"
        assert p["Architectures"] == ["x86_64"] and "Environment" not in p and "VpcConfig" not in p
        assert "TracingConfig" not in p and "DeadLetterConfig" not in p
        role = props(t, p["Role"]["Fn::GetAtt"][0])
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]}
    viewer = functions["EdgeViewerRequestFunction"]["Properties"]
    assert (viewer["MemorySize"], viewer["Timeout"]) == (128, 5)
    versions = resources(t, "AWS::Lambda::Version")
    assert len(versions) == 2 and all(v["DeletionPolicy"] == "Retain" for v in versions.values())
    assocs = {a["EventType"]: a["LambdaFunctionARN"] for b in dist(templates)["CacheBehaviors"] for a in b.get("LambdaFunctionAssociations", [])}
    assert set(assocs) == {"viewer-request", "origin-response"}
    for ref in assocs.values():
        assert ref["Ref"] in versions


def test_edge_roles_are_least_privilege(templates):
    t = edge(templates)
    viewer = props(t, "EdgeViewerRequestRole")["Policies"][0]["PolicyDocument"]["Statement"]
    sids = {s["Sid"]: s for s in viewer}
    assert sids["SigningKey"]["Resource"][0]["Fn::Sub"].endswith(":parameter/fillup/prod/edge/url-signing-key")
    assert sids["SigningKeyDecrypt"]["Condition"]["StringEquals"]["kms:ViaService"] == "ssm.us-east-1.amazonaws.com"
    response = {s["Sid"]: s for s in props(t, "EdgeOriginResponseRole")["Policies"][0]["PolicyDocument"]["Statement"]}
    assert response["WriteBack"]["Action"] == ["s3:PutObject"]
    assert response["WriteBack"]["Resource"][0]["Fn::Sub"].endswith(":s3:::fillup-prod-images-ap-northeast-1/processed/*")


def test_signing_secret_is_not_in_any_template_or_package(templates, compiled):
    for key, t in templates.items():
        text = json.dumps(t)
        assert "SecureString" not in text
    asset = next(a for a in compiled["manifests"]["prod"]["assets"] if a["function"] == "@edge")
    package = zipfile.ZipFile(compiled["out"] / "prod" / asset["path"])
    config = json.loads(package.read("config.json"))
    assert config["signing"]["parameter"] == "/fillup/prod/edge/url-signing-key" and "key" not in config["signing"]
    assert config["write_back"]["bucket"] == "fillup-prod-images-ap-northeast-1"
    assert {"viewer_request.py", "origin_response.py", "signing.py", "config.py"} <= set(package.namelist())


def test_new_edge_code_gets_new_version_ids(tmp_path):
    import shutil

    spec = validate(load(SHIPPED)).specs["prod"]
    root = tmp_path / "handlers"
    shutil.copytree(SHIPPED.parent / "handlers" / "edge", root / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    before = edge_package(spec, "prod", root)
    (root / "edge" / "viewer_request.py").write_text((root / "edge" / "viewer_request.py").read_text() + "\n# new\n")
    after = edge_package(spec, "prod", root)
    assert before.sha256 != after.sha256

    def version_ids(asset):
        app = compile_app(spec, "prod", assets={"api": asset, "ws": asset, "@edge": asset})
        return {lid for lid in app.stacks["us-east-1/fillup-prod-edge"].template.resources if "Version" in lid}

    old, new = version_ids(before), version_ids(after)
    assert old and new and not old & new


def test_buckets_private_versioned_encrypted_logged_and_expiring(templates):
    t = templates[("prod", "ap-northeast-1", "fillup-prod-web")]
    for lid in ("WebSiteBucket", "WebImagesBucket", "WebLogsBucket"):
        b = t["Resources"][lid]
        p = b["Properties"]
        assert b["DeletionPolicy"] == b["UpdateReplacePolicy"] == "Retain"
        assert p["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    rules = {r["Id"]: r for r in props(t, "WebSiteBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    cache = {r["Id"]: r for r in props(t, "WebImagesBucket")["LifecycleConfiguration"]["Rules"]}
    assert cache["expire-cache"]["Prefix"] == "processed/" and cache["expire-cache"]["ExpirationInDays"] == 30
    assert props(t, "WebSiteBucket")["LoggingConfiguration"]["LogFilePrefix"] == "s3/site/"


def test_bucket_policies_trust_only_this_distribution_over_tls(templates, compiled):
    t = templates[("prod", "ap-northeast-1", "fillup-prod-web-access")]
    for lid in ("WebSiteBucketPolicy", "WebImagesBucketPolicy"):
        statements = {s["Sid"]: s for s in props(t, lid)["PolicyDocument"]["Statement"]}
        read = statements["CloudFrontReads"]
        assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == ["s3:GetObject"]
        assert read["Condition"]["StringEquals"]["AWS:SourceArn"] == {"Fn::GetStackOutput": {
            "StackName": "fillup-prod-edge", "OutputName": "DistributionArn", "Region": "us-east-1"}}
        assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    order = [sid for batch in compiled["manifests"]["prod"]["deploy_order"] for sid in batch]
    assert order.index("ap-northeast-1/fillup-prod-web") < order.index("us-east-1/fillup-prod-edge") < order.index("ap-northeast-1/fillup-prod-web-access")
    assert order.index("us-west-2/fillup-prod-api") < order.index("us-east-1/fillup-prod-edge")


def test_new_edge_settings_get_new_version_ids():
    spec = validate(load(SHIPPED)).specs["prod"]
    asset = edge_package(spec, "prod")
    bigger = spec.model_copy(update={"cdn": spec.cdn.model_copy(update={"edge": spec.cdn.edge.model_copy(update={
        "origin_response": spec.cdn.edge.origin_response.model_copy(update={"memory_mb": 512})})})})

    def version_ids(s):
        app = compile_app(s, "prod", assets={"api": asset, "ws": asset, "@edge": asset})
        return {lid for lid in app.stacks["us-east-1/fillup-prod-edge"].template.resources if "Version" in lid}

    old, new = version_ids(spec), version_ids(bigger)
    assert {i for i in old if "Viewer" in i} == {i for i in new if "Viewer" in i}
    assert {i for i in old if "OriginResponse" in i} != {i for i in new if "OriginResponse" in i}


def test_signing_key_decrypt_is_limited_to_the_parameter(templates):
    statements = {s["Sid"]: s for s in props(edge(templates), "EdgeViewerRequestRole")["Policies"][0]["PolicyDocument"]["Statement"]}
    cond = statements["SigningKeyDecrypt"]["Condition"]["StringEquals"]
    assert cond["kms:EncryptionContext:PARAMETER_ARN"]["Fn::Sub"].endswith(":parameter/fillup/prod/edge/url-signing-key")


def test_api_only_mode_and_a_single_region():
    from compiler.spec import Regions

    spec = validate(load(SHIPPED)).specs["prod"]
    images = spec.cdn.images.model_copy(update={"mode": "api_only"})
    single = spec.model_copy(update={"regions": Regions(primary="ap-northeast-1"),
                                     "cdn": spec.cdn.model_copy(update={"images": images})})
    asset = edge_package(single, "prod")
    app = compile_app(single, "prod", assets={"api": asset, "ws": asset, "@edge": asset})
    t = app.stacks["us-east-1/fillup-prod-edge"].template.to_dict()
    config = t["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]
    assert "OriginGroups" not in config  # no DR region, no cache bucket: nothing to fail over to
    assert {o["Id"] for o in config["Origins"]} == {"site", "api", "images-api"}
    by_path = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert by_path["/images/*"]["TargetOriginId"] == "images-api"
    assert [a["EventType"] for a in by_path["/images/*"]["LambdaFunctionAssociations"]] == ["viewer-request"]
    assert by_path["/api/health"]["TargetOriginId"] == "api"
    assert set(resources(t, "AWS::Lambda::Function")) == {"EdgeViewerRequestFunction"}
    assert "WebImagesBucket" not in app.stacks["ap-northeast-1/fillup-prod-web"].template.resources
    assert not any(sid.startswith("us-west-2/") for sid in app.stacks)


def test_spa_routing_by_function_keeps_api_errors():
    spec = validate(load(SHIPPED)).specs["prod"]
    site = spec.cdn.site.model_copy(update={"spa_routing": "function"})
    spec = spec.model_copy(update={"cdn": spec.cdn.model_copy(update={"site": site})})
    asset = edge_package(spec, "prod")
    t = compile_app(spec, "prod", assets={"api": asset, "ws": asset, "@edge": asset}).stacks["us-east-1/fillup-prod-edge"].template.to_dict()
    config = t["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]
    assert "CustomErrorResponses" not in config
    [assoc] = config["DefaultCacheBehavior"]["FunctionAssociations"]
    assert assoc == {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["EdgeSpaRoutingFunction", "FunctionARN"]}}
    fn = t["Resources"]["EdgeSpaRoutingFunction"]["Properties"]
    assert fn["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" and "'/index.html'" in fn["FunctionCode"]


def test_every_behavior_adds_the_security_headers(templates):
    config = dist(templates)
    for b in config["CacheBehaviors"] + [config["DefaultCacheBehavior"]]:
        assert b["ResponseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03", b.get("PathPattern")


def test_compiled_edge_config_is_accepted_by_the_edge_handlers(tmp_path, compiled):
    import importlib.util
    import sys

    asset = next(a for a in compiled["manifests"]["prod"]["assets"] if a["function"] == "@edge")
    zipfile.ZipFile(compiled["out"] / "prod" / asset["path"]).extractall(tmp_path)
    spec = importlib.util.spec_from_file_location("edge_config_under_test", tmp_path / "config.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        config = module.load(str(tmp_path / "config.json"))
    finally:
        del sys.modules[spec.name]  # the handlers' own checks: origins, write-back prefix, ...
    assert config.failover_origin == "api" and config.origins["api"].domain == "$distribution"
    assert config.write_back.enabled and config.origins["s3"].path == "/processed"
    assert config.signing.protected_prefixes == ("/images/",)
