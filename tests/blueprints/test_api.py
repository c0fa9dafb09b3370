"""Functions and api stacks: functions with least privilege and connections, REST and WebSocket APIs, Function URLs,
alarms, code assets."""

import json
import shutil

import pytest

from compiler.build import compile_spec

from ..conftest import ROOT, build_app, make_spec, props, resources


def api(templates, env="prod", region="ap-northeast-1"):
    return templates[(env, region, f"fillup-{env}-api")]


def fns(templates, env="prod", region="ap-northeast-1"):
    return templates[(env, region, f"fillup-{env}-functions")]


def statements(t, role):
    return {s["Sid"]: s for p in props(t, role)["Policies"] for s in p["PolicyDocument"]["Statement"]}


def test_api_function_settings(templates):
    t = fns(templates)
    p = props(t, "FnApiFunction")
    assert p["Runtime"] == "python3.14" and p["Handler"] == "app.handler" and p["Architectures"] == ["arm64"]
    assert p["MemorySize"] == 1024 and p["Timeout"] == 29 and p["ReservedConcurrentExecutions"] == 10
    assert p["TracingConfig"] == {"Mode": "Active"}
    assert "DeadLetterConfig" not in p  # the REST API invokes it synchronously: the caller gets the error
    assert p["VpcConfig"]["SecurityGroupIds"] == [{"Fn::ImportValue": "fillup-prod-network-AppSecurityGroupId"}]
    assert p["Code"]["S3Bucket"] == {"Ref": "ArtifactBucket"} and p["Code"]["S3Key"].startswith("assets/")
    env = p["Environment"]["Variables"]
    assert (env["DB_USER"], env["DB_NAME"]) == ("fn_api", "app")  # its own user, signing in with an IAM token
    assert env["DB_HOST"] == {"Fn::ImportValue": "fillup-prod-data-DatabaseEndpoint"}
    statements = json.dumps(props(t, "FnApiRole")["Policies"])
    assert "rds-db:connect" in statements and "dbuser:${Id}/fn_api" in statements
    assert "secretsmanager" not in statements  # the master secret is not the application's
    assert p["Environment"]["Variables"]["API_BASE_PATH"] == "/api"
    assert p["LoggingConfig"] == {"LogGroup": {"Ref": "FnApiLogGroup"}}


def test_dev_sizes_differ(templates):
    p = props(fns(templates, "dev"), "FnApiFunction")
    assert p["MemorySize"] == 512 and "ReservedConcurrentExecutions" not in p


def test_log_group_and_no_dead_letter_queue_where_nothing_invokes_asynchronously(templates):
    t = fns(templates)
    group = props(t, "FnApiLogGroup")
    assert group["LogGroupName"] == "/aws/lambda/fillup-prod-api" and group["RetentionInDays"] == 30
    # REST, WebSocket, the Function URL and queue mappings invoke synchronously: a DLQ there could never fill.
    assert not resources(t, "AWS::SQS::Queue")
    assert not [lid for lid in t["Resources"] if "DeadLetter" in lid]


ASYNC = """
app: shop
regions: {primary: eu-west-1}
buckets:
  inbox: {events: {landed: {to: functions.sorter}}}
functions:
  sorter: {bootstrap: true, dlq_retention_days: 7}
  caller: {bootstrap: true, uses: {functions.worker: invoke}}
  worker: {bootstrap: true}
  web: {bootstrap: true, url: {auth: AWS_IAM}}
"""


def test_a_dead_letter_queue_exactly_where_invocations_are_asynchronous():
    app, _ = build_app(make_spec(ASYNC), env="default")
    [t] = [s.template.to_dict() for s in app.stacks.values() if s.name.endswith("-functions")]
    with_dlq = {lid for lid, r in resources(t, "AWS::Lambda::Function").items() if "DeadLetterConfig" in r["Properties"]}
    assert with_dlq == {"FnSorterFunction", "FnWorkerFunction"}  # a bucket event, a function that may invoke it with Event
    dlq = t["Resources"]["FnSorterDeadLetterQueue"]
    assert dlq["Properties"]["MessageRetentionPeriod"] == 7 * 86400 and dlq["Properties"]["SqsManagedSseEnabled"] is True
    assert dlq["DeletionPolicy"] == "Retain"
    assert statements(t, "FnSorterRole")["DeadLetterQueue"]["Resource"] == [{"Fn::GetAtt": ["FnSorterDeadLetterQueue", "Arn"]}]
    assert "DeadLetterQueue" not in statements(t, "FnWebRole")


