"""Each seed system as its own spec (examples/<name>/arch.yaml): compiled for every environment, linted with
cfn-lint, snapshot-tested, and holding nothing its system does not have."""

import json
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import ROOT

EXAMPLES = ("async-processing", "fillup", "image-cdn", "image-failover", "multi-region-ssr")


@pytest.fixture(scope="session")
def examples(tmp_path_factory):
    """{example: (out dir, manifests)} with every environment compiled."""
    from compiler.build import build_all

    out = {}
    for name in EXAMPLES:
        target = tmp_path_factory.mktemp(name)
        out[name] = (target, {env: m.to_json() for env, m in build_all(ROOT / "examples" / name / "arch.yaml", None, target).manifests.items()})
    return out


def _templates(examples, name) -> dict[str, dict]:
    out_dir, manifests = examples[name]
    return {f"{env}/{t['region']}/{t['stack']}": json.loads((out_dir / env / t["path"]).read_text())
            for env, man in manifests.items() for t in man["templates"]}


def _types(examples, name) -> set[str]:
    return {r["Type"] for t in _templates(examples, name).values() for r in t["Resources"].values()}


def _ids():
    from compiler.build import compile_spec

    ids = []
    for name in EXAMPLES:
        apps = compile_spec(ROOT / "examples" / name / "arch.yaml", None).apps
        ids += sorted(f"{name}/{env}/{sid}" for env, app in apps.items() for sid in app.stacks)
    return ids


@pytest.mark.parametrize("stack_id", _ids())
def test_example_template_snapshot(stack_id, examples, snapshot):
    name, rest = stack_id.split("/", 1)
    assert _templates(examples, name)[rest] == snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_lints_clean(name, examples):
    from compiler.lint import lint_envs

    report = lint_envs(examples[name][0], None, workers=2)
    assert report.linted == len(_templates(examples, name))
    assert [f for f in report.findings if f.level in ("error", "warning")] == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_names_its_seed_in_two_comment_lines(name):
    lines = (ROOT / "examples" / name / "arch.yaml").read_text().splitlines()
    assert lines[0].startswith("# seeds/") and lines[1].startswith("# ") and not lines[2].startswith("#")


