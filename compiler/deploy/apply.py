"""archc deploy: execute exactly the reviewed change sets, in dependency order, with events, protection and a clear end state."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..diagnostics import EXIT_BLOCKED, ArchcError
from ..diff import write_baseline
from .aws import Aws, AwsError
from .review import allowed

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE",
          "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE", "DELETE_FAILED", "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}
CANCELLED = ("Resource creation cancelled", "Resource update cancelled", "Resource deletion cancelled")


@dataclass
class Options:
    parallel: int = 4
    timeout_s: float | None = None  # per stack; None: the plan's deploy.timeout_minutes
    poll_s: float = 5.0
    regions: tuple[str, ...] = ()
    echo: Callable[[str, str], None] = lambda _msg, _style="": None


@dataclass
class Outcome:
    id: str
    state: str  # deployed | failed | timeout | skipped | interrupted
    seconds: float = 0.0
    stack_status: str | None = None
    failure: str | None = None  # first failed resource and its reason, or the API error
    warnings: list[str] = field(default_factory=list)


# --- checks before anything runs -------------------------------------------------------------------------------

def runnable(plan: dict, regions: tuple[str, ...], aws: Aws) -> list[dict]:
    """The plan's stacks with changes in the chosen regions; a stack whose producer is outside --region and has
    changes of its own in this plan runs only once that producer's change set has been executed."""
    chosen = [s for s in plan["stacks"] if s["status"] == "changes" and (not regions or s["region"] in regions)]
    if regions:
        ids = {s["id"] for s in chosen}
        pending = {s["id"]: s for s in plan["stacks"] if s["status"] == "changes"}
        for s in chosen:
            for d in s["dependencies"]:
                if d in pending and d not in ids:
                    cs = aws.change_set(pending[d]["region"], pending[d]["change_set"]["arn"])
                    if (cs or {}).get("ExecutionStatus") != "EXECUTE_COMPLETE":
                        raise ArchcError(f"{s['id']} depends on {d}, which has changes in this plan but is outside --region: "
                                         "deploy that region first (or together)")
    return chosen


def verify(plan: dict, stacks: list[dict], out_dir: Path, aws: Aws) -> None:
    """What runs is what was reviewed: the same template bytes, and every change set still there and AVAILABLE."""
    if plan["blocked"]:
        codes = [f"{r['stack']} {r['logical_id']}" for r in plan["risks"] if r["blocking"]]
        raise ArchcError(f"the plan is blocked by data-loss risks (D501: {', '.join(codes)}); if the replacement or removal is "
                         "intended, plan again with --allow-replace LOGICAL_ID", exit_code=EXIT_BLOCKED)
    env_dir = out_dir / plan["environment"]
    problems = []
    for s in stacks:
        path = env_dir / s["path"]
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            problems.append(f"{s['id']}: {path} is gone")
            continue
        if sha != s["sha256"]:
            problems.append(f"{s['id']}: {path} changed since the plan (sha256 {sha[:12]}, planned {s['sha256'][:12]})")
    if problems:
        raise ArchcError("templates differ from what was reviewed; run `archc plan` again:\n  " + "\n  ".join(problems))
    if stacks:
        account = aws.account_id(stacks[0]["region"])
        if plan.get("account") and account != plan["account"]:
            raise ArchcError(f"the plan was made in account {plan['account']}, these credentials are for {account}")
    for s in stacks:
        cs = aws.change_set(s["region"], s["change_set"]["arn"])
        if cs is None:
            problems.append(f"{s['id']}: change set {s['change_set']['name']} no longer exists (a newer plan or someone else removed it)")
        elif cs.get("Status") != "CREATE_COMPLETE" or cs.get("ExecutionStatus") != "AVAILABLE":
            problems.append(f"{s['id']}: change set {s['change_set']['name']} is {cs.get('Status')}/{cs.get('ExecutionStatus')}, not AVAILABLE")
    if problems:
        raise ArchcError("the reviewed change sets cannot run; run `archc plan` again:\n  " + "\n  ".join(problems))


# --- one stack ---------------------------------------------------------------------------------------------------

def stack_policy(stateful: list[str], exempt: set[str] = frozenset()) -> dict:
    """Updates may do anything except replace or delete a stateful resource (minus those allowed by name in this plan)."""
    protected = sorted(set(stateful) - exempt)
    statements = [{"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"}]
    if protected:
        statements.append({"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
                           "Resource": [f"LogicalResourceId/{lid}" for lid in protected]})
    return {"Statement": statements}


