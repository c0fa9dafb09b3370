"""The review of a change set: one row per resource change, and the risk classes (data loss gate, broadened access, left-behind resources)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from ..diff import predict, stateful_types
from ..refs import names

# One code per risk class; tests assert codes, never message text.
CODES: dict[str, str] = {
    "D501": "data loss: a stateful resource replaced or removed (blocked)",
    "D502": "IAM permissions broadened",
    "D503": "security group broadened",
    "D504": "retained resource left behind",
    "D505": "replacement or removal of a stateful resource allowed by name",
    "D506": "an output other stacks use would change or go while in use: an import, or a value archc passes them (blocked)",
    "D507": "a value read from a stack this plan may change: deploy reads it again and re-makes the change set if it changed",
}
SEVERITY = {"D501": "blocked", "D502": "warning", "D503": "warning", "D504": "note", "D505": "note", "D506": "blocked", "D507": "note"}
BLOCKING = ("D501", "D506")  # data loss; an export another stack imports would change (CloudFormation would refuse mid-deploy)
RETAIN = ("Retain", "RetainExceptOnCreate")
WORLD = ("0.0.0.0/0", "::/0")
# Identities: their policies govern only themselves, so removing one takes its Allows away with its Denies.
IDENTITIES = ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::InstanceProfile")


@dataclass(frozen=True, order=True)
class Risk:
    stack: str  # "<region>/<stack>"
    logical_id: str
    code: str
    message: str

    @property
    def blocking(self) -> bool:
        return self.code in BLOCKING

    def as_dict(self) -> dict:
        return asdict(self) | {"severity": SEVERITY[self.code], "blocking": self.blocking}


def allowed(allow: Iterable[str], region: str, stack: str, logical_id: str) -> bool:
    """--allow-replace takes a logical ID, `stack/LogicalId` or `region/stack/LogicalId`."""
    return bool({logical_id, f"{stack}/{logical_id}", f"{region}/{stack}/{logical_id}"} & set(allow))


# --- rows ------------------------------------------------------------------------------------------------------------

def _detail(d: dict) -> dict:
    t = d.get("Target", {})
    return {"attribute": t.get("Attribute"), "name": t.get("Name"), "path": t.get("Path"),
            "requires_recreation": t.get("RequiresRecreation"), "evaluation": d.get("Evaluation"),
            "change_source": d.get("ChangeSource"), "causing_entity": d.get("CausingEntity")}


def _context(raw: str | None) -> dict | None:
    """BeforeContext/AfterContext (IncludePropertyValues): a JSON string of the resource, or of its properties."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return data.get("Properties", data)


def _resource(template: dict | None, logical_id: str) -> dict | None:
    return ((template or {}).get("Resources") or {}).get(logical_id)


def change_row(region: str, change: dict, old_template: dict | None, new_template: dict | None) -> dict:
    """One resource change as the review shows it. Replacement comes from AWS; when AWS gives none for a Modify
    (local emulators do not), it is predicted offline from the two templates and marked so."""
    rc = change.get("ResourceChange", {})
    lid, action, rtype = rc.get("LogicalResourceId", "?"), rc.get("Action", "?"), rc.get("ResourceType", "?")
    replacement, source = rc.get("Replacement"), "aws" if rc.get("Replacement") else None
    if action == "Modify" and not replacement:
        old, new = _resource(old_template, lid), _resource(new_template, lid)
        if old is not None and new is not None:
            replacement, _ = predict(region, old, new)
            source = "predicted"
    return {
        "action": action, "logical_id": lid, "physical_id": rc.get("PhysicalResourceId"), "type": rtype,
        "replacement": replacement, "replacement_source": source, "scope": sorted(rc.get("Scope", [])),
        "details": [_detail(d) for d in rc.get("Details", [])], "policy_action": rc.get("PolicyAction"),
        "stateful": rtype in stateful_types(),
        "before": _context(rc.get("BeforeContext")), "after": _context(rc.get("AfterContext")),
    }


# --- risk classes ------------------------------------------------------------------------------------------------

def _data_loss(row: dict) -> str | None:
    """How a stateful resource loses its data in this change, or None."""
    if not row["stateful"]:
        return None
    if row["action"] == "Remove":
        return "removed"
    if row["action"] == "Modify" and row["replacement"] == "True":
        return "replaced"
    if row["action"] == "Modify" and row["replacement"] == "Conditional":
        return "possibly replaced"
    return None


