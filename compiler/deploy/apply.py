"""archc deploy: execute exactly the reviewed change sets, in dependency order, with events, protection and a clear end state;
bring the protection settings of stacks without template changes up to date."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..diagnostics import EXIT_BLOCKED, ArchcError, did_you_mean
from ..diff import write_baseline
from .aws import Aws, AwsError
from .review import allowed, review_stack

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE",
          "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE", "DELETE_FAILED", "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}
CANCELLED = ("Resource creation cancelled", "Resource update cancelled", "Resource deletion cancelled")
DONE = ("deployed", "protected")  # the outcomes a dependent stack may start after
CREATE_AFTER = "create after"  # a new stack whose inputs did not exist at plan time, reviewed from its template
UPDATE_AFTER = "update after"  # no changes of its own, but reads a value a producer in the plan may change


@dataclass
class Options:
    parallel: int = 4
    timeout_s: float | None = None  # per stack; None: the plan's deploy.timeout_minutes
    poll_s: float = 5.0
    regions: tuple[str, ...] = ()
    echo: Callable[[str, str], None] = lambda _msg, _style="": None
    # (stack id, state, what it is doing now): the live view's hook; deploy's plain lines do not need it
    progress: Callable[..., None] = lambda _sid, _state=None, _detail=None: None


@dataclass
class Outcome:
    id: str
    state: str  # deployed | protected | failed | unknown | timeout | skipped | interrupted
    seconds: float = 0.0
    stack_status: str | None = None
    failure: str | None = None  # first failed resource and its reason, or the API error
    warnings: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # protection settings set on a stack with no change set to run


def executes(s: dict) -> bool:
    """The stack has a reviewed change set to execute, or one to make from a reviewed template once its inputs exist (its
    protection settings follow a successful execution)."""
    return s["status"] in ("changes", CREATE_AFTER, UPDATE_AFTER)


def settings_only(s: dict) -> bool:
    """No change set to execute, but protection settings to apply."""
    return not executes(s) and bool(s["settings"])


# --- checks before anything runs -------------------------------------------------------------------------------

def check_regions(plan: dict, regions: tuple[str, ...]) -> None:
    """--region must name a region the plan has stacks in: a typo is a mistake, not "nothing to deploy"."""
    known = {s["region"] for s in plan["stacks"]}
    for r in regions:
        if r not in known:
            raise ArchcError(f'the plan for {plan["environment"]} has no stacks in region "{r}"{did_you_mean(r, known)}; '
                             f"regions: {', '.join(sorted(known)) or 'none'}")


def refuse_blocked(plan: dict) -> None:
    if plan["blocked"]:
        codes = [f"{r['code']} {r['stack']} {r['logical_id']}" for r in plan["risks"] if r["blocking"]]
        raise ArchcError(f"the plan is blocked ({', '.join(codes)}): a data-loss risk (D501; if intended, plan again with "
                         "--allow-replace LOGICAL_ID) or an export in use that would change (D506)", exit_code=EXIT_BLOCKED)


def runnable(plan: dict, regions: tuple[str, ...], aws: Aws) -> list[dict]:
    """The plan's stacks with changes or protection settings to apply, in the chosen regions; a stack with a change set whose
    producer is outside --region and has changes of its own in this plan runs only once that producer's change set has been
    executed (settings read no outputs: they need no producer)."""
    check_regions(plan, regions)
    chosen = [s for s in plan["stacks"] if (executes(s) or settings_only(s)) and (not regions or s["region"] in regions)]
    if regions:
        ids = {s["id"] for s in chosen}
        pending = {s["id"]: s for s in plan["stacks"] if executes(s)}
        for s in chosen:
            if not executes(s):
                continue
            for d in s["dependencies"]:
                if d in pending and d not in ids:
                    if pending[d]["change_set"] is None:  # created after its inputs: done once the stack exists
                        done = deployed(aws.stack(pending[d]["region"], pending[d]["stack"]))
                    else:
                        cs = aws.change_set(pending[d]["region"], pending[d]["change_set"]["arn"])
                        done = (cs or {}).get("ExecutionStatus") == "EXECUTE_COMPLETE"
                    if not done:
                        raise ArchcError(f"{s['id']} depends on {d}, which has changes in this plan but is outside --region: "
                                         "deploy that region first (or together)")
    return chosen


def _stack_arn_problem(s: dict, stack_id: str, account: str) -> str | None:
    """Why a change set's StackId is not the planned stack (arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/UUID), or None."""
    planned = s["change_set"].get("stack_id")
    parts = stack_id.split(":", 5)
    where = parts[5].split("/") if len(parts) == 6 else []
    if (len(parts) != 6 or parts[2] != "cloudformation" or parts[3] != s["region"] or parts[4] != account
            or len(where) < 2 or where[:2] != ["stack", s["stack"]] or (planned and stack_id != planned)):
        return f"belongs to stack {stack_id or '(none)'}, not {planned or s['id']}"
    return None


