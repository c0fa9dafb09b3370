"""Edge tier: us-east-1 edge stack, distribution with origin failover, Lambda@Edge versions, WAF, DNS; web buckets."""

import json
import zipfile

import pytest

from ..conftest import SHIPPED, build_app, make_spec, props, resources, shipped_spec, with_updates

ENVS = ["dev", "staging", "prod"]


def edge(templates, env="prod"):
    return templates[(env, "us-east-1", f"fillup-{env}-edge")]


def dist(templates, env="prod"):
    return props(edge(templates, env), "EdgeAppDistribution")["DistributionConfig"]


@pytest.mark.parametrize("env", ENVS)
def test_edge_stack_is_in_us_east_1_with_its_own_alarm_topic(templates, env):
    t = edge(templates, env)
    assert "EdgeAppDistribution" in t["Resources"]
    assert (env, "us-east-1", f"fillup-{env}-alarms") in templates
    [alarm] = resources(t, "AWS::CloudWatch::Alarm").values()
    p = alarm["Properties"]
    assert (p["Namespace"], p["MetricName"], p["Statistic"]) == ("AWS/CloudFront", "5xxErrorRate", "Average")
    assert {"Name": "Region", "Value": "Global"} in p["Dimensions"]
    assert p["AlarmActions"] == [{"Fn::ImportValue": f"fillup-{env}-alarms-TopicArn"}]


