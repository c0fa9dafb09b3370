"""Secure by default, proven (issue 11). The holes an outside review found, each closed on the reference spec:
1. the regional REST endpoint answers only CloudFront: test_the_rest_stage_answers_only_cloudfronts_origin_header;
2. every path to the image route checks a signature: test_every_path_to_the_image_route_checks_a_signature (and the
   S260 fixture tests/specs/broken/signed_paths.yaml);
3. REST and WebSocket authorization: test_rest_routes_need_..., test_websocket_connections_are_signed_...;
4. each function's own database identity: tests/blueprints/test_api.py, tests/test_database_users.py;
5. dead-letter queues only where invocations are asynchronous: tests/blueprints/test_api.py (S257) and the
   E9105 rule (tests/test_policy.py); test_no_dead_letter_queue_on_a_synchronously_invoked_function here;
6. API errors stay API errors: tests/blueprints/test_edge.py (SPA by function, the WAF body-size rule);
7. every log group with a key and a retention: the log-group tests below;
8. the rotation follows AWS's runtime upgrades: test_the_rotation_function_logs_...;
9. customer keys as the README says: test_stores_use_customer_keys_except_where_the_readme_says_why."""

from __future__ import annotations

import json

import pytest

from ..conftest import props, resources

PRIMARY = "ap-northeast-1"


def _t(templates, stack, env="prod", region=PRIMARY):
    return templates[(env, region, f"fillup-{env}-{stack}")]


def test_rest_execution_logs_go_to_a_group_archc_created_first(templates):
    t = _t(templates, "api")
    group = props(t, "ApiRestExecutionLogGroup")
    assert group["LogGroupName"] == {"Fn::Sub": "API-Gateway-Execution-Logs_${ApiRestApi}/prod"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["ApiLogsKey", "Arn"]} and group["RetentionInDays"] == 14
    assert "ApiRestExecutionLogGroup" in t["Resources"]["ApiRestStage"]["DependsOn"]  # before API Gateway would create it
    [logs] = [s for s in props(t, "ApiLogsKey")["KeyPolicy"]["Statement"] if s["Sid"] == "CloudWatchLogsEncrypt"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:API-Gateway-Execution-Logs_${ApiRestApi}/prod"} \
        in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]


def test_websocket_execution_logging_is_off_and_the_access_log_is_archcs(templates):
    t = _t(templates, "api")
    settings = props(t, "ApiWsStage")["DefaultRouteSettings"]
    assert settings["LoggingLevel"] == "OFF"  # AWS names no group archc could create for it
    assert props(t, "ApiWsStage")["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiWsAccessLogGroup", "Arn"]}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_rotation_function_logs_to_an_encrypted_group_and_follows_aws_runtime_upgrades(templates, env):
    t = _t(templates, "data", env)
    assert t["Transform"] == "AWS::SecretsManager-2024-09-16"
    rotation = t["Resources"]["DataDatabaseSecretRotation"]
    hosted = rotation["Properties"]["HostedRotationLambda"]
    assert "Runtime" not in hosted  # the 2024 transform upgrades the runtime with its bundled driver
    group = props(t, "DataDatabaseRotationLogGroup")
    assert group["LogGroupName"] == f"/aws/lambda/{hosted['RotationLambdaName']}"
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataDatabaseKey", "Arn"]} and group["RetentionInDays"] == 30
    assert "DataDatabaseRotationLogGroup" in rotation["DependsOn"]


def test_every_log_group_in_every_template_has_a_key_and_a_retention(templates):
    for key, t in templates.items():
        for lid, group in resources(t, "AWS::Logs::LogGroup").items():
            p = group["Properties"]
            assert "KmsKeyId" in p and "RetentionInDays" in p, (key, lid)


def _statements(resource: dict) -> list[dict]:
    p = resource.get("Properties", {})
    docs = [pol["PolicyDocument"] for pol in p.get("Policies", [])] + ([p["PolicyDocument"]] if "PolicyDocument" in p else [])
    return [s for d in docs for s in d["Statement"]]


def test_every_iam_wildcard_is_recorded_with_its_reason_for_every_scanner(templates):
    from blueprints.exceptions import rendered

    seen = 0
    for key, t in templates.items():
        for lid, r in t["Resources"].items():
            if r["Type"] not in ("AWS::IAM::Role", "AWS::IAM::Policy"):
                continue
            meta = r.get("Metadata", {})
            applies = {a for s in meta.get("cdk_nag", {}).get("rules_to_suppress", []) if s["id"] == "AwsSolutions-IAM5"
                       for a in s.get("applies_to", [])}
            for s in _statements(r):
                for res in s.get("Resource", []) if s["Effect"] == "Allow" else []:
                    if "*" in rendered(res):
                        seen += 1
                        assert f"Resource::{rendered(res)}" in applies, (key, lid, s.get("Sid"))
            if applies:  # the same exception, in cfn_nag's, checkov's and archc's own words
                assert {x["id"] for x in meta["cfn_nag"]["rules_to_suppress"]} == {"W11", "W12"}
                assert [x["id"] for x in meta["checkov"]["skip"]][:1] == ["CKV_AWS_111"]
                assert all(len(x["reason"]) >= 10 for x in meta["archc"]["exceptions"])
    assert seen > 10


