"""The pure compile step: Spec -> App (one troposphere Template per stack) plus the cross-stack reference graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from troposphere import Export, GetStackOutput, ImportValue, Output, Parameter, Tags, Template

from . import __version__
from .diagnostics import Diagnostic, SpecError
from .naming import export_name, resource_prefix, stack_name
from .spec import Spec

MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_PARAMETERS = 200
INLINE_BODY_LIMIT = 51_200  # bytes; a larger template is sent through S3 (TemplateURL)
URL_BODY_LIMIT = 1_048_576  # 1 MB through TemplateURL


@dataclass(frozen=True, order=True)
class Edge:
    """`consumer` reads `output` of `producer`; an ImportValue inside a region, GetStackOutput across regions."""

    consumer: str  # stack id: "<region>/<stack name>"
    producer: str
    output: str
    kind: str  # "ImportValue" | "GetStackOutput"


@dataclass
class Stack:
    name: str
    concern: str
    region: str
    template: Template
    tags: dict[str, str]

    @property
    def id(self) -> str:
        return f"{self.region}/{self.name}"


@dataclass
class App:
    app: str
    env: str
    stacks: dict[str, Stack]  # by stack id
    edges: list[Edge]

    def dependencies(self, stack_id: str) -> list[str]:
        return sorted({e.producer for e in self.edges if e.consumer == stack_id})

    def deploy_order(self) -> list[list[str]]:
        """Batches of stack ids: every stack comes after all it reads from; a batch can deploy in parallel."""
        remaining = {sid: set(self.dependencies(sid)) for sid in self.stacks}
        batches: list[list[str]] = []
        done: set[str] = set()
        while remaining:
            ready = sorted(sid for sid, deps in remaining.items() if deps <= done)
            if not ready:
                raise RuntimeError(f"cycle between stacks: {sorted(remaining)}")  # a blueprint bug, not a user mistake
            batches.append(ready)
            done.update(ready)
            for sid in ready:
                del remaining[sid]
        return batches


@dataclass
class Context:
    """What a blueprint may know: its spec, environment, region and stack; how to read other stacks' outputs."""

    spec: Spec
    env: str
    region: str
    concern: str
    primary: bool
    assets: dict[str, Any] = field(default_factory=dict)  # function name -> packaged code (sha256, key)
    _edges: list[Edge] = field(default_factory=list)
    _outputs: list[Output] = field(default_factory=list)

    @property
    def stack(self) -> str:
        return stack_name(self.spec.app, self.env, self.concern)

    @property
    def prefix(self) -> str:
        return resource_prefix(self.spec.app, self.env)

    def stack_of(self, concern: str) -> str:
        return stack_name(self.spec.app, self.env, concern)

    def ref(self, concern: str, output: str, region: str | None = None) -> Any:
        """Another stack's output: ImportValue in this region, GetStackOutput from another; recorded as an edge."""
        region = region or self.region
        producer = self.stack_of(concern)
        same = region == self.region
        self._edges.append(Edge(f"{self.region}/{self.stack}", f"{region}/{producer}", output,
                                "ImportValue" if same else "GetStackOutput"))
        if same:
            return ImportValue(export_name(producer, output))
        return GetStackOutput(StackName=producer, OutputName=output, Region=region)

    def output(self, key: str, value: Any, description: str) -> Output:
        """An output every other stack may read (exported under `<stack>-<key>`)."""
        out = Output(key, Value=value, Description=description, Export=Export(export_name(self.stack, key)))
        self._outputs.append(out)
        return out


@dataclass(frozen=True)
class Blueprint:
    concern: str
    build: Callable[[Any, Context], Iterable[Any]]
    section: Callable[[Spec], Any]  # the part of the spec the blueprint gets; None skips it
    regions: Callable[[Spec], tuple[str, ...]]
    transform: Callable[[Spec], str | None] | None = None


def compile_app(spec: Spec, env: str, file: str = "arch.yaml", assets: dict[str, Any] | None = None) -> App:
    """Build every stack of one environment. Pure: no files, no network, no clock."""
    from blueprints.registry import BLUEPRINTS

    stacks: dict[str, Stack] = {}
    edges: list[Edge] = []
    limit_errors: list[Diagnostic] = []
    for bp in BLUEPRINTS:
        section = bp.section(spec)
        if section is None:
            continue
        for region in bp.regions(spec):
            ctx = Context(spec, env, region, bp.concern, primary=region == spec.regions.primary, assets=assets or {})
            template = Template(Description=f"archc {__version__}: {spec.app} {env} {bp.concern} ({region})")
            transform = bp.transform(spec) if bp.transform else None
            if transform:
                template.set_transform(transform)
            objs = list(bp.build(section, ctx))
            outputs = [o for o in objs if isinstance(o, Output)]
            params = [o for o in objs if isinstance(o, Parameter)]
            res = [o for o in objs if not isinstance(o, (Output, Parameter))]
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
    """Every resource that takes tags gets the stack's tags (a blueprint's own tags, like Name, win)."""
    for res in template.resources.values():
        if "Tags" not in res.props:
            continue
        expected = res.props["Tags"][0]
        own = res.properties.get("Tags")
        if expected is dict:
            res.Tags = {**tags, **(own or {})}
        else:
            mine = {t["Key"]: t["Value"] for t in own.to_dict()} if isinstance(own, Tags) else {}
            res.Tags = Tags({**tags, **mine})


def _check_edges(stacks: dict[str, Stack], edges: list[Edge]) -> None:
    for e in edges:
        producer = stacks.get(e.producer)
        if producer is None or e.output not in producer.template.outputs:
            raise RuntimeError(f"{e.consumer} reads {e.output} from {e.producer}, which does not output it")


def _check_stateful(stacks: dict[str, Stack]) -> None:
    """Nothing lost: every resource that holds data keeps it on replace and on delete (a blueprint bug otherwise)."""
    from blueprints.secure import KEEP, STATEFUL_TYPES

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