def verify(plan: dict, stacks: list[dict], out_dir: Path, aws: Aws) -> None:
    """What runs is what was reviewed, whatever plan.json says: archc's own change sets (archc- names) on the planned stacks,
    still there and AVAILABLE, made from the planned template bytes (sha256 in their Description), and reviewed again
    here from AWS's own description: any data loss not allowed by name refuses the plan (exit 3). Stacks that only get
    protection settings are checked for the account alone (they run no template)."""
    refuse_blocked(plan)
    everything, stacks = stacks, [s for s in stacks if executes(s)]
    later = [s for s in stacks if s["status"] in (CREATE_AFTER, UPDATE_AFTER)]  # change sets made (and checked) in their turn
    foreign = [f"{s['id']}: {s['change_set']['name']}" for s in stacks if s not in later and not str(s["change_set"]["name"]).startswith("archc-")]
    if foreign:
        raise ArchcError("the plan names change sets archc did not make (archc's start with archc-); run `archc plan` again:\n  "
                         + "\n  ".join(foreign))
    env_dir = out_dir / plan["environment"]
    problems, templates = [], {}
    for s in stacks:
        path = env_dir / s["path"]
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            problems.append(f"{s['id']}: {path} is gone")
            continue
        sha = hashlib.sha256(body).hexdigest()
        if sha != s["sha256"]:
            problems.append(f"{s['id']}: {path} changed since the plan (sha256 {sha[:12]}, planned {s['sha256'][:12]})")
            continue
        try:
            templates[s["id"]] = json.loads(body)
        except json.JSONDecodeError:
            problems.append(f"{s['id']}: {path} is not valid JSON")
    if problems:
        raise ArchcError("templates differ from what was reviewed; run `archc plan` again:\n  " + "\n  ".join(problems))
    if not everything:
        return
    stacks = [s for s in stacks if s not in later]
    account = aws.account_id(everything[0]["region"])
    if account != plan["account"]:
        raise ArchcError(f"the plan was made in account {plan['account']}, these credentials are for {account}")
    described = {}
    for s in stacks:
        name = s["change_set"]["name"]
        cs = aws.change_set(s["region"], s["change_set"]["arn"], all_pages=True)
        if cs is None:
            problems.append(f"{s['id']}: change set {name} no longer exists (a newer plan or someone else removed it)")
            continue
        if cs.get("ChangeSetName") != name:
            problems.append(f"{s['id']}: {s['change_set']['arn']} is change set {cs.get('ChangeSetName')}, not {name}")
        elif cs.get("Status") != "CREATE_COMPLETE" or cs.get("ExecutionStatus") != "AVAILABLE":
            problems.append(f"{s['id']}: change set {name} is {cs.get('Status')}/{cs.get('ExecutionStatus')}, not AVAILABLE")
        elif wrong := _stack_arn_problem(s, cs.get("StackId", ""), account):
            problems.append(f"{s['id']}: change set {name} {wrong}")
        elif f"template sha256 {s['sha256']}" not in (cs.get("Description") or ""):
            problems.append(f"{s['id']}: change set {name} was not made from the planned template (its description does not "
                            f"carry sha256 {s['sha256'][:12]})")
        else:
            described[s["id"]] = cs
    if problems:
        raise ArchcError("the reviewed change sets cannot run; run `archc plan` again:\n  " + "\n  ".join(problems))
    blocking = []
    for s in stacks:
        old = aws.template(s["region"], s["stack"]) if s["change_set"]["type"] == "UPDATE" else None
        _, risks = review_stack(s["id"], described[s["id"]].get("Changes", []), old, templates[s["id"]], plan["allow_replace"])
        blocking += [f"{r.stack} {r.logical_id}" for r in risks if r.blocking]
    if blocking:
        raise ArchcError(f"the change sets would lose data though the plan says they do not (D501: {', '.join(blocking)}); "
                         "plan.json was edited or is not this plan: run `archc plan` again", exit_code=EXIT_BLOCKED)