def test_no_managed_policy_and_no_index_wildcard(templates):
    for key, t in templates.items():
        for lid, r in resources(t, "AWS::IAM::Role").items():
            assert "ManagedPolicyArns" not in r["Properties"], (key, lid)
            assert "/index/*" not in str(_statements(r)), (key, lid)


def test_every_bucket_refuses_plain_http_and_says_where(templates):
    import json

    for key, t in templates.items():
        policies = [json.dumps(p["Properties"]) for p in resources(t, "AWS::S3::BucketPolicy").values()]
        assert all("DenyInsecureTransport" in p for p in policies), key
        for lid, b in resources(t, "AWS::S3::Bucket").items():
            [s10] = [s for s in b["Metadata"]["cdk_nag"]["rules_to_suppress"] if s["id"] == "AwsSolutions-S10"]
            policy = s10["reason"].split()[3]  # "the bucket policy <Id> ..."
            if "cdn-access" not in s10["reason"]:
                assert policy in t["Resources"] and t["Resources"][policy]["Type"] == "AWS::S3::BucketPolicy", (key, lid)


def test_a_waived_wildcard_permission_carries_the_waivers_reason():
    from ..conftest import build_app, make_spec

    spec = make_spec("""
app: shop
regions: {primary: eu-west-1}
waivers: {functions.f.permissions.Models: "any foundation model the team picks at run time"}
functions:
  f: {bootstrap: true, permissions: {Models: {actions: ["bedrock:InvokeModel"], resources: ["*"]}}}
""")
    app, _ = build_app(spec, env="default")
    [t] = [s.template.to_dict() for s in app.stacks.values() if s.name.endswith("-functions")]
    meta = t["Resources"]["FnFPermissions"]["Metadata"]
    [entry] = [s for s in meta["cdk_nag"]["rules_to_suppress"] if s["applies_to"] == ["Resource::*"] and "foundation model" in s["reason"]]
    assert entry["reason"] == "any foundation model the team picks at run time"
    assert "E9106" in meta["cfn-lint"]["config"]["ignore_checks"]


def test_an_unwaived_wildcard_is_not_suppressed():
    from ..conftest import build_app, make_spec

    spec = make_spec("app: shop\nregions: {primary: eu-west-1}\nfunctions:\n"
                     "  f: {bootstrap: true, permissions: {Models: {actions: [\"bedrock:InvokeModel\"], resources: [\"*\"]}}}\n")
    app, _ = build_app(spec, env="default")  # a warning (W301), and every scanner still reports it
    [t] = [s.template.to_dict() for s in app.stacks.values() if s.name.endswith("-functions")]
    # The user's statements sit in a policy of their own, so the role's recorded X-Ray wildcard cannot hide theirs.
    assert t["Resources"]["FnFPermissions"]["Properties"]["Roles"] == [{"Ref": "FnFRole"}]
    assert "Metadata" not in t["Resources"]["FnFPermissions"]
    assert t["Resources"]["FnFFunction"]["DependsOn"] == ["FnFPermissions"]


def test_rest_routes_need_a_user_pool_token_except_the_waived_public_ones(templates):
    t = _t(templates, "api")
    auth = props(t, "ApiRestAuthorizer")
    assert auth["Type"] == "COGNITO_USER_POOLS" and auth["IdentitySource"] == "method.request.header.Authorization"
    methods = resources(t, "AWS::ApiGateway::Method")
    kinds = {lid: (m["Properties"]["HttpMethod"], m["Properties"]["AuthorizationType"]) for lid, m in methods.items()}
    assert kinds["ApiRestApiEchoPostMethod"] == ("POST", "COGNITO_USER_POOLS")
    assert methods["ApiRestApiEchoPostMethod"]["Properties"]["AuthorizerId"] == {"Ref": "ApiRestAuthorizer"}
    open_ = {lid for lid, (verb, kind) in kinds.items() if kind == "NONE"}
    assert open_ == {"ApiRestApiHealthGetMethod", "ApiRestApiImagesProxyGetMethod"} | {l for l, (v, _) in kinds.items() if v == "OPTIONS"}
    for lid in open_:  # each open method says why, where scanners read it
        [reason] = {s["reason"] for s in methods[lid]["Metadata"]["cdk_nag"]["rules_to_suppress"] if s["id"] == "AwsSolutions-APIG4"}
        assert "preflight" in reason or "monitors" in reason


def test_websocket_connections_are_signed_and_only_connect_is_authorized(templates):
    routes = resources(_t(templates, "api"), "AWS::ApiGatewayV2::Route")
    by_key = {r["Properties"]["RouteKey"]: r for r in routes.values()}
    assert by_key["$connect"]["Properties"]["AuthorizationType"] == "AWS_IAM"
    for key, r in by_key.items():
        if key != "$connect":
            assert r["Properties"]["AuthorizationType"] == "NONE" and "at $connect" in json.dumps(r["Metadata"])