def test_image_cdn_is_a_bucket_a_distribution_and_an_edge_function(examples):
    types = _types(examples, "image-cdn")
    assert not {t for t in types if t.startswith(("AWS::EC2::", "AWS::ApiGateway", "AWS::RDS::"))}
    templates = _templates(examples, "image-cdn")
    edge = templates["prod/us-east-1/galerly-prod-edge"]["Resources"]
    config = edge["EdgeCdnDistribution"]["Properties"]["DistributionConfig"]
    [assoc] = config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
    assert assoc["EventType"] == "origin-request"
    fn = edge["EdgeCdnPassthroughFunction"]["Properties"]
    assert fn["Runtime"] == "nodejs24.x" and fn["Handler"] == "index.handler"
    assert config["Aliases"] == ["cdn.galerly.com"] and config["DefaultCacheBehavior"]["Compress"] is True
    assert edge["EdgeCdnImmutableCachePolicy"]["Properties"]["CachePolicyConfig"]["DefaultTTL"] == 31536000
    bucket = templates["prod/us-east-1/galerly-prod-storage"]["Resources"]["StorageImagesBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_multi_region_ssr_has_two_function_urls_behind_a_group_and_no_vpc(examples):
    assert not {t for t in _types(examples, "multi-region-ssr") if t.startswith(("AWS::EC2::", "AWS::ApiGateway"))}
    templates = _templates(examples, "multi-region-ssr")
    config = templates["prod/us-east-1/ssr-prod-edge"]["Resources"]["EdgeSiteDistribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert origins["web"]["DomainName"] == {"Fn::ImportValue": "ssr-prod-functions-FnWebUrlDomain"}  # the edge is in us-east-1 too
    assert origins["web-dr"]["DomainName"] == {"Ref": "FnWebUrlDomainUsWest2"}  # from us-west-2, filled by archc
    assert origins["web"]["OriginAccessControlId"] == {"Fn::GetAtt": ["EdgeSiteLambdaAccessControl", "Id"]}
    groups = {g["Id"]: [m["OriginId"] for m in g["Members"]["Items"]] for g in config["OriginGroups"]["Items"]}
    assert groups == {"web-group": ["web", "web-dr"], "assets-group": ["assets", "assets-dr"]}
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "web-group"
    for region in ("us-east-1", "us-west-2"):
        access = templates[f"prod/{region}/ssr-prod-cdn-access"]["Resources"]
        actions = sorted(r["Properties"]["Action"] for r in access.values() if r["Type"] == "AWS::Lambda::Permission")
        assert actions == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
        role = templates[f"prod/{region}/ssr-prod-functions"]["Resources"]["FnWebRole"]["Properties"]
        sids = {s["Sid"] for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
        assert {"TableVisitsReadWriteTable", "TableVisitsReadWriteKey"} <= sids
        assert "TableVisitsReadWriteIndexes" not in sids  # the table has no index: nothing is granted on index/*


def test_image_failover_tries_the_cache_then_the_api_and_writes_back(examples):
    templates = _templates(examples, "image-failover")
    edge = templates["prod/us-east-1/images-prod-edge"]["Resources"]
    config = edge["EdgeImagesDistribution"]["Properties"]["DistributionConfig"]
    [group] = config["OriginGroups"]["Items"]
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["cache", "api"]
    assert group["FailoverCriteria"]["StatusCodes"]["Items"] == [403, 404, 500, 502, 503, 504]
    events = [a["EventType"] for a in config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]]
    assert events == ["viewer-request", "origin-response"]
    rules = templates["prod/ap-northeast-1/images-prod-storage"]["Resources"]["StorageCacheBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Id": "cleanup-processed", "Status": "Enabled", "Prefix": "processed/", "ExpirationInDays": 30} in rules
    write = {s["Sid"]: s for s in edge["EdgeImagesFetchOnMissRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert write["WriteBack"]["Resource"][0]["Fn::Sub"].endswith(":s3:::images-prod-cache-ap-northeast-1/processed/*")


def test_async_processing_is_bucket_queue_and_image_processor_in_an_existing_vpc(examples):
    types = _types(examples, "async-processing")
    assert not {t for t in types if t.startswith(("AWS::CloudFront::", "AWS::ApiGateway", "AWS::WAFv2::", "AWS::RDS::"))}
    assert not {"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway"} & types
    templates = _templates(examples, "async-processing")
    bucket = templates["prod/ap-northeast-1/hrchat-prod-storage"]["Resources"]["StorageDocumentsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    [event] = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert event["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    fns = templates["prod/ap-northeast-1/hrchat-prod-functions"]["Resources"]
    fn = fns["FnProcessorFunction"]["Properties"]
    assert (fn["Timeout"], fn["MemorySize"], fn["Architectures"], fn["PackageType"]) == (300, 2048, ["x86_64"], "Image")
    assert fn["VpcConfig"]["SubnetIds"] == {"Ref": "AppSubnetIds"}  # filled from the network stack's output by plan
    network = templates["prod/ap-northeast-1/hrchat-prod-network"]
    assert network["Outputs"]["AppSecurityGroupId"]["Value"] == "sg-0dfc84b0acf5f5565"
    assert network["Resources"]["NetworkS3Endpoint"]["Properties"]["RouteTableIds"] == ["rtb-0a2c110b3e52d0983"]
    statements = {s["Sid"]: s for s in fns["FnProcessorRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    objects = set(statements["BucketDocumentsReadWriteObjects"]["Action"])
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= objects and statements["BucketDocumentsReadWriteBucket"]["Action"] == ["s3:ListBucket"]
    own = fns["FnProcessorPermissions"]["Properties"]  # the spec's raw statements, in a policy of their own
    assert own["Roles"] == [{"Ref": "FnProcessorRole"}]
    [secrets] = [s for s in own["PolicyDocument"]["Statement"] if s["Sid"] == "ReadSecrets"]
    assert secrets["Resource"][0].endswith(":secret:hr-chatbot/database-??????")
    assert "FnProcessorErrorRateAlarm" in fns and "FnProcessorUploadsEventSource" in fns
    dev = templates["dev/ap-northeast-1/hrchat-dev-functions"]["Resources"]["FnProcessorUploadsEventSource"]["Properties"]
    assert dev["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_a_spec_of_only_app_and_regions_compiles_to_nothing(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "arch.yaml"
    spec.write_text("app: bare\nregions: {primary: eu-west-1}\n")
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", "-f", str(spec), "--out", str(tmp_path / "out")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    man = json.loads((tmp_path / "out" / "default" / "manifest.json").read_text())
    assert man["templates"] == [] and not list(Path(tmp_path / "out").rglob("*network*"))


def test_readme_access_table_is_the_connection_data_and_the_compiled_policies_agree(compiled, templates):
    from compiler.access import KEY_ACTIONS, markdown_table, scopes

    assert markdown_table() in (ROOT / "README.md").read_text()
    role = templates[("prod", "ap-northeast-1", "fillup-prod-functions")]["Resources"]["FnWsRole"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    for scope, actions in scopes("tables", "read-write").items():
        if scope == "indexes":  # granted index by index, and the connections table has none
            assert "TableConnectionsReadWriteIndexes" not in statements
            continue
        assert statements[f"TableConnectionsReadWrite{scope.capitalize()}"]["Action"] == list(actions)
    assert statements["TableConnectionsReadWriteKey"]["Action"] == list(KEY_ACTIONS[("tables", "read-write")])
    api = templates[("prod", "ap-northeast-1", "fillup-prod-functions")]["Resources"]["FnApiRole"]["Properties"]
    api_statements = {s["Sid"]: s for s in api["Policies"][0]["PolicyDocument"]["Statement"]}
    assert api_statements["DatabaseConnect"]["Action"] == list(scopes("database", "connect")["user"])
