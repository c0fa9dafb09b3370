"""`archc destroy`: delete an environment's stacks, consumers before producers, after saying what stays behind.

The stacks are the manifest's (out/<env>/manifest.json), in reverse deploy order; a stack that was never deployed is
skipped. What a deletion keeps is read from the deployed template (not the compiled one): every resource whose
DeletionPolicy is Retain, RetainExceptOnCreate or Snapshot, with its physical id and where its data stays. A stack with
termination protection is refused unless named with --allow-protected; then nothing is deleted, since keeping it means
keeping every stack it reads from too."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..diagnostics import EXIT_BLOCKED, ArchcError
from ..manifest import Manifest, TemplateEntry
from .apply import event_line
from .aws import Aws, AwsError

KEPT = {"Retain": "retained", "RetainExceptOnCreate": "retained", "Snapshot": "final snapshot"}
# Where the data of a retained resource stays, by type: a phrase naming the physical id (`{id}`) and the region.
WHERE = {
    "AWS::S3::Bucket": "bucket {id} stays in {region} with its objects and versions",
    "AWS::DynamoDB::Table": "table {id} stays in {region} with its items",
    "AWS::DynamoDB::GlobalTable": "global table {id} stays, with its replicas, in {region} and its replica regions",
    "AWS::RDS::DBInstance": "instance {id} stays in {region} with its data",
    "AWS::KMS::Key": "key {id} stays in {region} (schedule its deletion once nothing it encrypted is kept)",
    "AWS::Logs::LogGroup": "log group {id} stays in {region} until its retention ends",
    "AWS::SecretsManager::Secret": "secret {id} stays in {region} (and its replicas)",
    "AWS::SQS::Queue": "queue {id} stays in {region} with its messages until their retention ends",
    "AWS::ECR::Repository": "repository {id} stays in {region} with its images",
}
DELETED = ("DELETE_COMPLETE",)
FAILED = ("DELETE_FAILED",)


@dataclass
class Target:
    t: TemplateEntry
    status: str | None = None  # the stack's status, None when it does not exist
    stack_id: str | None = None
    protected: bool = False
    kept: list[dict] = field(default_factory=list)  # {logical_id, type, physical_id, policy, where}

    @property
    def id(self) -> str:
        return self.t.id


@dataclass
class Options:
    stacks: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    allow_protected: tuple[str, ...] = ()
    poll_s: float = 5.0
    timeout_s: float = 3600.0
    echo: Callable[[str, str], None] = lambda msg, style="": None


def plan_destroy(manifest: Manifest, aws: Aws, opts: Options) -> list[list[Target]]:
    """Batches of deployed stacks to delete (each batch after the one before), with what each keeps. Raises when a
    protected stack is not allowed by name, before anything is deleted."""
    chosen = {t.id: t for t in manifest.select(opts.stacks, opts.regions)}
    unknown = [a for a in opts.allow_protected if a not in chosen and a not in {t.stack for t in chosen.values()}]
    if unknown:
        raise ArchcError(f"--allow-protected names no stack of this selection: {', '.join(unknown)}")
    batches: list[list[Target]] = []
    for batch in reversed(manifest.deploy_order):
        targets = []
        for sid in batch:
            if sid not in chosen:
                continue
            target = _inspect(chosen[sid], aws)
            if target.status is not None:
                targets.append(target)
        if targets:
            batches.append(targets)
    refused = [x for b in batches for x in b if x.protected and not _allowed(x, opts.allow_protected)]
    if refused:
        names = ", ".join(x.id for x in refused)
        raise ArchcError(f"nothing deleted: {names} {'has' if len(refused) == 1 else 'have'} termination protection. Name "
                         f"{'it' if len(refused) == 1 else 'each'} with --allow-protected to delete "
                         f"{'it' if len(refused) == 1 else 'them'} too (archc turns the protection off first), or leave "
                         f"{'it' if len(refused) == 1 else 'them'} out with --stack/--region (and everything "
                         f"{'it reads' if len(refused) == 1 else 'they read'} from)", exit_code=EXIT_BLOCKED)
    # A stack left out of the selection keeps what it reads from: deleting a producer breaks its consumers.
    kept = {t.id for t in manifest.templates if t.id not in chosen and _inspect(t, aws).status is not None}  # deployed ones
    needed = {dep for t in manifest.templates if t.id in kept for dep in _closure(manifest, t.id)}
    clash = sorted(needed & set(chosen))
    if clash:
        raise ArchcError(f"nothing deleted: {', '.join(clash)} {'is' if len(clash) == 1 else 'are'} read by stacks you keep "
                         f"({', '.join(sorted(t for t in kept if set(_closure(manifest, t)) & set(clash)))}): select those too, "
                         "or leave these out", exit_code=EXIT_BLOCKED)
    return batches


def _closure(manifest: Manifest, sid: str) -> set[str]:
    deps = {t.id: set(t.dependencies) for t in manifest.templates}
    seen: set[str] = set()
    todo = list(deps.get(sid, ()))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(deps.get(d, ()))
    return seen


def _allowed(x: Target, allow: tuple[str, ...]) -> bool:
    return x.id in allow or x.t.stack in allow


def _inspect(t: TemplateEntry, aws: Aws) -> Target:
    st = aws.stack(t.region, t.stack)
    if st is None or st["StackStatus"] == "DELETE_COMPLETE":
        return Target(t)
    target = Target(t, st["StackStatus"], st["StackId"], bool(st.get("EnableTerminationProtection")))
    template = aws.template(t.region, st["StackId"]) or {}
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in _resources(aws, t.region, st["StackId"])}
    for lid, res in sorted((template.get("Resources") or {}).items()):
        policy = res.get("DeletionPolicy", "Delete")
        if policy not in KEPT or lid not in physical:  # a resource never created keeps nothing
            continue
        pid = physical[lid]
        text = "{id} in {region} is deleted after a final snapshot, which stays" if policy == "Snapshot" else \
            WHERE.get(res.get("Type", ""), "{id} stays in {region}")
        where = text.format(id=pid or lid, region=t.region)
        target.kept.append({"logical_id": lid, "type": res.get("Type"), "physical_id": pid, "policy": policy,
                            "kept_as": KEPT[policy], "where": where})
    return target


def _resources(aws: Aws, region: str, stack_id: str) -> list[dict]:
    out, token = [], None
    while True:
        page = aws.call("cloudformation", region, "list_stack_resources", StackName=stack_id, **({"NextToken": token} if token else {}))
        out.extend(page.get("StackResourceSummaries", []))
        token = page.get("NextToken")
        if not token:
            return out


def delete(batches: list[list[Target]], aws: Aws, opts: Options) -> list[dict]:
    """Delete batch by batch, streaming each stack's events; stop after the first batch with a failure."""
    results = []
    for batch in batches:
        running = {}
        for x in batch:
            try:
                if x.protected:
                    aws.set_termination_protection(x.t.region, x.stack_id, False)
                    opts.echo(f"{x.id}: termination protection off (--allow-protected)", "yellow")
                seen: set[str] = set()
                aws.events(x.t.region, x.stack_id, seen, one_page=True)
                aws.call("cloudformation", x.t.region, "delete_stack", StackName=x.stack_id)
                opts.echo(f"{x.id}: deleting", "bold")
                running[x.id] = (x, seen, time.monotonic())
            except AwsError as e:
                results.append({"id": x.id, "state": "failed", "reason": f"{e.operation}: {e.code}: {e.aws_message}"})
        while running:
            for sid, (x, seen, start) in list(running.items()):
                for ev in aws.events(x.t.region, x.stack_id, seen):
                    opts.echo(*event_line(sid, ev))
                st = aws.stack(x.t.region, x.stack_id)
                status = st["StackStatus"] if st else "DELETE_COMPLETE"
                if status in DELETED or status in FAILED:
                    results.append({"id": sid, "state": "deleted" if status in DELETED else "failed", "stack_status": status,
                                    "reason": None if status in DELETED else (st or {}).get("StackStatusReason") or "see the events above"})
                    del running[sid]
                elif time.monotonic() - start > opts.timeout_s:
                    results.append({"id": sid, "state": "timeout", "stack_status": status,
                                    "reason": f"still {status}: CloudFormation carries on; run destroy again when it is done"})
                    del running[sid]
            if running:
                time.sleep(opts.poll_s)
        if any(r["state"] != "deleted" for r in results):
            break
    return results