def test_dead_letter_settings_on_a_synchronous_function_are_refused():
    from compiler.diagnostics import SpecError

    with pytest.raises(SpecError) as e:
        make_spec(ASYNC.replace("web: {bootstrap: true,", "web: {bootstrap: true, dlq_retention_days: 3,"))
    assert [(d.code, d.path) for d in e.value.diagnostics] == [("S257", "functions.web.dlq_retention_days")]


def test_roles_are_least_privilege(templates):
    t = fns(templates)
    api_role = statements(t, "FnApiRole")
    assert api_role["OwnLogGroup"]["Resource"] == [{"Fn::GetAtt": ["FnApiLogGroup", "Arn"]}]
    assert api_role["DatabaseConnect"]["Resource"] == [{"Fn::Sub": [
        "arn:${AWS::Partition}:rds-db:ap-northeast-1:${AWS::AccountId}:dbuser:${Id}/fn_api",
        {"Id": {"Fn::ImportValue": "fillup-prod-data-DatabaseResourceId"}}]}]
    assert "DatabaseConnectKey" not in api_role  # IAM authentication: no secret to read, no key to use
    assert "VpcInterfaces" in api_role
    ws_role = statements(t, "FnWsRole")
    assert "VpcInterfaces" not in ws_role and "DatabaseConnect" not in ws_role
    table = ws_role["TableConnectionsReadWriteTable"]
    assert {"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan"} <= set(table["Action"])
    assert table["Resource"] == [{"Fn::ImportValue": "fillup-prod-data-ConnectionsTableArn"}]
    manage = props(api(templates), "ApiWsManageConnectionsPolicy")
    assert manage["Roles"] == [{"Fn::ImportValue": "fillup-prod-functions-FnWsRoleName"}]
    [post] = manage["PolicyDocument"]["Statement"]
    assert post["Action"] == ["execute-api:ManageConnections"] and "/prod/POST/@connections/*" in post["Resource"][0]["Fn::Sub"]
    ssr_role = statements(t, "FnSsrRole")
    assert set(ssr_role) == {"OwnLogGroup", "Tracing"}
    # "*" only where AWS allows nothing narrower.
    for role in ("FnApiRole", "FnWsRole", "FnSsrRole"):
        for sid, s in statements(t, role).items():
            if s["Resource"] == ["*"]:
                assert sid in ("Tracing", "VpcDescribe"), (role, sid)


def test_rest_api_stage_throttling_logging_tracing(templates):
    t = api(templates)
    assert props(t, "ApiRestApi")["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    stage = props(t, "ApiRestStage")
    assert stage["StageName"] == "prod" and stage["TracingEnabled"] is True
    [setting] = stage["MethodSettings"]
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"], setting["LoggingLevel"]) == (1000, 2000, "ERROR")
    assert json.loads(stage["AccessLogSetting"]["Format"])["requestId"] == "$context.requestId"
    assert props(t, "ApiRestAccessLogGroup")["RetentionInDays"] == 14
    assert props(t, "ApiAccount")["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiCloudWatchRole", "Arn"]}


def test_rest_methods_proxy_to_the_function_and_cors_preflight(templates):
    t = api(templates)
    methods = {lid: r["Properties"] for lid, r in resources(t, "AWS::ApiGateway::Method").items()}
    assert {"ApiRestApiHealthGetMethod", "ApiRestApiEchoPostMethod", "ApiRestApiImagesProxyGetMethod",
            "ApiRestApiHealthOptionsMethod", "ApiRestApiEchoOptionsMethod", "ApiRestApiImagesProxyOptionsMethod"} == set(methods)
    for m in methods.values():
        assert m["Integration"]["Type"] == "AWS_PROXY" and m["Integration"]["IntegrationHttpMethod"] == "POST"
        assert m["Integration"]["Uri"]["Fn::Sub"][1] == {"Arn": {"Fn::ImportValue": "fillup-prod-functions-FnApiArn"}}
    env = props(fns(templates), "FnApiFunction")["Environment"]["Variables"]
    assert env["CORS_ORIGINS"] == "https://app.example.com" and env["CORS_ALLOW_CREDENTIALS"] == "true"