def _left_behind(row: dict, old: dict | None) -> str | None:
    """Retain on delete or replace: the old physical resource stays, outside the stack."""
    pa = row["policy_action"]
    if pa in ("Retain", "ReplaceAndRetain"):
        return "kept outside the stack" if pa == "Retain" else "old one kept outside the stack after replacement"
    if pa is None and old is not None:  # no PolicyAction (local emulators): read the policies the deployed template carries
        if row["action"] == "Remove" and old.get("DeletionPolicy") in RETAIN:
            return "kept outside the stack"
        if row["action"] == "Modify" and row["replacement"] in ("True", "Conditional") and old.get("UpdateReplacePolicy") == "Retain":
            return "old one kept outside the stack after replacement"
    return None


def _policy_note(row: dict) -> str:
    return {"ReplaceAndSnapshot": " (a snapshot is taken first)", "Snapshot": " (a snapshot is taken first)",
            "ReplaceAndRetain": " (the old one is retained; the new one starts empty)", "Retain": " (it is retained, outside the stack)",
            "ReplaceAndDelete": " (the old one is deleted)", "Delete": " (it is deleted)"}.get(row["policy_action"] or "", "")


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else ([] if v is None else [v])


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _documents(value: Any, path: str = "") -> Iterable[tuple[str, dict]]:
    """Every policy document (a mapping with Statement) inside a resource's properties, with where it sits."""
    if isinstance(value, str) and '"Statement"' in value:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return
    if isinstance(value, dict):
        if "Statement" in value:
            yield path, value
            return
        for k, v in value.items():
            yield from _documents(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _documents(v, f"{path}[{i}]")


def _principals(p: Any) -> list[str]:
    if p is None:
        return [""]
    if not isinstance(p, dict):
        return [_canon(p)]
    return [f"{kind}:{_canon(v)}" for kind, vs in sorted(p.items()) for v in _as_list(vs)] or [""]


def _atoms(doc: dict) -> set[tuple[str, ...]]:
    """A policy document as (effect, principal, action, resource, condition) grants, one per combination."""
    atoms = set()
    for s in _as_list(doc.get("Statement")):
        if not isinstance(s, dict):
            continue
        effect = s.get("Effect", "Allow")
        neg_p, neg_a, neg_r = "NotPrincipal" in s, "NotAction" in s, "NotResource" in s
        principals = _principals(s.get("NotPrincipal" if neg_p else "Principal"))
        actions = [("not " if neg_a else "") + (a.lower() if isinstance(a, str) else _canon(a))
                   for a in _as_list(s.get("NotAction" if neg_a else "Action"))] or [""]
        resources = [("not " if neg_r else "") + (r if isinstance(r, str) else _canon(r))
                     for r in _as_list(s.get("NotResource" if neg_r else "Resource"))] or [""]
        cond = _canon(s.get("Condition")) if s.get("Condition") else ""
        for p in principals:
            for a in actions:
                for r in resources:
                    atoms.add((effect, ("not " if neg_p else "") + p, a, r, cond))
    return atoms


def _grants(props: dict | None) -> tuple[set, set]:
    """(trust grants: who may assume, permission grants) of a resource's properties."""
    trust, perms = set(), set()
    for path, doc in _documents(props or {}):
        atoms = _atoms(doc)
        if path == "KeyPolicy":  # in a key policy, Resource "*" means the key itself
            atoms = {(e, p, a, "(this key)" if r == "*" else r, c) for e, p, a, r, c in atoms}
        (trust if path.endswith("AssumeRolePolicyDocument") else perms).update(atoms)
    return trust, perms


def _show(value: str) -> str:
    """A grant's part as people read it: plain strings bare, Ref/GetAtt/Sub shortened, anything else as JSON."""
    try:
        v = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value
    if isinstance(v, dict) and len(v) == 1:
        (fn, arg), = v.items()
        if fn == "Ref":
            return f"Ref {arg}"
        if fn == "Fn::GetAtt":
            return f"GetAtt {'.'.join(arg) if isinstance(arg, list) else arg}"
        if fn == "Fn::Sub" and isinstance(arg, str):
            return arg
    return v if isinstance(v, str) else value


def _wild(atom: tuple[str, ...]) -> bool:
    _, principal, action, resource, _ = atom
    return "*" in (action.split(":")[-1], resource) or principal.endswith(':"*"') or principal == '"*"'


def _describe(atom: tuple[str, ...], brief: bool = False) -> str:
    effect, principal, action, resource, cond = atom
    cond = "" if brief else cond
    wild = " (wildcard)" if _wild(atom) else ""
    who = ""
    if principal:
        kind, _, value = principal.partition(":")
        who = f"{kind} {_show(value)}" if value else _show(kind)
    grant = f"{action or '?'}" + (f" on {_show(resource)}" if resource else "")
    text = f"{who} may {grant}" if who and not resource else grant + (f" to {who}" if who else "")
    return f"{text}{' if ' + cond if cond else ''}{wild}"


def broadened_permissions(rtype: str, before: dict | None, after: dict | None) -> list[str]:
    """What a change grants that was not granted before: new Allow grants, dropped Deny grants, added managed
    policies or principals a policy attaches to, a removed permissions boundary, a changed Lambda permission."""
    if after is None:
        return []
    notes = []
    b_trust, b_perm = _grants(before)
    a_trust, a_perm = _grants(after)
    if before is None:  # a new resource: one line, naming only the wildcard grants
        allow = sorted(x for x in a_trust | a_perm if x[0] == "Allow")
        wild = [x for x in allow if _wild(x)]
        if allow:
            notes.append(f"new resource granting {len(allow)} permission{'s' if len(allow) != 1 else ''}"
                         + (f", {len(wild)} with wildcards: " + "; ".join(_describe(x, brief=True) for x in wild[:3]) if wild else "")
                         + ("; ..." if len(wild) > 3 else ""))
        allow_arns = sorted(set(map(_canon, _as_list(after.get("ManagedPolicyArns")))))
        notes.extend(f"ManagedPolicyArns adds {_show(a)}" for a in allow_arns)
        if rtype == "AWS::Lambda::Permission":
            notes.append(f"lets {_show(_canon(after.get('Principal')))} {after.get('Action')}")
        return notes
    for label, b, a in (("trust", b_trust, a_trust), ("grant", b_perm, a_perm)):
        new_allow = sorted(x for x in a - b if x[0] == "Allow")
        dropped_deny = sorted(x for x in b - a if x[0] == "Deny")
        for x in new_allow[:5]:
            notes.append(f"new {label}: {_describe(x)}")
        if len(new_allow) > 5:
            notes.append(f"new {label}s beyond these: {len(new_allow) - 5} more")
        for x in dropped_deny[:5]:
            notes.append(f"deny removed: {_describe(x)}")
    before = before or {}
    for key in ("ManagedPolicyArns", "Roles", "Users", "Groups"):
        added = sorted(set(map(_canon, _as_list(after.get(key)))) - set(map(_canon, _as_list(before.get(key)))))
        notes.extend(f"{key} adds {_show(a)}" for a in added)
    if before.get("PermissionsBoundary") and not after.get("PermissionsBoundary"):
        notes.append("permissions boundary removed")
    if rtype == "AWS::Lambda::Permission" and before != after:
        notes.append(f"lets {_show(_canon(after.get('Principal')))} {after.get('Action')}"
                     + (f" from {_show(_canon(after.get('SourceArn')))}" if after.get("SourceArn") else ""))
    return notes


def removed_denies(rtype: str, before: dict | None) -> list[str]:
    """A removed resource (a bucket or queue policy, a managed policy, ...) whose documents held Deny statements: what those
    Denies refused is no longer refused (a TLS-only bucket policy removed lets plain-http requests through)."""
    if rtype in IDENTITIES:
        return []
    trust, perms = _grants(before)
    denies = sorted(x for x in trust | perms if x[0] == "Deny")
    notes = [f"deny removed with the resource: {_describe(x)}" for x in denies[:5]]
    if len(denies) > 5:
        notes.append(f"denies removed beyond these: {len(denies) - 5} more")
    return notes


def _rules(props: dict, key: str) -> set[str]:
    return {_canon({k: v for k, v in r.items() if k != "Description"}) for r in _as_list(props.get(key)) if isinstance(r, dict)}


def _describe_rule(rule: str, direction: str) -> str:
    r = json.loads(rule)
    proto = {"-1": "all traffic", -1: "all traffic"}.get(r.get("IpProtocol"), r.get("IpProtocol"))
    ports = "" if proto == "all traffic" else (f" {r.get('FromPort')}" + (f"-{r.get('ToPort')}" if r.get("ToPort") != r.get("FromPort") else ""))
    peer = next((r[k] for k in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "SourcePrefixListId", "DestinationSecurityGroupId",
                                "DestinationPrefixListId") if k in r), "?")
    world = " (the whole internet)" if isinstance(peer, str) and peer in WORLD else ""
    return f"{direction} {proto}{ports} {'from' if direction == 'ingress' else 'to'} {_canon(peer) if not isinstance(peer, str) else peer}{world}"