def first_failure(events: list[dict]) -> str | None:
    """The first resource that failed (oldest first), skipping the cancellations that follow it; else the stack's own reason."""
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    for e in failed:
        reason = e.get("ResourceStatusReason") or ""
        if e.get("ResourceType") != "AWS::CloudFormation::Stack" and not any(c in reason for c in CANCELLED):
            return f"{e['LogicalResourceId']} ({e.get('ResourceType')}) {e['ResourceStatus']}: {reason or 'no reason given'}"
    # No resource says why: the stack's own rollback or failure event does ("The following resource(s) failed ...").
    for e in events:
        status = e.get("ResourceStatus", "")
        if e.get("ResourceStatusReason") and ("ROLLBACK" in status or status.endswith("_FAILED")):
            return f"{e['LogicalResourceId']} {status}: {e['ResourceStatusReason']}"
    return None


class StackRun:
    """Execute one change set, stream its events, wait for the end state, then apply the stack settings."""

    def __init__(self, s: dict, plan: dict, aws: Aws, opts: Options, out_dir: Path, stop: threading.Event):
        self.s, self.plan, self.aws, self.opts, self.out_dir, self.stop = s, plan, aws, opts, out_dir, stop
        self.region, self.name = s["region"], s["stack"]
        self.ref = s["change_set"].get("stack_id") or s["stack"]  # by id: a name can match an older stack holder
        self.seen: set[str] = set()
        self.events: list[dict] = []
        self.loosened = False  # the stack policy let allowed replacements through during this update

    def _stream(self) -> None:
        for ev in self.aws.events(self.region, self.ref, self.seen):
            self.events.append(ev)
            reason = f"  {ev['ResourceStatusReason']}" if ev.get("ResourceStatusReason") else ""
            style = "red" if ev.get("ResourceStatus", "").endswith("FAILED") else ("green" if ev.get("ResourceStatus", "").endswith("COMPLETE") else "")
            self.opts.echo(f"  {self.s['id']}  {ev['LogicalResourceId']}  {ev.get('ResourceType', '')}  {ev.get('ResourceStatus')}{reason}", style)

    def run(self) -> Outcome:
        start = time.monotonic()
        timeout = self.opts.timeout_s if self.opts.timeout_s is not None else 60 * float(self.plan.get("deploy", {}).get("timeout_minutes", 120))
        cs = self.s["change_set"]
        try:
            self.aws.events(self.region, self.ref, self.seen, one_page=True)  # what happened before is not this deploy's news
            if cs["type"] == "UPDATE":  # the policy in force during the update must let allowed replacements through
                exempt = {lid for lid in self.s["stateful"] if allowed(self.plan["allow_replace"], self.region, self.name, lid)}
                self.aws.set_stack_policy(self.region, self.ref, stack_policy(self.s["stateful"], exempt))
                self.loosened = bool(exempt)
            self.aws.execute_change_set(self.region, cs["arn"])
        except AwsError as e:
            return self._failed(start, f"{e.operation}: {e.code}: {e.aws_message}")
        self.opts.echo(f"{self.s['id']}: executing {cs['type']} change set {cs['name']}", "bold")
        while True:
            self._stream()
            st = self.aws.stack(self.region, self.ref)
            status = st["StackStatus"] if st else "DELETE_COMPLETE"
            if status in SUCCESS or status in FAILED:
                done = self.aws.change_set(self.region, cs["arn"])
                # Right after ExecuteChangeSet the stack can still show the end state of its previous operation:
                # it is this deploy's end state only once the change set has left AVAILABLE / EXECUTE_IN_PROGRESS.
                if (done or {}).get("ExecutionStatus") not in ("AVAILABLE", "EXECUTE_IN_PROGRESS"):
                    break
            if time.monotonic() - start > timeout:
                self._stream()
                return Outcome(self.s["id"], "timeout", time.monotonic() - start, status,
                               f"still {status} after {timeout / 60:.0f} minutes; CloudFormation carries on: follow it with "
                               f"`aws cloudformation describe-stacks --stack-name {self.name} --region {self.region}`, then plan again")
            if self.stop.wait(self.opts.poll_s):
                return Outcome(self.s["id"], "interrupted", time.monotonic() - start, status,
                               f"archc stopped watching while it was {status}; CloudFormation carries on")
        self._stream()
        if status not in SUCCESS:
            return self._failed(start, None, status)
        return self._finish(start, status)

    def _failed(self, start: float, error: str | None, status: str | None = None) -> Outcome:
        try:
            if status is None:
                st = self.aws.stack(self.region, self.ref)
                status = st["StackStatus"] if st else "not created"
            self._stream()
        except ArchcError:
            pass
        reason = first_failure(self.events) or error or "no failure event recorded"
        if error and error not in reason:
            reason = f"{error}; {reason}" if reason != "no failure event recorded" else error
        out = Outcome(self.s["id"], "failed", time.monotonic() - start, status, reason)
        if self.loosened:  # the update did not go through: protect everything stateful again
            try:
                self.aws.set_stack_policy(self.region, self.ref, stack_policy(self.s["stateful"]))
            except AwsError as e:
                out.warnings.append(f"could not restore the full stack policy: {e.code}: {e.aws_message}")
        return out

    def _finish(self, start: float, status: str) -> Outcome:
        """Settings the spec asks of a deployed stack; the template is recorded as the diff baseline."""
        out = Outcome(self.s["id"], "deployed", time.monotonic() - start, status)
        write_baseline(self.out_dir, self.plan["environment"], self.region, self.name,
                       json.loads((self.out_dir / self.plan["environment"] / self.s["path"]).read_text()))
        want = bool(self.plan.get("deploy", {}).get("termination_protection", False))
        try:
            self.aws.set_stack_policy(self.region, self.ref, stack_policy(self.s["stateful"]))
            st = self.aws.stack(self.region, self.ref) or {}
            if bool(st.get("EnableTerminationProtection", False)) != want:
                self.aws.set_termination_protection(self.region, self.ref, want)
        except AwsError as e:
            out.state = "failed"
            out.failure = f"deployed, but applying the stack policy or termination protection failed: {e.code}: {e.aws_message}"
        return out