def test_rest_permission_is_limited_to_this_api_and_stage(templates):
    p = props(api(templates), "ApiRestInvokePermission")
    assert p["Principal"] == "apigateway.amazonaws.com"
    assert p["SourceArn"]["Fn::Sub"].endswith(":${ApiRestApi}/prod/*")


def test_deployment_id_changes_only_with_the_methods(templates):
    prod = [lid for lid in api(templates)["Resources"] if lid.startswith("ApiRestDeployment")]
    dev = [lid for lid in api(templates, "dev")["Resources"] if lid.startswith("ApiRestDeployment")]
    assert len(prod) == 1 and len(dev) == 1
    assert api(templates)["Resources"][prod[0]]["DependsOn"]


def test_deployment_id_changes_when_a_route_is_added(tmp_path):
    spec = (ROOT / "arch.yaml").read_text().replace('"POST /api/echo", ', '"POST /api/echo", "GET /api/items", ')
    (tmp_path / "arch.yaml").write_text(spec)
    shutil.copytree(ROOT / "handlers", tmp_path / "handlers")
    before = compile_spec(ROOT / "arch.yaml", ["dev"]).apps["dev"].stacks["ap-northeast-1/fillup-dev-api"].template
    after = compile_spec(tmp_path / "arch.yaml", ["dev"]).apps["dev"].stacks["ap-northeast-1/fillup-dev-api"].template
    ids = lambda t: {lid for lid in t.resources if lid.startswith("ApiRestDeployment")}
    assert ids(before) != ids(after)


