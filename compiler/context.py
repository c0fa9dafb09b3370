"""The compile context every blueprint gets, and the App it builds: stacks, cross-stack edges, deploy order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from troposphere import Export, GetStackOutput, ImportValue, Output, Parameter, Ref, Template

from .naming import export_name, resource_prefix, stack_name


@dataclass(frozen=True, order=True)
class Edge:
    """`consumer` reads `output` of `producer`; an ImportValue inside a region, GetStackOutput across regions."""

    consumer: str  # stack id: "<region>/<stack name>"
    producer: str
    output: str
    kind: str  # "ImportValue" | "GetStackOutput" | "Parameter" (archc fills it from the output when it makes the change set)


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
    """What a blueprint may know: the spec, environment, region and stack, facts derived once, and how to read
    other stacks' outputs (every read is recorded as an edge of the stack graph)."""

    spec: Any  # compiler.spec.Spec
    env: str
    region: str
    concern: str
    facts: Any = None  # compiler.facts.Facts: what the whole spec implies, computed once per environment
    assets: dict[str, Any] = field(default_factory=dict)  # asset key -> packaged code (sha256, key)
    _edges: list[Edge] = field(default_factory=list)
    _outputs: list[Output] = field(default_factory=list)
    _parameters: dict[str, Parameter] = field(default_factory=dict)

    @property
    def primary(self) -> bool:
        return self.region == self.spec.regions.primary

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

    def value(self, concern: str, output: str, *, as_list: bool = False) -> Any:
        """Another stack's output in this region that may change while in use (a subnet list grows with the AZs): a
        template parameter archc fills from the producer's outputs when it makes the change set, so no import locks the
        producer. Recorded as an edge like `ref`."""
        producer = self.stack_of(concern)
        self._edges.append(Edge(f"{self.region}/{self.stack}", f"{self.region}/{producer}", output, "Parameter"))
        self._parameters.setdefault(output, Parameter(
            output, Type="CommaDelimitedList" if as_list else "String",
            Description=f"output {output} of {producer}: filled by archc plan and deploy"))
        return Ref(output)

    def output(self, key: str, value: Any, description: str) -> Output:
        """An output every other stack may read (exported under `<stack>-<key>`)."""
        out = Output(key, Value=value, Description=description, Export=Export(export_name(self.stack, key)))
        self._outputs.append(out)
        return out


@dataclass(frozen=True)
class Transform:
    """Yielded by a blueprint among its resources: a macro CloudFormation applies to the whole stack."""

    name: str


@dataclass(frozen=True)
class Blueprint:
    """One concern: which part of the spec it builds, and in which regions."""

    concern: str
    build: Callable[[Any, Context], Iterable[Any]]
    section: Callable[[Any], Any]  # the part of the spec the blueprint gets; None skips it
    regions: Callable[[Any], tuple[str, ...]]
