"""Secure by default, proven (issue 11): every log group archc causes to exist is created by archc with a key and a
retention, and the rotation function follows AWS's runtime upgrades."""

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