# --- one stack ---------------------------------------------------------------------------------------------------

def stack_policy(stateful: list[str], exempt: set[str] = frozenset()) -> dict:
    """Updates may do anything except replace or delete a stateful resource (minus those allowed by name in this plan)."""
    protected = sorted(set(stateful) - exempt)
    statements = [{"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"}]
    if protected:
        statements.append({"Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
                           "Resource": [f"LogicalResourceId/{lid}" for lid in protected]})
    return {"Statement": statements}


def event_line(stack_id: str, ev: dict) -> tuple[str, str]:
    """One stack event as deploy and destroy print it, with its style."""
    status = ev.get("ResourceStatus", "")
    reason = f"  {ev['ResourceStatusReason']}" if ev.get("ResourceStatusReason") else ""
    style = "red" if status.endswith("FAILED") else ("green" if status.endswith("COMPLETE") or "SKIPPED" in status else "")
    return f"  {stack_id}  {ev['LogicalResourceId']}  {ev.get('ResourceType', '')}  {status}{reason}", style


def deployed(st: dict | None) -> bool:
    """A stack at rest after a create or update that kept it (its outputs exist)."""
    return st is not None and st["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")


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
        self.ref = (s["change_set"] or {}).get("stack_id") or s.get("stack_id") or s["stack"]  # by id: a name can match an older stack holder
        self.seen: set[str] = set()
        self.events: list[dict] = []
        self.loosened = False  # the stack policy let allowed replacements through during this update

    def _stream(self) -> None:
        for ev in self.aws.events(self.region, self.ref, self.seen):
            self.events.append(ev)
            self.opts.progress(self.s["id"], None, f"{ev['LogicalResourceId']} {ev.get('ResourceStatus', '')}")
            self.opts.echo(*event_line(self.s["id"], ev))

    def run(self) -> Outcome:
        """Never raises for a problem of this stack: whatever happens becomes its outcome, and a stack policy loosened for
        this update is restored first (before termination protection and the diff baseline)."""
        start = time.monotonic()
        outcome: Outcome | None = None
        try:
            try:
                outcome = self._run(start)
            finally:
                policy_error = self._restore_policy(outcome)
            if outcome.state == "deployed":
                if policy_error:
                    outcome.state = "failed"
                    outcome.failure = f"deployed, but setting the stack policy failed: {policy_error}"
                self._protect(outcome)
                write_baseline(self.out_dir, self.plan["environment"], self.region, self.name,
                               json.loads((self.out_dir / self.plan["environment"] / self.s["path"]).read_text()))
            elif policy_error:
                outcome.warnings.append(f"could not restore the full stack policy: {policy_error}")
        except Exception as e:  # anything at all: the other stacks carry on, this one is reported
            return Outcome(self.s["id"], "failed", time.monotonic() - start, outcome.stack_status if outcome else None, lost_track(e))
        return outcome

    def _run(self, start: float) -> Outcome:
        timeout = self.opts.timeout_s if self.opts.timeout_s is not None else 60 * float(self.plan.get("deploy", {}).get("timeout_minutes", 120))
        if self.s.get("status") == CREATE_AFTER:  # its inputs exist now: make the change set and hold it to the review
            from .deferred import create_reviewed

            made, problem = create_reviewed(self.s, self.plan, self.aws, self.out_dir, self.opts.poll_s, self.opts.echo)
            if problem:
                return Outcome(self.s["id"], "failed", time.monotonic() - start, None, problem)
            self.s = {**self.s, "change_set": made}
            self.ref = made.get("stack_id") or self.name
        elif self.s.get("reads"):  # it read values its producers changed in this deploy: read them again
            from .deferred import refresh

            made, problem = refresh(self.s, self.plan, self.aws, self.out_dir, self.opts.poll_s, self.opts.echo)
            if problem:
                return Outcome(self.s["id"], "failed", time.monotonic() - start, None, problem)
            if made is None:  # "update after", and nothing to update (refresh said why)
                return Outcome(self.s["id"], "deployed", time.monotonic() - start, (self.aws.stack(self.region, self.ref) or {}).get("StackStatus"))
            self.s = {**self.s, "change_set": made}
            self.ref = made.get("stack_id") or self.name
        cs = self.s["change_set"]
        try:
            self.aws.events(self.region, self.ref, self.seen, one_page=True)  # what happened before is not this deploy's news
            if cs["type"] == "UPDATE":  # the policy in force during the update must let allowed replacements through
                exempt = {lid for lid in self.s["stateful"] if allowed(self.plan["allow_replace"], self.region, self.name, lid)}
                self.loosened = bool(exempt)  # before the call: a call that fails half-way is restored all the same
                self.aws.set_stack_policy(self.region, self.ref, stack_policy(self.s["stateful"], exempt))
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
                execution = (done or {}).get("ExecutionStatus")
                # Right after ExecuteChangeSet the stack can still show the end state of its previous operation:
                # it is this deploy's end state only once the change set has left AVAILABLE / EXECUTE_IN_PROGRESS.
                if execution not in ("AVAILABLE", "EXECUTE_IN_PROGRESS"):
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
        ours = self._reached(status)
        if status in SUCCESS and (execution == "EXECUTE_COMPLETE" or (ours and status == f"{cs['type']}_COMPLETE")):
            return Outcome(self.s["id"], "deployed", time.monotonic() - start, status)
        if status in FAILED and (execution == "EXECUTE_FAILED" or ours):
            return self._failed(start, None, status)
        # The stack is at rest, but nothing says this execution put it there (the change set is gone or OBSOLETE and no
        # event of this run shows the end state): the stack may be showing an older operation's result.
        return Outcome(self.s["id"], "unknown", time.monotonic() - start, status,
                       f"the stack is {status}, but its change set {cs['name']} is {execution or 'gone'} and no event of this run "
                       f"shows it finishing: archc cannot tell whether the reviewed change ran; read the stack's events "
                       f"(`aws cloudformation describe-stack-events --stack-name {self.name} --region {self.region}`), then plan again")

    def _reached(self, status: str) -> bool:
        """An event of this run (events before the start are not in self.events) shows the stack itself reaching `status`."""
        return any(ev.get("ResourceType") == "AWS::CloudFormation::Stack" and ev.get("LogicalResourceId") == self.name
                   and ev.get("ResourceStatus") == status for ev in self.events)

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
        return Outcome(self.s["id"], "failed", time.monotonic() - start, status, reason)

    def _restore_policy(self, outcome: Outcome | None) -> str | None:
        """The full stack policy (stateful resources may not be replaced or deleted) after a deployed stack, and after anything
        at all once it was loosened for this update. Returns what went wrong, or None; never raises."""
        if not (self.loosened or (outcome is not None and outcome.state == "deployed")):
            return None
        try:
            self.aws.set_stack_policy(self.region, self.ref, stack_policy(self.s["stateful"]))
        except AwsError as e:
            return f"{e.code}: {e.aws_message}"
        except Exception as e:  # AWS unreachable, or anything else: reported, never raised from a finally
            return str(e) or type(e).__name__
        if self.loosened and outcome is not None and outcome.state in ("timeout", "interrupted"):
            outcome.warnings.append("the stack policy that let allowed replacements through was restored while CloudFormation "
                                    "still runs the update: a replacement not yet started may now be refused (the update then rolls back)")
        self.loosened = False
        return None

    def _protect(self, out: Outcome) -> None:
        """Termination protection on when the spec asks for it; archc never turns it off (a warning says it was left on)."""
        try:
            protect(self.aws, self.plan, self.region, self.name, self.ref, out)
        except AwsError as e:
            problem = f"turning on termination protection failed: {e.code}: {e.aws_message}"
            if out.state == "deployed":
                out.state, out.failure = "failed", f"deployed, but {problem}"
            else:  # already failed on the stack policy: keep that as the reason
                out.warnings.append(problem)


