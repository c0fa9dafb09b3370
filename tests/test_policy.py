"""archc's own policy rules (compiler/policy/rules.py), run by cfn-lint inside `archc lint`: each has a template that
breaks it and one that keeps it, and a resource's ignore_checks Metadata (what a waiver writes) excuses it."""

from __future__ import annotations

import json

import pytest

from compiler.lint import lint_template

KEY = {"Fn::GetAtt": ["Key", "Arn"]}
BASE = {"Key": {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                "Properties": {"EnableKeyRotation": True, "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                     "Action": "kms:*", "Resource": "*"}]}}}}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _role(resource: str) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST, "Policies": [{"PolicyName": "p", "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [resource]}]}}]}}


def _api(auth: str, method: str = "GET") -> dict:
    return {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "a"}},
            "Method": {"Type": "AWS::ApiGateway::Method", "Properties": {
                "RestApiId": {"Ref": "Api"}, "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "HttpMethod": method,
                "AuthorizationType": auth, "Integration": {"Type": "MOCK"}}}}


def _log(props: dict) -> dict:
    return {"Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": props}}


def _queue(props: dict) -> dict:
    return {"Queue": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": props}}


def _stage(guarded: bool) -> dict:
    out = {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "a"}},
           "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "prod", "DeploymentId": "d"}}}
    if guarded:
        out["Acl"] = {"Type": "AWS::WAFv2::WebACL", "Properties": {
            "Scope": "REGIONAL", "DefaultAction": {"Block": {}},
            "VisibilityConfig": {"CloudWatchMetricsEnabled": True, "MetricName": "m", "SampledRequestsEnabled": True}}}
        out["Assoc"] = {"Type": "AWS::WAFv2::WebACLAssociation", "Properties": {
            "WebACLArn": {"Fn::GetAtt": ["Acl", "Arn"]},
            "ResourceArn": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${Api}/stages/prod"}}}
    return out


def _function(invoker: str | None) -> dict:
    out = {**_queue({"SqsManagedSseEnabled": True}), "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
           "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
               "Runtime": "python3.13", "Handler": "a.h", "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": "x"},
               "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": ["Queue", "Arn"]}}}}}
    if invoker:
        out["Invoke"] = {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]}, "Action": "lambda:InvokeFunction", "Principal": invoker}}
    return out


CASES = {
    "E9101": (_stage(False), _stage(True), "Stage"),
    "E9105": (_function("apigateway.amazonaws.com"), _function("s3.amazonaws.com"), "Fn"),
    "E9102": (_api("NONE"), _api("AWS_IAM"), "Method"),
    "E9103": (_queue({}), _queue({"SqsManagedSseEnabled": True}), "Queue"),
    "E9104": (_log({"RetentionInDays": 30}), _log({"RetentionInDays": 30, "KmsKeyId": KEY}), "Logs"),
    "E9106": ({"Role": _role("*")}, {"Role": _role("arn:aws:s3:::one-bucket/*")}, "Role"),
}


def _ids(tmp_path, resources: dict) -> set[str]:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {**BASE, **resources}}))
    return {f.rule for f in lint_template(str(path), "eu-west-1")}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_policy_rule_fails_a_template_that_breaks_it_and_passes_one_that_keeps_it(rule, tmp_path):
    failing, passing, lid = CASES[rule]
    assert rule in _ids(tmp_path, failing)
    assert not {i for i in _ids(tmp_path, passing) if i.startswith("E91")}
    excused = json.loads(json.dumps(failing))
    excused[lid]["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": [rule]}}}
    assert rule not in _ids(tmp_path, excused)  # what a waiver writes into the template


def test_a_cors_preflight_is_not_an_unauthenticated_route(tmp_path):
    assert "E9102" not in _ids(tmp_path, _api("NONE", "OPTIONS"))


def test_a_function_another_may_invoke_may_keep_a_dead_letter_queue(tmp_path):
    resources = _function(None)
    resources["Caller"] = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": "c", "Roles": [{"Ref": "Role"}], "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["Fn", "Arn"]}}]}}}
    assert "E9105" not in _ids(tmp_path, resources)
    assert "E9105" in _ids(tmp_path, _function(None))


def test_a_private_rest_api_is_not_a_public_endpoint(tmp_path):
    resources = _stage(False)
    resources["Api"]["Properties"]["EndpointConfiguration"] = {"Types": ["PRIVATE"]}
    assert "E9101" not in _ids(tmp_path, resources)
