"""The pure compile step: Spec -> App (one troposphere Template per stack) plus the cross-stack reference graph."""

from __future__ import annotations

from typing import Any, Sequence

from troposphere import Output, Parameter, Tags, Template

from . import __version__
from .awsdata import KEEP, MAX_OUTPUTS, MAX_PARAMETERS, MAX_RESOURCES, STATEFUL_TYPES
from .context import App, Blueprint, Context, Edge, Stack, Transform
from .diagnostics import Diagnostic, SpecError
from .facts import Facts, derive
from .spec import Spec

__all__ = ["App", "Context", "Edge", "Stack", "compile_app", "stack_tags"]


def compile_app(spec: Spec, env: str, registry: Sequence[Blueprint], file: str = "arch.yaml",
                assets: dict[str, Any] | None = None, facts: Facts | None = None) -> App:
    """Build every stack of one environment with the blueprints of `registry`. Pure: no files, no network, no clock."""
    facts = facts or derive(spec, env)
    stacks: dict[str, Stack] = {}
    edges: list[Edge] = []
    limit_errors: list[Diagnostic] = []
    for bp in registry:
        section = bp.section(spec)
        if section is None:
            continue
        for region in bp.regions(spec):
            ctx = Context(spec, env, region, bp.concern, facts=facts, assets=assets or {})
            objs = list(bp.build(section, ctx))
            if not objs:
                continue
            template = Template(Description=f"archc {__version__}: {spec.app} {env} {bp.concern} ({region})")
            for t in (o for o in objs if isinstance(o, Transform)):
                template.set_transform(t.name)
            outputs = [o for o in objs if isinstance(o, Output)]
            params = [o for o in objs if isinstance(o, Parameter)] + list(ctx._parameters.values())
            res = [o for o in objs if not isinstance(o, (Output, Parameter, Transform))]
            # Count before adding: troposphere raises a bare ValueError at its limits, a user mistake here.
            over = _over_limits(ctx.stack, region, len(res), len(outputs), len(params), file)
            if over:
                limit_errors.extend(over)
                continue
            for o in outputs:
                template.add_output(o)
            for p in params:
                template.add_parameter(p)
            for r in res:
                template.add_resource(r)
            tags = stack_tags(spec, env, bp.concern)
            _tag_resources(template, tags)
            stack = Stack(ctx.stack, bp.concern, region, template, tags)
            stacks[stack.id] = stack
            edges.extend(ctx._edges)
    if limit_errors:
        raise SpecError(limit_errors)
    _check_edges(stacks, edges)
    _check_stateful(stacks)
    app = App(spec.app, env, stacks, sorted(set(edges)))
    app.deploy_order()  # a cycle is a blueprint bug: fail now, not at deploy
    return app


def stack_tags(spec: Spec, env: str, concern: str) -> dict[str, str]:
    return {**spec.tags, "Application": spec.app, "Component": concern, "Environment": env}


def _tag_resources(template: Template, tags: dict[str, str]) -> None:
    """Every resource that takes tags gets the stack's tags (a blueprint's own tags, like Name, win); a global table
    takes them per replica."""
    for res in template.resources.values():
        for obj in res.properties.get("Replicas", []) if res.resource_type == "AWS::DynamoDB::GlobalTable" else [res]:
            _tag(obj, tags)


def _tag(obj: Any, tags: dict[str, str]) -> None:
    if "Tags" not in obj.props:
        return
    expected = obj.props["Tags"][0]
    own = obj.properties.get("Tags")
    if expected is dict:
        obj.Tags = {**tags, **(own or {})}
    else:
        mine = {t["Key"]: t["Value"] for t in own.to_dict()} if isinstance(own, Tags) else {}
        obj.Tags = Tags({**tags, **mine})


def _check_edges(stacks: dict[str, Stack], edges: list[Edge]) -> None:
    for e in edges:
        producer = stacks.get(e.producer)
        if producer is None or e.output not in producer.template.outputs:
            raise RuntimeError(f"{e.consumer} reads {e.output} from {e.producer}, which does not output it")


def _check_stateful(stacks: dict[str, Stack]) -> None:
    """Nothing lost: every resource that holds data keeps it on replace and on delete (a blueprint bug otherwise)."""
    for stack in stacks.values():
        for lid, res in stack.template.resources.items():
            if res.resource_type in STATEFUL_TYPES:
                policies = (res.resource.get("DeletionPolicy"), res.resource.get("UpdateReplacePolicy"))
                if not all(p in KEEP for p in policies):
                    raise RuntimeError(f"{stack.name}: {lid} ({res.resource_type}) must be retained or snapshotted, has {policies}")


def _over_limits(stack: str, region: str, resources: int, outputs: int, parameters: int, file: str) -> list[Diagnostic]:
    errors = []
    if resources > MAX_RESOURCES:
        errors.append(Diagnostic(file, 1, 1, "C401", stack,
                                 f"{resources} resources in {region}; CloudFormation allows {MAX_RESOURCES} per stack: split the section"))
    if outputs > MAX_OUTPUTS or parameters > MAX_PARAMETERS:
        errors.append(Diagnostic(file, 1, 1, "C402", stack,
                                 f"{outputs} outputs and {parameters} parameters in {region}; CloudFormation allows {MAX_OUTPUTS} and {MAX_PARAMETERS}"))
    return errors