def broadened_network(rtype: str, before: dict | None, after: dict | None) -> list[str]:
    """New ingress rules (any), new egress rules to the internet, egress rules all removed (AWS then allows all out)."""
    if after is None:
        return []
    before = before or {}
    notes = []
    if rtype == "AWS::EC2::SecurityGroup":
        for rule in sorted(_rules(after, "SecurityGroupIngress") - _rules(before, "SecurityGroupIngress")):
            notes.append("new " + _describe_rule(rule, "ingress"))
        for rule in sorted(_rules(after, "SecurityGroupEgress") - _rules(before, "SecurityGroupEgress")):
            if json.loads(rule).get("CidrIp") in WORLD or json.loads(rule).get("CidrIpv6") in WORLD:
                notes.append("new " + _describe_rule(rule, "egress"))
        if before.get("SecurityGroupEgress") and not after.get("SecurityGroupEgress"):
            notes.append("egress rules removed: the group now allows all outbound traffic")
    elif rtype in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        direction = "ingress" if rtype.endswith("Ingress") else "egress"
        rule = {k: v for k, v in after.items() if k not in ("Description", "GroupId", "GroupName")}
        old_rule = {k: v for k, v in before.items() if k not in ("Description", "GroupId", "GroupName")}
        if rule != old_rule and (direction == "ingress" or rule.get("CidrIp") in WORLD or rule.get("CidrIpv6") in WORLD):
            notes.append(("new " if not before else "changed to ") + _describe_rule(_canon(rule), direction))
    return notes


