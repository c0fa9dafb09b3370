"""Stacks created after their inputs: plan reviewed them from their template (a new stack's change set only adds what the
template declares); deploy makes the change set once the stacks they read from exist, and runs it only if it is exactly
what was reviewed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..manifest import read as read_manifest
from .apply import deployed
from .aws import Aws
from .changesets import Entry, Options, settle, submit


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


def create_reviewed(s: dict, plan: dict, aws: Aws, out_dir: Path, poll_s: float, echo: Callable[[str, str], None]) -> tuple[dict | None, str | None]:
    """Make the CREATE change set of a stack planned "create after" its inputs: ({name, arn, type, stack_id}, None) when it is
    what was reviewed; else (None, why), with the change set and its empty stack deleted."""
    env = plan["environment"]
    manifest = read_manifest(out_dir, env)
    t = next(t for t in manifest.templates if t.id == s["id"])
    body = (out_dir / env / s["path"]).read_bytes()  # its sha256 was checked against the plan before anything ran
    e = Entry(t, body, json.loads(body), parameters=dict(s["parameters"]), template_url=s["template_url"])
    opts = Options(poll_s=poll_s, echo=lambda msg: echo(msg, "dim"))
    stack = aws.stack(e.region, e.name)
    if stack is not None and stack["StackStatus"] != "REVIEW_IN_PROGRESS":  # the plan reviewed a creation, not an update
        return None, f"the stack exists already ({stack['StackStatus']}): this plan reviewed its creation; run `archc plan` again"
    missing = [d for d in t.dependencies if not deployed(aws.stack(*d.split("/", 1)))]
    if missing:
        return None, f"its inputs are not deployed: {', '.join(missing)}; deploy them first (plan them too), then plan again"
    submit(e, stack, env, manifest, aws, opts)
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