def test_an_unwaived_open_api_stays_visible_to_every_scanner():
    from ..conftest import build_app, make_spec

    spec = make_spec("app: shop\nregions: {primary: eu-west-1}\nfunctions: {api: {bootstrap: true, timeout_s: 29}}\n"
                     "api: {rest: {function: api, routes: [\"GET /items\"], origin_verify: false}}\n")
    app, _ = build_app(spec, env="default")
    [t] = [s.template.to_dict() for s in app.stacks.values() if s.name.endswith("-api")]
    assert "Metadata" not in t["Resources"]["ApiRestItemsGetMethod"]
    assert "Metadata" not in t["Resources"]["ApiRestStage"]  # the public endpoint too: no waiver, no suppression
    assert ("api.rest.auth.type", "api.rest.origin_verify") == tuple(p for p, _ in spec.weakened() if p.startswith("api."))


def test_the_rest_stage_answers_only_cloudfronts_origin_header(templates, compiled):
    for region in (PRIMARY, "us-west-2"):
        t = _t(templates, "api", region=region)
        secret = props(t, "ApiOriginVerifySecret")
        assert secret["Name"] == f"fillup-prod/origin-verify/{region}" and secret["ReplicaRegions"] == [{"Region": "us-east-1"}]
        acl = props(t, "ApiRestWebAcl")
        assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Block": {}}
        [rule] = acl["Rules"]
        match = rule["Statement"]["ByteMatchStatement"]
        assert rule["Action"] == {"Allow": {}} and match["FieldToMatch"] == {"SingleHeader": {"Name": "x-origin-verify"}}
        assert match["PositionalConstraint"] == "EXACTLY"
        assert match["SearchString"] == {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": "ApiOriginVerifySecret"}, ":SecretString}}"]]}
        assoc = props(t, "ApiRestWebAclAssociation")
        assert assoc["ResourceArn"] == {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${ApiRestApi}/stages/prod"}
        assert t["Resources"]["ApiRestWebAclAssociation"]["DependsOn"] == ["ApiRestStage"]
    origins = props(_t(templates, "edge", region="us-east-1"), "EdgeAppDistribution")["DistributionConfig"]["Origins"]
    api_origins = {o["Id"]: o for o in origins if "RestApiDomain" in json.dumps(o["DomainName"])}
    assert set(api_origins) == {"api", "api-dr", "images-api"}
    for oid, o in api_origins.items():
        [header] = o["OriginCustomHeaders"]
        region = o["DomainName"]["Ref"].removeprefix("RestApiDomain")  # the region's suffix of the parameter archc fills
        value = header["HeaderValue"]["Fn::Join"][1][1]
        assert header["HeaderName"] == "x-origin-verify" and value == {"Ref": f"OriginVerifySecretName{region}"}, oid
    # Each region's API keeps its own value: the DR region reads nothing from the primary.
    edges = compiled["manifests"]["prod"]["edges"]
    assert not [e for e in edges if e["consumer"] == "us-west-2/fillup-prod-api" and e["producer"].startswith(PRIMARY)]


def test_every_path_to_the_image_route_checks_a_signature(templates):
    config = props(_t(templates, "edge", region="us-east-1"), "EdgeAppDistribution")["DistributionConfig"]
    by_path = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    patterns = list(by_path)
    assert patterns.index("/api/images/*") < patterns.index("/api/*")  # CloudFront takes the first that matches
    for path in ("/images/*", "/api/images/*"):
        [check] = [a for a in by_path[path]["LambdaFunctionAssociations"] if a["EventType"] == "viewer-request"]
        assert check["LambdaFunctionARN"]["Ref"].startswith("EdgeAppVerifySignatureVersion"), path


def test_no_dead_letter_queue_on_a_synchronously_invoked_function(templates):
    for (env, _, stack), t in templates.items():
        for lid, fn in resources(t, "AWS::Lambda::Function").items():
            # API, WebSocket, Function URL and queue consumers: every invocation of the reference spec is synchronous.
            assert "DeadLetterConfig" not in fn["Properties"], (stack, lid)


def test_stores_use_customer_keys_except_where_the_readme_says_why(templates):
    for (env, region, stack), t in templates.items():
        for lid, b in resources(t, "AWS::S3::Bucket").items():
            [rule] = b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            kms = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
            assert kms == (lid != "StorageLogsBucket"), (stack, lid)  # log buckets: S3 access logging needs SSE-S3
        for lid, table in resources(t, "AWS::DynamoDB::GlobalTable").items():
            assert all("KMSMasterKeyId" in r["SSESpecification"] for r in table["Properties"]["Replicas"]), (stack, lid)
        for lid, table in resources(t, "AWS::DynamoDB::Table").items():
            assert "KMSMasterKeyId" in table["Properties"]["SSESpecification"], (stack, lid)
        for lid, secret in resources(t, "AWS::SecretsManager::Secret").items():
            if lid == "ApiOriginVerifySecret":  # Secrets Manager's key, with the reason in its Metadata
                reasons = {e["rule"] for e in t["Resources"][lid]["Metadata"]["archc"]["exceptions"]}
                assert "CKV_AWS_149" in reasons
            else:
                assert "KmsKeyId" in secret["Properties"], (stack, lid)