def protect(aws: Aws, plan: dict, region: str, name: str, ref: str, out: Outcome) -> bool:
    """Termination protection on when the spec asks for it and it is off (True when archc turned it on); never off: a warning
    on `out` says it was left on. Records the stack's status on `out`. Raises AwsError."""
    want = bool(plan.get("deploy", {}).get("termination_protection", False))
    st = aws.stack(region, ref) or {}
    if out.stack_status is None:
        out.stack_status = st.get("StackStatus")
    on = bool(st.get("EnableTerminationProtection", False))
    if want and not on:
        aws.set_termination_protection(region, ref, True)
        return True
    if on and not want:
        out.warnings.append("termination protection is on though the spec does not ask for it: archc leaves it on (turn it off "
                            f"yourself if you mean to: `aws cloudformation update-termination-protection "
                            f"--no-enable-termination-protection --stack-name {name} --region {region}`)")
    return False


class SettingsRun:
    """A stack with no change set to execute whose protection settings are behind: set the stack policy deploy sets (stateful
    resources may not be replaced or deleted) when the plan lists it, and turn termination protection on when the spec asks
    for it. No template runs and nothing else is touched (the plan already recorded the diff baseline)."""

    def __init__(self, s: dict, plan: dict, aws: Aws, opts: Options):
        self.s, self.plan, self.aws, self.opts = s, plan, aws, opts
        self.region, self.name = s["region"], s["stack"]
        self.ref = s.get("stack_id") or s["stack"]  # by id: the stack the plan read, not a newer one of the same name

    def run(self) -> Outcome:
        """Never raises: whatever goes wrong is this stack's outcome."""
        start = time.monotonic()
        out = Outcome(self.s["id"], "protected")
        try:
            if any(x["setting"] == "stack_policy" for x in self.s["settings"]):
                self.aws.set_stack_policy(self.region, self.ref, stack_policy(self.s["stateful"]))
                out.applied.append("stack_policy")
                kept = ", ".join(sorted(self.s["stateful"])) or "none (no stateful resources)"
                self.opts.echo(f"{self.s['id']}: stack policy set (updates may not replace or delete: {kept})", "")
            if protect(self.aws, self.plan, self.region, self.name, self.ref, out):
                out.applied.append("termination_protection")
                self.opts.echo(f"{self.s['id']}: termination protection turned on", "")
        except AwsError as e:
            done = f" ({', '.join(out.applied)} already set)" if out.applied else ""
            out.state, out.failure = "failed", f"setting its protection failed{done}: {e.operation}: {e.code}: {e.aws_message}"
        except Exception as e:  # anything at all: the other stacks carry on, this one is reported
            out.state, out.failure = "failed", lost_track(e)
        out.seconds = time.monotonic() - start
        return out