def test_origin_groups_have_two_members_and_the_right_failover_codes(templates):
    groups = {g["Id"]: g for g in dist(templates)["OriginGroups"]["Items"]}
    images, api = groups["images-group"], groups["api-group"]
    assert [m["OriginId"] for m in images["Members"]["Items"]] == ["images", "images-api"]
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
    assert by_path["/api/health"]["TargetOriginId"] == "api"  # monitors see the primary
    assert by_path["/api/*"]["TargetOriginId"] == "api-group"
    for path in ("/api/echo", "/api/health", "/api/*"):
        assert by_path[path]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        assert by_path[path]["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader


def test_api_origins_come_from_both_regions(templates):
    origins = {o["Id"]: o for o in dist(templates)["Origins"]}
    assert origins["api"]["DomainName"] == {"Ref": "RestApiDomainApNortheast1"}  # filled by archc from that stack's output
    assert origins["api-dr"]["DomainName"] == {"Ref": "RestApiDomainUsWest2"}
    assert origins["api"]["OriginPath"] == "/prod" and origins["images-api"]["OriginPath"] == "/prod/api"
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_s3_origins_use_oac_and_the_cache_prefix(templates):
    origins = {o["Id"]: o for o in dist(templates)["Origins"]}
    for oid in ("site", "images"):
        assert origins[oid]["OriginAccessControlId"] == {"Fn::GetAtt": ["EdgeAppS3AccessControl", "Id"]}
        assert origins[oid]["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert origins["images"]["OriginPath"] == "/processed"


def test_site_behaviors_spa_tls_http3_logging(templates):
    config = dist(templates)
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # HTML not cached
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https" and config["DefaultCacheBehavior"]["Compress"]
    assets = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/assets/*")
    policy = props(edge(templates), "EdgeAppImmutableCachePolicy")["CachePolicyConfig"]
    assert assets["CachePolicyId"] == {"Ref": "EdgeAppImmutableCachePolicy"} and policy["DefaultTTL"] == 31536000
    # The SPA by a function on the default behavior: no 403/404 becomes the index, so API errors stay API errors.
    assert [e["ErrorCode"] for e in config["CustomErrorResponses"]] == [500, 502, 503, 504]
    assert config["ViewerCertificate"] == {"AcmCertificateArn": {"Ref": "EdgeAppCertificate"}, "MinimumProtocolVersion": "TLSv1.2_2021",
                                           "SslSupportMethod": "sni-only"}
    assert config["HttpVersion"] == "http2and3" and config["IPV6Enabled"] is True and config["PriceClass"] == "PriceClass_200"
    assert config["Logging"]["Bucket"] == {"Ref": "LogsBucketDomainApNortheast1"}


def test_certificate_dns_and_aliases(templates):
    t = edge(templates)
    cert = props(t, "EdgeAppCertificate")
    assert cert["ValidationMethod"] == "DNS" and cert["DomainValidationOptions"][0]["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    for kind in ("A", "Aaaa"):
        r = props(t, f"EdgeApp{kind}Record")
        assert r["AliasTarget"]["HostedZoneId"] == "Z2FDTNDATAQYW2" and r["AliasTarget"]["EvaluateTargetHealth"] is False
    assert dist(templates, "dev")["Aliases"] == ["dev.app.example.com"]


def test_waf_in_prod_and_not_in_dev(templates):
    acl = props(edge(templates), "EdgeAppWebAcl")
    assert acl["Scope"] == "CLOUDFRONT"
    names = [r["Name"] for r in acl["Rules"]]
    assert names == ["AWSManagedRulesCommonRuleSet", "body-size-outside-writes", "AWSManagedRulesKnownBadInputsRuleSet",
                     "rate-limit-per-ip"]
    assert acl["Rules"][-1]["Statement"]["RateBasedStatement"]["Limit"] == 2000
    assert dist(templates)["WebACLId"] == {"Fn::GetAtt": ["EdgeAppWebAcl", "Arn"]}
    assert "EdgeAppWebAcl" not in edge(templates, "dev")["Resources"] and "WebACLId" not in dist(templates, "dev")


def test_edge_functions_versions_roles_and_limits(templates):
    t = edge(templates)
    functions = resources(t, "AWS::Lambda::Function")
    assert set(functions) == {"EdgeAppVerifySignatureFunction", "EdgeAppFetchOnMissFunction"}
    for lid, f in functions.items():
        p = f["Properties"]
        assert f["DeletionPolicy"] == "Retain"
        assert p["Architectures"] == ["x86_64"] and "Environment" not in p and "VpcConfig" not in p
        assert "TracingConfig" not in p and "DeadLetterConfig" not in p
        role = props(t, p["Role"]["Fn::GetAtt"][0])
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]}
    viewer = functions["EdgeAppVerifySignatureFunction"]["Properties"]
    assert (viewer["MemorySize"], viewer["Timeout"]) == (128, 5)
    assert viewer["Handler"] == "viewer_request.handler" and viewer["Runtime"] == "python3.14"
    response = functions["EdgeAppFetchOnMissFunction"]["Properties"]
    assert (response["MemorySize"], response["Timeout"], response["Handler"]) == (256, 30, "origin_response.handler")
    versions = resources(t, "AWS::Lambda::Version")
    assert len(versions) == 2 and all(v["DeletionPolicy"] == "Retain" for v in versions.values())
    assocs = {a["EventType"]: a["LambdaFunctionARN"] for b in dist(templates)["CacheBehaviors"] for a in b.get("LambdaFunctionAssociations", [])}
    assert set(assocs) == {"viewer-request", "origin-response"}
    for ref in assocs.values():
        assert ref["Ref"] in versions


def test_edge_roles_are_least_privilege(templates):
    t = edge(templates)
    viewer = props(t, "EdgeAppVerifySignatureRole")["Policies"][0]["PolicyDocument"]["Statement"]
    sids = {s["Sid"]: s for s in viewer}
    assert sids["SigningKey"]["Resource"][0]["Fn::Sub"].endswith(":parameter/fillup/prod/edge/url-signing-key")
    assert sids["SigningKeyDecrypt"]["Condition"]["StringEquals"]["kms:ViaService"] == "ssm.us-east-1.amazonaws.com"
    response = {s["Sid"]: s for s in props(t, "EdgeAppFetchOnMissRole")["Policies"][0]["PolicyDocument"]["Statement"]}
    assert response["WriteBack"]["Action"] == ["s3:PutObject"]
    assert response["WriteBack"]["Resource"][0]["Fn::Sub"].endswith(":s3:::fillup-prod-images-ap-northeast-1/processed/*")


def test_signing_secret_is_not_in_any_template_or_package(templates, compiled):
    for key, t in templates.items():
        text = json.dumps(t)
        assert "SecureString" not in text
    def package(name):
        asset = next(a for a in compiled["manifests"]["prod"]["assets"] if a["function"] == f"@edge/app/{name}")
        return zipfile.ZipFile(compiled["out"] / "prod" / asset["path"])

    config = json.loads(package("verify-signature").read("config.json"))
    assert config["signing"]["parameter"] == "/fillup/prod/edge/url-signing-key" and "key" not in config["signing"]
    assert json.loads(package("fetch-on-miss").read("config.json"))["write_back"]["bucket"] == "fillup-prod-images-ap-northeast-1"
    assert {"viewer_request.py", "origin_response.py", "signing.py", "config.py"} <= set(package("verify-signature").namelist())


def test_new_edge_code_gets_new_version_ids(tmp_path):
    import shutil

    spec = shipped_spec()
    root = tmp_path / "handlers"
    shutil.copytree(SHIPPED.parent / "handlers" / "edge", root / "edge", ignore=shutil.ignore_patterns("__pycache__"))

    def version_ids():
        app, _ = build_app(spec, root=root)
        return {lid for lid in app.stacks["us-east-1/fillup-prod-edge"].template.resources if "Version" in lid}

    before = version_ids()
    (root / "edge" / "viewer_request.py").write_text((root / "edge" / "viewer_request.py").read_text() + "\n# new\n")
    after = version_ids()
    assert before and after and not before & after


def test_buckets_private_versioned_encrypted_logged_and_expiring(templates):
    t = templates[("prod", "ap-northeast-1", "fillup-prod-storage")]
    for lid in ("StorageSiteBucket", "StorageImagesBucket", "StorageLogsBucket"):
        b = t["Resources"][lid]
        p = b["Properties"]
        assert b["DeletionPolicy"] == b["UpdateReplacePolicy"] == "Retain"
        assert p["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}
        sse = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        if lid == "StorageLogsBucket":  # S3 server access logging cannot write to an SSE-KMS bucket
            assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        else:  # the default: the buckets' customer-managed key, with S3 Bucket Keys
            assert sse == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["StorageBucketsKey", "Arn"]}},
                           "BucketKeyEnabled": True}
    rules = {r["Id"]: r for r in props(t, "StorageSiteBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    cache = {r["Id"]: r for r in props(t, "StorageImagesBucket")["LifecycleConfiguration"]["Rules"]}
    assert cache["expire-cache"]["Prefix"] == "processed/" and cache["expire-cache"]["ExpirationInDays"] == 30
    assert props(t, "StorageSiteBucket")["LoggingConfiguration"]["LogFilePrefix"] == "s3/site/"


def test_bucket_policies_trust_only_this_distribution_over_tls(templates, compiled):
    t = templates[("prod", "ap-northeast-1", "fillup-prod-cdn-access")]
    for lid in ("CdnAccessSiteBucketPolicy", "CdnAccessImagesBucketPolicy"):
        statements = {s["Sid"]: s for s in props(t, lid)["PolicyDocument"]["Statement"]}
        read = statements["CloudFrontReads"]
        assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == ["s3:GetObject"]
        assert read["Condition"]["StringEquals"]["AWS:SourceArn"] == {"Ref": "AppDistributionArnUsEast1"}
        assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    order = [sid for batch in compiled["manifests"]["prod"]["deploy_order"] for sid in batch]
    assert order.index("ap-northeast-1/fillup-prod-storage") < order.index("us-east-1/fillup-prod-edge") < order.index("ap-northeast-1/fillup-prod-cdn-access")
    assert order.index("us-west-2/fillup-prod-api") < order.index("us-east-1/fillup-prod-edge")


def test_new_edge_settings_get_new_version_ids():
    spec = shipped_spec()
    bigger = with_updates(spec, "cdn.app.edge_functions.fetch-on-miss.memory_mb", 512)

    def version_ids(s):
        app, _ = build_app(s)
        return {lid for lid in app.stacks["us-east-1/fillup-prod-edge"].template.resources if "Version" in lid}

    old, new = version_ids(spec), version_ids(bigger)
    assert {i for i in old if "VerifySignature" in i} == {i for i in new if "VerifySignature" in i}
    assert {i for i in old if "FetchOnMiss" in i} != {i for i in new if "FetchOnMiss" in i}


def test_signing_key_decrypt_is_limited_to_the_parameter(templates):
    statements = {s["Sid"]: s for s in props(edge(templates), "EdgeAppVerifySignatureRole")["Policies"][0]["PolicyDocument"]["Statement"]}
    cond = statements["SigningKeyDecrypt"]["Condition"]["StringEquals"]
    assert cond["kms:EncryptionContext:PARAMETER_ARN"]["Fn::Sub"].endswith(":parameter/fillup/prod/edge/url-signing-key")


def test_api_only_images_and_a_single_region():
    from compiler.spec import Regions

    spec = shipped_spec()
    dist_ = spec.cdn["app"]
    behaviors = {**dist_.behaviors, "/images/*": dist_.behaviors["/images/*"].model_copy(update={
        "origin": "images-api", "edge": {"viewer-request": "verify-signature"}})}
    origins = {**dist_.origins, "api": dist_.origins["api"].model_copy(update={"failover": None})}
    behaviors = {p: (b.model_copy(update={"failover": True}) if b.origin == "api" else b) for p, b in behaviors.items()}
    single = spec.model_copy(update={"regions": Regions(primary="ap-northeast-1"), "cdn": {"app": dist_.model_copy(update={
        "behaviors": behaviors, "origins": origins, "edge_functions": {"verify-signature": dist_.edge_functions["verify-signature"]}})}})
    app, _ = build_app(single)
    t = app.stacks["us-east-1/fillup-prod-edge"].template.to_dict()
    config = t["Resources"]["EdgeAppDistribution"]["Properties"]["DistributionConfig"]
    assert [g["Id"] for g in config["OriginGroups"]["Items"]] == ["images-group"]  # declared, though no behavior uses it
    by_path = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert by_path["/images/*"]["TargetOriginId"] == "images-api"
    assert [a["EventType"] for a in by_path["/images/*"]["LambdaFunctionAssociations"]] == ["viewer-request"]
    assert by_path["/api/health"]["TargetOriginId"] == "api"
    assert set(resources(t, "AWS::Lambda::Function")) == {"EdgeAppVerifySignatureFunction"}
    assert not any(sid.startswith("us-west-2/") for sid in app.stacks)


def test_spa_routing_by_function_keeps_api_errors():
    app, _ = build_app(shipped_spec())
    t = app.stacks["us-east-1/fillup-prod-edge"].template.to_dict()
    config = t["Resources"]["EdgeAppDistribution"]["Properties"]["DistributionConfig"]
    assert all(e["ErrorCode"] >= 500 for e in config["CustomErrorResponses"])  # only the 5xx page is left
    [assoc] = config["DefaultCacheBehavior"]["FunctionAssociations"]
    assert assoc == {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["EdgeAppSpaRoutingFunction", "FunctionARN"]}}
    fn = t["Resources"]["EdgeAppSpaRoutingFunction"]["Properties"]
    assert fn["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" and "'/index.html'" in fn["FunctionCode"]


def test_spa_error_responses_beside_an_api_is_a_weakened_default():
    spec = with_updates(shipped_spec(), "cdn.app.spa.routing", "error_responses")
    assert "cdn.app.spa.routing" in dict(spec.weakened())
    app, _ = build_app(spec)
    config = props(app.stacks["us-east-1/fillup-prod-edge"].template.to_dict(), "EdgeAppDistribution")["DistributionConfig"]
    assert [(e["ErrorCode"], e["ResponseCode"], e["ResponsePagePath"]) for e in config["CustomErrorResponses"]][:2] == \
        [(403, 200, "/index.html"), (404, 200, "/index.html")]
    only_buckets = make_spec("app: site\nregions: {primary: eu-west-1}\nbuckets: {site: {}}\ncdn: {web: {origins: {site: {bucket: site}}, "
                             "index: index.html, spa: {routing: error_responses}, behaviors: {default: {origin: site}}}}\n")
    assert "cdn.web.spa.routing" not in dict(only_buckets.weakened())  # no API whose errors it could hide


def _waf_matches(statement: dict, path: str) -> bool:
    """What WAF's statement says of a request path (the statement kinds archc writes for paths)."""
    import re

    if "RegexMatchStatement" in statement:
        return re.search(statement["RegexMatchStatement"]["RegexString"], path) is not None
    if "NotStatement" in statement:
        return not _waf_matches(statement["NotStatement"]["Statement"], path)
    if "AndStatement" in statement:
        return all(_waf_matches(x, path) for x in statement["AndStatement"]["Statements"])
    return any(_waf_matches(x, path) for x in statement["OrStatement"]["Statements"])


def _body_rule(rules: list) -> tuple[dict, dict, dict]:
    core = next(r for r in rules if r["Name"] == "AWSManagedRulesCommonRuleSet")
    size = next(r for r in rules if r["Name"] == "body-size-outside-writes")
    label, outside = size["Statement"]["AndStatement"]["Statements"]
    return core, size, label | {"writes": outside["NotStatement"]["Statement"]}


def test_waf_lets_write_paths_carry_bodies_over_8_kb_and_blocks_them_elsewhere(templates):
    core, size, rule = _body_rule(props(edge(templates), "EdgeAppWebAcl")["Rules"])
    assert core["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]  # the rule's exact name: WAF ignores a wrong one
    assert size["Priority"] == core["Priority"] + 1 and size["Action"] == {"Block": {}}
    assert rule["LabelMatchStatement"] == {"Scope": "LABEL", "Key": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"}
    # Only /api/echo (methods: all) may carry a big body; every read path keeps the 8 KB limit.
    assert [p for p in ("/api/echo", "/api/echo/x", "/api/health", "/api/items", "/images/a.png", "/")
            if _waf_matches(rule["writes"], p)] == ["/api/echo"]


def test_waf_write_paths_follow_cloudfronts_first_match():
    spec = make_spec("app: shop\nregions: {primary: eu-west-1}\nfunctions: {api: {bootstrap: true, timeout_s: 29}}\n"
                     "api: {rest: {function: api, routes: [\"ANY /{proxy+}\"]}}\n"
                     "cdn: {app: {origins: {api: {api: rest}}, behaviors: {\"/upload*\": {origin: api, methods: all}, "
                     "\"/api/*\": {origin: api}, default: {origin: api, methods: all}}}}\n")
    app, _ = build_app(spec, env="default")
    t = app.stacks["us-east-1/shop-default-edge"].template.to_dict()
    _, _, rule = _body_rule(props(t, "EdgeAppWebAcl")["Rules"])
    exempt = {p: _waf_matches(rule["writes"], p) for p in ("/upload", "/upload/x", "/uploads", "/api/items", "/api/upload", "/x", "/")}
    assert exempt == {"/upload": True, "/upload/x": True, "/uploads": True, "/api/items": False, "/api/upload": False, "/x": True, "/": True}


def test_every_behavior_adds_the_security_headers(templates):
    config = dist(templates)
    for b in config["CacheBehaviors"] + [config["DefaultCacheBehavior"]]:
        assert b["ResponseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03", b.get("PathPattern")


def test_compiled_edge_config_is_accepted_by_the_edge_handlers(tmp_path, compiled):
    for name in ("verify-signature", "fetch-on-miss"):
        asset = next(a for a in compiled["manifests"]["prod"]["assets"] if a["function"] == f"@edge/app/{name}")
        zipfile.ZipFile(compiled["out"] / "prod" / asset["path"]).extractall(tmp_path / name)
    signing = _load_config(tmp_path / "verify-signature")
    config = _load_config(tmp_path / "fetch-on-miss")
    assert config.failover_origin == "api" and config.origins["api"].domain == "$distribution"
    assert config.origins["api"].path == "/api"  # through the distribution's /api/images/* behavior, which checks a signature:
    assert config.origins["api"].signed and config.signing.parameter == signing.signing.parameter  # so it signs its call
    assert config.write_back.enabled and config.origins["s3"].path == "/processed"
    assert signing.signing.protected_prefixes == ("/api/images/", "/images/")


def _load_config(tmp_path):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("edge_config_under_test", tmp_path / "config.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        config = module.load(str(tmp_path / "config.json"))
    finally:
        del sys.modules[spec.name]  # the handlers' own checks: origins, write-back prefix, ...
    return config