def _props(row: dict, side: str, template: dict | None) -> dict | None:
    """A resource's properties before or after the change: AWS's resolved values when given, else the template's."""
    if row[side] is not None:
        return row[side]
    res = _resource(template, row["logical_id"])
    return None if res is None else (res.get("Properties") or {})


def review_stack(stack_id: str, changes: list[dict], old_template: dict | None, new_template: dict | None,
                 allow: Iterable[str] = ()) -> tuple[list[dict], list[Risk]]:
    """Rows (sorted by logical ID) and risks for one stack's change set."""
    region, stack = stack_id.split("/", 1)
    allow = list(allow)
    rows = sorted((change_row(region, c, old_template, new_template) for c in changes if c.get("Type", "Resource") == "Resource"),
                  key=lambda r: (r["logical_id"], r["action"]))
    risks: list[Risk] = []
    for row in rows:
        lid, rtype = row["logical_id"], row["type"]
        loss = _data_loss(row)
        if loss:
            if allowed(allow, region, stack, lid):
                risks.append(Risk(stack_id, lid, "D505", f"{rtype} {lid} will be {loss}{_policy_note(row)}: allowed by --allow-replace"))
            else:
                risks.append(Risk(stack_id, lid, "D501", f"{rtype} {lid} would be {loss}{_policy_note(row)}: the stack would go on with a new, empty one "
                                                         "(a retained original keeps its data but leaves the stack); "
                                                         f"if that is intended, plan again with --allow-replace {lid}"))
        behind = _left_behind(row, _resource(old_template, lid))
        if behind:
            risks.append(Risk(stack_id, lid, "D504", f"{rtype} {lid}: {behind}; it keeps costing and its name stays taken until you delete it"))
        if row["action"] in ("Add", "Modify"):
            before = _props(row, "before", old_template) if row["action"] == "Modify" else None
            after = _props(row, "after", new_template)
            for note in broadened_permissions(rtype, before, after):
                risks.append(Risk(stack_id, lid, "D502", f"{rtype} {lid}: {note}"))
            for note in broadened_network(rtype, before, after):
                risks.append(Risk(stack_id, lid, "D503", f"{rtype} {lid}: {note}"))
        elif row["action"] == "Remove":
            for note in removed_denies(rtype, _props(row, "before", old_template)):
                risks.append(Risk(stack_id, lid, "D502", f"{rtype} {lid}: {note}"))
    for row in rows:  # the review keeps what it needs; resolved property values stay out of plan.json
        del row["before"], row["after"]
    return rows, sorted(set(risks))