def lost_track(e: BaseException) -> str:
    return f"lost track of it: {e}" if isinstance(e, ArchcError) else f"lost track of it: {type(e).__name__}: {e}"


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
                        if all(outcomes.get(d) and outcomes[d].state in DONE for d in deps[sid]):
                            n = len(outcomes) + len(running) + 1
                            opts.echo(f"[{n}/{total}] {sid}: starting" + ("" if executes(by_id[sid]) else " (protection settings)"), "bold")
                            opts.progress(sid, "running", "starting")
                            run = (StackRun(by_id[sid], plan, aws, opts, out_dir, stop).run if executes(by_id[sid])
                                   else SettingsRun(by_id[sid], plan, aws, opts).run)
                            running[pool.submit(run)] = sid
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    sid = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception as e:  # whatever escaped a worker: its state is unknown, say so
                        outcome = Outcome(sid, "failed", 0.0, None, lost_track(e))
                    outcomes[sid] = outcome
                    opts.progress(sid, outcome.state, outcome.failure or outcome.stack_status or "")
                    style = "green" if outcome.state in DONE else "bold red"
                    opts.echo(f"{sid}: {outcome.state} ({outcome.stack_status}, {outcome.seconds:.0f}s)"
                              + (f": {outcome.failure}" if outcome.failure else ""), style)
                    if outcome.state not in DONE:
                        failed = True
        except KeyboardInterrupt:
            stop.set()
            opts.echo("interrupted: waiting for the running stacks to report where they are", "bold red")
            for fut, sid in list(running.items()):
                try:
                    outcomes[sid] = fut.result()
                except Exception as e:
                    outcomes[sid] = Outcome(sid, "interrupted", 0.0, None, lost_track(e))
    for sid in order:
        if sid not in outcomes:
            blockers = [d for d in deps[sid] if outcomes.get(d) and outcomes[d].state not in DONE]
            why = f"not started: {', '.join(blockers)} did not deploy" if blockers else "not started: an earlier stack failed"
            outcomes[sid] = Outcome(sid, "skipped", 0.0, None, why)
            opts.progress(sid, "skipped", why)
    return [outcomes[sid] for sid in order]
