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


CASES = {
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
