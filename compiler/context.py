"""The compile context every blueprint gets, and the App it builds: stacks, cross-stack edges, deploy order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from troposphere import Export, ImportValue, Output, Parameter, Ref, Template

from .naming import export_name, logical_id, resource_prefix, stack_name


@dataclass(frozen=True, order=True)
class Edge:
    """`consumer` reads `output` of `producer`: an ImportValue inside a region for values that never change, else a
    template parameter archc fills from the producer's output when it makes the consumer's change set."""

    consumer: str  # stack id: "<region>/<stack name>"
    producer: str
    output: str
    kind: str  # "ImportValue" | "Parameter"
    parameter: str = ""  # kind Parameter: the consumer's template parameter that gets the value


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
        """Another stack's output: an ImportValue in this region (CloudFormation keeps the export from changing while it is
        imported); from another region, a template parameter archc fills (`value`). Recorded as an edge."""
        region = region or self.region
        if region != self.region:
            return self.value(concern, output, region=region)
        producer = self.stack_of(concern)
        self._edges.append(Edge(f"{self.region}/{self.stack}", f"{region}/{producer}", output, "ImportValue"))
        return ImportValue(export_name(producer, output))

    def value(self, concern: str, output: str, *, region: str | None = None, as_list: bool = False) -> Any:
        """Another stack's output that may change while in use (a subnet list grows with the AZs) or lives in another region:
        a template parameter archc fills from the producer's outputs when it makes the change set, so nothing locks the
        producer and a new value shows in the consumer's change set (plan re-makes it after the producer deploys).
        Recorded as an edge like `ref`."""
        region = region or self.region
        producer = self.stack_of(concern)
        name = output if region == self.region else logical_id(output, region)
        source = f"{region}/{producer}"
        known = next((e for e in self._edges if e.kind == "Parameter" and e.parameter == name), None)
        if known is not None and (known.producer, known.output) != (source, output):
            raise RuntimeError(f"template parameter {name} of {self.stack} would carry two values")  # a blueprint bug
        self._edges.append(Edge(f"{self.region}/{self.stack}", source, output, "Parameter", name))
        self._parameters.setdefault(name, Parameter(
            name, Type="CommaDelimitedList" if as_list else "String",
            Description=f"output {output} of {producer}" + ("" if region == self.region else f" in {region}")
            + ": filled by archc plan and deploy"))
        return Ref(name)

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
