"""The images stack: the ECR repositories the spec's container-image functions pull from, in every region a function
runs in (Lambda pulls only from its own region), and in the primary region the rule that replicates each push to the DR."""

from __future__ import annotations

import json
from typing import Any, Iterable

from awacs import ecr as aecr
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringLike
from troposphere import AccountId, GetAtt, Sub, ecr

from compiler.context import Context
from compiler.naming import IMAGES, logical_id, repository_name
from compiler.spec import Repository, Spec

from .secure import retain

REPLICA_OUTPUT = "ReplicatedPrefix"


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    repos = {n: r for n, r in spec.repositories.items() if ctx.primary or r.replicate}
    for name, repo in repos.items():
        yield from _repository(name, repo, ctx)
    dr = spec.regions.dr
    if dr is None or not repos:
        return
    prefix = repository_name(ctx.prefix, "")  # every repository of this environment
    if not ctx.primary:
        # Read by the primary region's replication rule: a push replicates only once these repositories exist here
        # (ECR would otherwise create them itself, with none of the settings above, and this stack could not).
        yield ctx.output(REPLICA_OUTPUT, prefix, "repository name prefix that the primary region replicates here")
        return
    # One replication configuration per registry and region: it replaces whatever the account had (README).
    yield ecr.ReplicationConfiguration("ImagesReplicationConfiguration", ReplicationConfiguration=ecr.ReplicationConfigurationProperty(
        Rules=[ecr.ReplicationRule(
            Destinations=[ecr.ReplicationDestination(Region=dr, RegistryId=AccountId)],
            RepositoryFilters=[ecr.RepositoryFilter(Filter=ctx.ref(IMAGES, REPLICA_OUTPUT, dr), FilterType="PREFIX_MATCH")])]))


def _repository(name: str, repo: Repository, ctx: Context) -> Iterable[Any]:
    lid = logical_id("Images", name, "Repository")
    lifecycle = {"rules": [{"rulePriority": 1, "description": f"keep the last {repo.keep_images} images",
                            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": repo.keep_images},
                            "action": {"type": "expire"}}]}
    # Lambda pulls with its service principal; only this environment's functions, in this account and region.
    policy = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Sid="LambdaPull", Effect=Allow, Principal=Principal("Service", "lambda.amazonaws.com"),
        Action=[aecr.BatchGetImage, aecr.GetDownloadUrlForLayer],
        Condition=Condition(StringLike({"aws:SourceArn": Sub(f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:"
                                                               f"function:{ctx.prefix}-*")})))])
    res = ecr.Repository(
        lid, RepositoryName=repository_name(ctx.prefix, name), ImageTagMutability="IMMUTABLE",
        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
        EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="KMS"),
        LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=json.dumps(lifecycle, sort_keys=True)),
        RepositoryPolicyText=policy, EmptyOnDelete=False)
    yield retain(res)
    yield ctx.output(logical_id(name, "RepositoryUri"), GetAtt(res, "RepositoryUri"), f"repository {name}")
