"""Change sets deploy makes itself, each held to what plan reviewed:
- a stack created after its inputs: plan reviewed it from its template (a new stack's change set only adds what the
  template declares); deploy makes the change set once the stacks it reads from exist, and runs it only if it is exactly that;
- a stack reading a value a producer changes in the same plan: once the producer is deployed, deploy reads the value again
  and, if it changed, makes the change set again with the new value and runs it only if its actions, logical ids and
  replacements are the reviewed ones, plus the in-place updates plan listed for the resources that read the value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..manifest import read as read_manifest
from .apply import UPDATE_AFTER, deployed
from .aws import Aws
from .changesets import Entry, Options, artifacts_only, settle, submit
from .review import change_row, review_stack


def differs(s: dict, changes: list[dict]) -> str | None:
    """Why a CREATE change set is not the reviewed one (only additions, exactly the reviewed logical ids and types), or None.
    A template with a transform may add what its expansion declares (e.g. a hosted rotation's nested stack)."""
    got = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in changes if c.get("Type", "Resource") == "Resource"}
    reviewed = {r["logical_id"]: r["type"] for r in s["changes"]}
    problems = []
    if not_added := sorted(lid for lid, rc in got.items() if rc.get("Action") != "Add"):
        problems.append(f"changes that are not additions: {', '.join(not_added)}")
    if missing := sorted(set(reviewed) - set(got)):
        problems.append(f"reviewed but not in it: {', '.join(missing)}")
    if (extra := sorted(set(got) - set(reviewed))) and not s.get("transform"):
        problems.append(f"in it but not reviewed: {', '.join(extra)}")
    if retyped := sorted(lid for lid in set(got) & set(reviewed) if got[lid].get("ResourceType") != reviewed[lid]):
        problems.append(f"of another type than reviewed: {', '.join(retyped)}")
    return "; ".join(problems) or None


def _entry(s: dict, plan: dict, out_dir: Path, parameters: dict[str, str]) -> tuple[Entry, object]:
    """The plan's stack as an Entry to submit again (its template bytes were checked against the plan before anything ran)."""
    manifest = read_manifest(out_dir, plan["environment"])
    t = next(t for t in manifest.templates if t.id == s["id"])
    body = (out_dir / plan["environment"] / s["path"]).read_bytes()
    return Entry(t, body, json.loads(body), parameters=parameters, template_url=s["template_url"]), manifest


def create_reviewed(s: dict, plan: dict, aws: Aws, out_dir: Path, poll_s: float, echo: Callable[[str, str], None]) -> tuple[dict | None, str | None]:
    """Make the CREATE change set of a stack planned "create after" its inputs: ({name, arn, type, stack_id}, None) when it is
    what was reviewed; else (None, why), with the change set and its empty stack deleted."""
    e, manifest = _entry(s, plan, out_dir, artifacts_only(s["parameters"]))  # the values its inputs output now, not at plan time
    opts = Options(poll_s=poll_s, echo=lambda msg: echo(msg, "dim"))
    stack = aws.stack(e.region, e.name)
    if stack is not None and stack["StackStatus"] != "REVIEW_IN_PROGRESS":  # the plan reviewed a creation, not an update
        return None, f"the stack exists already ({stack['StackStatus']}): this plan reviewed its creation; run `archc plan` again"
    missing = [d for d in e.t.dependencies if not deployed(aws.stack(*d.split("/", 1)))]
    if missing:
        return None, f"its inputs are not deployed: {', '.join(missing)}; deploy them first (plan them too), then plan again"
    submit(e, stack, plan["environment"], manifest, aws, opts)
    if e.change_set is None or e.change_set_type != "CREATE":
        return None, f"CloudFormation did not make a CREATE change set ({e.reason or e.change_set_type}): run `archc plan` again"
    settle(e, aws, opts, [])
    problem = differs(s, e.change_set.get("changes", [])) if e.status == "changes" else f"CloudFormation saw {e.status}"
    if problem:
        if e.status == "changes":
            aws.delete_change_set(e.region, e.change_set["arn"])
        if e.stack_id:
            aws.delete_stack(e.region, e.stack_id)  # the empty REVIEW_IN_PROGRESS holder of this CREATE change set
        return None, f"its change set is not what plan reviewed from the template ({problem}): run `archc plan` again"
    return {k: e.change_set[k] for k in ("name", "arn", "type", "stack_id")}, None


