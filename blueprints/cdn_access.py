"""The cdn-access stacks, deployed after the edge: what lets only this environment's distributions read the buckets
(bucket policies) and call the function URLs (Lambda permissions) they use as origins."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import s3 as as3
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import awslambda, s3

from compiler.context import Context
from compiler.naming import EDGE, FUNCTIONS, logical_id
from compiler.spec import Spec
from compiler.spec.regions import EDGE_REGION

from .exceptions import tls_policy
from .parts import bucket_arn
from .secure import tls_only_statement


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    facts = ctx.facts

    def arns(distributions: tuple[str, ...]) -> Any:
        values = [ctx.ref(EDGE, logical_id(d, "DistributionArn"), EDGE_REGION) for d in distributions]
        return values[0] if len(values) == 1 else values

    for bucket, readers in facts.bucket_readers.items():
        # The copy in the DR region too: bucket policies are not replicated, and CloudFront fails over to the copy.
        name = facts.bucket_in(bucket, ctx.region)
        if name is not None:
            lid = logical_id("CdnAccess", bucket, "BucketPolicy")
            yield tls_policy(s3.BucketPolicy(lid, Bucket=name, PolicyDocument=PolicyDocument(
                Version="2012-10-17", Statement=[
                    Statement(Sid="CloudFrontReads", Effect=Allow, Principal=Principal("Service", "cloudfront.amazonaws.com"),
                              Action=[as3.GetObject], Resource=[bucket_arn(name, "*")],
                              Condition=Condition(StringEquals({"AWS:SourceArn": arns(readers)}))),
                    tls_only_statement(bucket_arn(name)),
                ])), lid)
    for function, readers in facts.url_readers.get(ctx.region, {}).items():
        fn_arn = ctx.ref(FUNCTIONS, f"{logical_id('Fn', function)}Arn")
        for dist in readers:
            source = ctx.ref(EDGE, logical_id(dist, "DistributionArn"), EDGE_REGION)
            base = logical_id("CdnAccess", function, dist)
            # Origin access control signs each request; the URL (AWS_IAM) lets in only this distribution.
            yield awslambda.Permission(f"{base}UrlPermission", FunctionName=fn_arn, Action="lambda:InvokeFunctionUrl",
                                       Principal="cloudfront.amazonaws.com", SourceArn=source)
            yield awslambda.Permission(f"{base}InvokePermission", FunctionName=fn_arn, Action="lambda:InvokeFunction",
                                       Principal="cloudfront.amazonaws.com", SourceArn=source, InvokedViaFunctionUrl=True)