def test_websocket_api(templates):
    t = api(templates)
    assert props(t, "ApiWsApi")["ProtocolType"] == "WEBSOCKET"
    assert props(t, "ApiWsApi")["RouteSelectionExpression"] == "$request.body.action"
    routes = {r["Properties"]["RouteKey"] for r in resources(t, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {"$connect", "$disconnect", "$default", "sendMessage"}
    stage = props(t, "ApiWsStage")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 500
    assert "AutoDeploy" not in stage and "DeploymentId" in stage
    table = templates[("prod", "ap-northeast-1", "fillup-prod-data")]["Resources"]["DataConnectionsTable"]
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    assert table["DeletionPolicy"] == "Retain" and table["Properties"]["TableName"] == "fillup-prod-connections"
    assert props(fns(templates), "FnWsFunction")["Environment"]["Variables"]["CONNECTIONS_TABLE"] == "fillup-prod-connections"


def test_function_url_and_bootstrap_code(templates):
    t = fns(templates)
    assert props(t, "FnSsrUrl")["AuthType"] == "AWS_IAM"
    ssr = props(t, "FnSsrFunction")
    assert "ZipFile" in ssr["Code"] and ssr["Handler"] == "index.handler" and ssr["Runtime"] == "nodejs24.x"
    assert not resources(t, "AWS::Lambda::Permission").keys() & {"FnSsrUrlPublicPermission"}


def test_alarms(templates):
    t = api(templates)
    alarms = {lid: r["Properties"] for lid, r in resources(t, "AWS::CloudWatch::Alarm").items()}
    alarms.update({lid: r["Properties"] for lid, r in resources(fns(templates), "AWS::CloudWatch::Alarm").items()})
    rate = alarms["FnApiErrorRateAlarm"]
    assert (rate["Threshold"], rate["EvaluationPeriods"], rate["DatapointsToAlarm"]) == (5, 5, 2)
    assert [m for m in rate["Metrics"] if m.get("ReturnData")][0]["Expression"] == "IF(inv > 0, 100 * err / inv, 0)"
    assert alarms["FnApiDurationAlarm"]["Threshold"] == round(29 * 1000 * 0.83)
    assert alarms["FnApiThrottlesAlarm"]["Threshold"] == 0
    assert "FnApiDeadLetterAlarm" not in alarms  # no DLQ, so no alarm that could never fire
    rest = alarms["ApiRest5xxAlarm"]
    assert (rest["MetricName"], rest["Threshold"], rest["Period"]) == ("5XXError", 10, 300)
    assert rest["Dimensions"] == [{"Name": "ApiName", "Value": "fillup-prod-rest"}]
    for metric in ("IntegrationError", "ExecutionError"):
        assert alarms[f"ApiWs{metric}Alarm"]["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "ApiWsApi"}}]


def test_dr_region_api_reads_the_dr_copy_of_the_database(templates, compiled):
    t = fns(templates, "prod", "us-west-2")
    env = props(t, "FnApiFunction")["Environment"]["Variables"]
    assert env["DB_USER"] == "fn_api"  # the same user: roles replicate with the database
    assert env["DB_HOST"] == {"Fn::ImportValue": "fillup-prod-standby-DatabaseEndpoint"}
    edges = compiled["manifests"]["prod"]["edges"]
    assert not [e for e in edges if e["consumer"] == "us-west-2/fillup-prod-functions" and e["producer"].startswith("ap-northeast-1/")]


def test_assets_are_listed_and_written(compiled):
    man = compiled["manifests"]["prod"]
    by_fn = {a["function"]: a for a in man["assets"]}
    assert set(by_fn) == {"api", "ws", "@edge/app/verify-signature", "@edge/app/fetch-on-miss"}
    for a in by_fn.values():
        path = compiled["out"] / "prod" / a["path"]
        assert path.is_file() and path.stat().st_size == a["bytes"] and a["key"] == f"assets/{a['sha256']}.zip"
    assert by_fn["api"]["source"] == "handlers/api"


def test_changing_one_handler_changes_only_its_asset(tmp_path):
    shutil.copy(ROOT / "arch.yaml", tmp_path / "arch.yaml")
    shutil.copytree(ROOT / "handlers", tmp_path / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    before = compile_spec(tmp_path / "arch.yaml", ["prod"])
    app_py = tmp_path / "handlers" / "api" / "app.py"
    app_py.write_text(app_py.read_text() + "\n# a change\n")
    after = compile_spec(tmp_path / "arch.yaml", ["prod"])
    assert before.assets["prod"]["ws"].sha256 == after.assets["prod"]["ws"].sha256
    assert before.assets["prod"]["api"].sha256 != after.assets["prod"]["api"].sha256
    for sid, stack in before.apps["prod"].stacks.items():
        old = json.dumps(stack.template.to_dict(), sort_keys=True)
        new = json.dumps(after.apps["prod"].stacks[sid].template.to_dict(), sort_keys=True)
        if stack.concern != "functions":
            assert old == new
        else:
            assert old.replace(before.assets["prod"]["api"].key, after.assets["prod"]["api"].key) == new


def test_zip_is_reproducible(tmp_path):
    from compiler.assets import zip_folder

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("print(1)\n")
    (tmp_path / "a" / "__pycache__").mkdir()
    (tmp_path / "a" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    first = zip_folder(tmp_path / "a")
    import os, time
    os.utime(tmp_path / "a" / "x.py", (time.time() + 1000, time.time() + 1000))
    os.chmod(tmp_path / "a" / "x.py", 0o600)
    assert zip_folder(tmp_path / "a") == first
    import io, zipfile
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["x.py"]


def test_container_image_function_pulls_from_its_own_region(templates):
    for region in ("ap-northeast-1", "us-west-2"):
        p = props(fns(templates, "prod", region), "FnProcessorFunction")
        assert p["PackageType"] == "Image" and "Runtime" not in p and "Handler" not in p
        # From the repository of its own region's images stack (the DR one is filled by registry replication).
        assert p["Code"] == {"ImageUri": {"Fn::Sub": ["${Uri}:1.0.0", {"Uri": {"Fn::ImportValue": "fillup-prod-images-ProcessorRepositoryUri"}}]}}
        images = templates[("prod", region, "fillup-prod-images")]["Resources"]
        assert images["ImagesProcessorRepository"]["Properties"]["RepositoryName"] == "fillup-prod/processor"
        assert (p["MemorySize"], p["Timeout"]) == (2048, 300) and "VpcConfig" in p