def changed_reads(s: dict, aws: Aws) -> list[str]:
    """The values this stack read at plan time from producers that changed since ("Output of region/stack: old -> new")."""
    changed = []
    for r in s.get("reads", []):
        now = aws.outputs(*r["producer"].split("/", 1)).get(r["output"])
        if now != r["value"]:
            changed.append(f"{r['output']} of {r['producer']}: {r['value']} -> {now}")
    return changed


def matches(s: dict, rows: list[dict]) -> str | None:
    """Why a re-made change set's rows are not the review (the reviewed rows' actions and replacements, plus in-place updates
    of the resources plan expected to read the new value), or None."""
    reviewed = {r["logical_id"]: r for r in s["changes"] if not r.get("condition")}
    expected = {r["logical_id"] for r in s["changes"] if r.get("condition")}
    got = {r["logical_id"]: r for r in rows}
    problems = []
    if missing := sorted(set(reviewed) - set(got)):
        problems.append(f"reviewed but not in it: {', '.join(missing)}")
    if other := sorted(lid for lid in set(reviewed) & set(got) if (got[lid]["action"], got[lid]["replacement"])
                       != (reviewed[lid]["action"], reviewed[lid]["replacement"])):
        problems.append("another action or replacement than reviewed: " + ", ".join(
            f"{lid} ({got[lid]['action']}, replacement {got[lid]['replacement']})" for lid in other))
    if extra := sorted(lid for lid in set(got) - set(reviewed)
                       if not (lid in expected and got[lid]["action"] == "Modify" and got[lid]["replacement"] == "False")):
        problems.append("not reviewed: " + ", ".join(f"{lid} ({got[lid]['action']}, replacement {got[lid]['replacement']})" for lid in extra))
    return "; ".join(problems) or None


def refresh(s: dict, plan: dict, aws: Aws, out_dir: Path, poll_s: float, echo: Callable[[str, str], None]) -> tuple[dict | None, str | None]:
    """For a stack that read values its producers change in this plan, once they are deployed: (the change set to run, None).
    Values unchanged: the reviewed change set (None for an "update after" stack: nothing to run). Changed: the change set
    made again with the new values, when it matches the review. Otherwise (None, why), with the new change set deleted."""
    changed = changed_reads(s, aws)
    if not changed:
        echo(f"{s['id']}: the values it reads from this deploy's stacks did not change"
             + ("" if s["change_set"] else ": nothing to update"), "")
        return s["change_set"], None
    echo(f"{s['id']}: values it reads changed since the plan ({'; '.join(changed)}): making its change set again", "bold")
    e, manifest = _entry(s, plan, out_dir, artifacts_only(s["parameters"]))
    opts = Options(poll_s=poll_s, echo=lambda msg: echo(msg, "dim"))
    stack = aws.stack(e.region, s.get("stack_id") or e.name)
    if not deployed(stack):
        return None, f"the stack is {stack['StackStatus'] if stack else 'gone'}, not the deployed stack plan reviewed: run `archc plan` again"
    submit(e, stack, plan["environment"], manifest, aws, opts)  # deletes the reviewed change set: the newest wins
    if e.status != "no changes":
        settle(e, aws, opts, [])
    if e.status == "no changes":  # a value changed that no resource property ends up different for
        if s["status"] != UPDATE_AFTER:
            return None, "with the new values CloudFormation sees no changes, though plan reviewed some: run `archc plan` again"
        echo(f"{s['id']}: CloudFormation sees no change in this stack from the new values: nothing to update", "")
        return None, None
    changes = e.change_set.get("changes", [])
    rows = [change_row(e.region, c, e.deployed_template, e.template) for c in changes]
    problem = matches(s, rows)
    if not problem:
        _, risks = review_stack(s["id"], changes, e.deployed_template, e.template, plan["allow_replace"])
        if blocking := sorted(f"{r.code} {r.logical_id}" for r in risks if r.blocking):
            problem = f"with the new values it would lose data ({', '.join(blocking)})"
    if problem:
        aws.delete_change_set(e.region, e.change_set["arn"])
        return None, (f"with the new values its change set is not what plan reviewed ({problem}); it was deleted: run "
                      "`archc plan` again to review it")
    echo(f"{s['id']}: change set {e.change_set['name']} made again with the new values: it matches the review", "bold")
    return {k: e.change_set[k] for k in ("name", "arn", "type", "stack_id")}, None