# --- the whole plan ----------------------------------------------------------------------------------------------

def execute(plan: dict, stacks: list[dict], out_dir: Path, aws: Aws, opts: Options) -> list[Outcome]:
    """Run stacks as their dependencies finish, up to opts.parallel at once; after a failure start nothing new."""
    ids = {s["id"] for s in stacks}
    by_id = {s["id"]: s for s in stacks}
    deps = {s["id"]: [d for d in s["dependencies"] if d in ids] for s in stacks}
    order = [s["id"] for s in stacks]  # plan order = deploy order
    outcomes: dict[str, Outcome] = {}
    running: dict[Future, str] = {}
    stop = threading.Event()
    failed = False
    total = len(stacks)
    with ThreadPoolExecutor(max_workers=max(1, opts.parallel), thread_name_prefix="archc-deploy") as pool:
        try:
            while True:
                if not failed:
                    for sid in order:
                        if sid in outcomes or sid in running.values() or len(running) >= max(1, opts.parallel):
                            continue
                        if all(outcomes.get(d) and outcomes[d].state == "deployed" for d in deps[sid]):
                            n = len(outcomes) + len(running) + 1
                            opts.echo(f"[{n}/{total}] {sid}: starting", "bold")
                            running[pool.submit(StackRun(by_id[sid], plan, aws, opts, out_dir, stop).run)] = sid
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    sid = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except ArchcError as e:  # AWS unreachable mid-run: the stack's state is unknown, say so
                        outcome = Outcome(sid, "failed", 0.0, None, f"lost track of it: {e}")
                    outcomes[sid] = outcome
                    style = "green" if outcome.state == "deployed" else "bold red"
                    opts.echo(f"{sid}: {outcome.state} ({outcome.stack_status}, {outcome.seconds:.0f}s)"
                              + (f": {outcome.failure}" if outcome.failure else ""), style)
                    if outcome.state != "deployed":
                        failed = True
        except KeyboardInterrupt:
            stop.set()
            opts.echo("interrupted: waiting for the running stacks to report where they are", "bold red")
            for fut, sid in list(running.items()):
                try:
                    outcomes[sid] = fut.result()
                except ArchcError as e:
                    outcomes[sid] = Outcome(sid, "interrupted", 0.0, None, str(e))
    for sid in order:
        if sid not in outcomes:
            blockers = [d for d in deps[sid] if outcomes.get(d) and outcomes[d].state != "deployed"]
            why = f"not started: {', '.join(blockers)} did not deploy" if blockers else "not started: an earlier stack failed"
            outcomes[sid] = Outcome(sid, "skipped", 0.0, None, why)
    return [outcomes[sid] for sid in order]