def unused_allowances(allow: Iterable[str], risks: Iterable[Risk]) -> list[str]:
    used = set()
    for r in risks:
        if r.code == "D505":
            region, stack = r.stack.split("/", 1)
            used |= {r.logical_id, f"{stack}/{r.logical_id}", f"{region}/{stack}/{r.logical_id}"}
    return sorted(set(allow) - used)


def export_locks(stack_id: str, path: str, exported: dict[str, str], old_template: dict, new_template: dict, rows: list[dict],
                 importers: Callable[[str], list[str]]) -> list[Risk]:
    """D506 for each export (output key -> export name, as deployed) that this change would remove or change while
    another stack imports it: CloudFormation refuses such an update ("Cannot update export ... as it is in use")."""
    old, new = old_template.get("Outputs") or {}, new_template.get("Outputs") or {}
    renewed = {r["logical_id"] for r in rows if r["action"] in ("Add", "Remove")
               or (r["action"] == "Modify" and r["replacement"] in ("True", "Conditional"))}
    risks = []
    for key, name in sorted(exported.items()):
        out = new.get(key)
        if out is None or (out.get("Export") or {}).get("Name") != name:
            why = "would no longer be exported"
        elif json.dumps(out.get("Value"), sort_keys=True) != json.dumps((old.get(key) or {}).get("Value"), sort_keys=True):
            why = "would get a new value"
        elif touched := sorted(names(out.get("Value")) & renewed):
            why = f"reads {', '.join(touched)}, which this change replaces, adds or removes"
        else:
            continue
        users = importers(name)
        if users:
            risks.append(Risk(stack_id, key, "D506", f"{path} Outputs.{key}: export {name} {why}, and {', '.join(users)} "
                                                     f"import{'s' if len(users) == 1 else ''} it: CloudFormation refuses to change an "
                                                     "export in use. Update the importers so they no longer import it, then plan again"))
    return risks


def value_locks(stack_id: str, path: str, readers: dict[str, list[str]], old_template: dict, new_template: dict,
                rows: list[dict]) -> list[Risk]:
    """D506 for each output other stacks get as a template parameter (output key -> those stacks) that reads a resource
    this change removes or replaces: they would keep the old value (e.g. a subnet id) while it goes, so the producer's
    update fails or leaves them broken. A value that only grows (a new subnet) is no risk: deploy passes the new one (D507)."""
    old, new = old_template.get("Outputs") or {}, new_template.get("Outputs") or {}
    going = {r["logical_id"] for r in rows if r["action"] == "Remove" or (r["action"] == "Modify" and r["replacement"] in ("True", "Conditional"))}
    risks = []
    for key, users in sorted(readers.items()):
        touched = sorted((names((old.get(key) or {}).get("Value")) | names((new.get(key) or {}).get("Value"))) & going)
        if touched:
            risks.append(Risk(stack_id, key, "D506", f"{path} Outputs.{key} reads {', '.join(touched)}, which this change removes or "
                                                     f"replaces, and {', '.join(sorted(users))} use{'s' if len(users) == 1 else ''} "
                                                     "its value: they would keep the old one while it goes. archc cannot yet move "
                                                     "them off it first: keep it, or change them so they no longer read it, then plan again"))
    return risks


def output_may_change(old_template: dict | None, new_template: dict, key: str, rows: list[dict]) -> bool:
    """Whether this change may give output `key` another value: its definition differs, or it reads a resource the change
    adds, removes or modifies (a Ref changes with a replacement, an attribute may change with any update)."""
    old = ((old_template or {}).get("Outputs") or {}).get(key)
    new = (new_template.get("Outputs") or {}).get(key)
    if old is None or new is None or _canon(old.get("Value")) != _canon(new.get("Value")):
        return True
    return bool(names(new.get("Value")) & {r["logical_id"] for r in rows})


def readers_of(template: dict, parameter: str) -> list[str]:
    """The resources of a consumer's template that read the template parameter archc fills with a producer's output."""
    return [lid for lid, res in sorted((template.get("Resources") or {}).items()) if parameter in names(res)]
