"""out/<env>/manifest.json as a typed, frozen model: compile writes it; lint, diff, plan and deploy read it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .diagnostics import ArchcError, did_you_mean

# What out/<env>/ holds beside the templates (compile writes the first three; lint, plan and report the others).
MANIFEST = "manifest.json"
RUNBOOK, DR_SUMMARY = "dr-runbook.md", "dr.json"
LINTED = "lint.json"  # the templates linted (sha256) and the findings
PLAN_JSON, PLAN_MD = "plan.json", "plan.md"
REPORT = "report.html"


@dataclass(frozen=True)
class TemplateEntry:
    stack: str
    region: str
    concern: str
    path: str  # relative to out/<env>
    sha256: str
    bytes: int
    resources: int
    dependencies: tuple[str, ...]  # `region/stack` ids this stack reads outputs of
    inline: bool  # small enough to send in the API call (else through the artifact bucket)
    tags: dict[str, str]
    stateful: tuple[str, ...]  # logical IDs a stack policy protects from Replace and Delete
    alarms: tuple[str, ...]  # alarm names, candidates for rollback triggers
    parameters: tuple[str, ...]
    capabilities: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.region}/{self.stack}"


@dataclass(frozen=True)
class AssetEntry:
    function: str
    source: str
    sha256: str
    key: str
    bytes: int
    path: str


@dataclass(frozen=True)
class EdgeEntry:
    consumer: str
    producer: str
    output: str
    kind: str
    parameter: str = ""  # kind Parameter: the consumer's template parameter archc fills with the output

    @property
    def fills(self) -> str:
        """The consumer's template parameter this edge gives a value (named like the output when not recorded)."""
        return self.parameter or self.output


@dataclass(frozen=True)
class Weakened:
    """A secure default this environment weakens: why it matters, the waiver's reason, where the spec says it."""

    path: str
    why: str
    waiver: str | None
    line: int
    col: int


@dataclass(frozen=True)
class DeploySettings:
    termination_protection: bool
    rollback_alarms: bool
    monitoring_minutes: int
    timeout_minutes: int


@dataclass(frozen=True)
class Manifest:
    archc_version: str
    app: str
    environment: str
    spec_sha256: str
    deploy: DeploySettings
    deploy_order: tuple[tuple[str, ...], ...]
    edges: tuple[EdgeEntry, ...]
    templates: tuple[TemplateEntry, ...]
    assets: tuple[AssetEntry, ...]
    weakened: tuple[Weakened, ...]

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))  # tuples as lists, exactly as the file holds it

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Raises KeyError or TypeError on a file that is not a manifest of this archc version."""
        return cls(
            archc_version=data["archc_version"], app=data["app"], environment=data["environment"],
            spec_sha256=data["spec_sha256"], deploy=DeploySettings(**data["deploy"]),
            deploy_order=tuple(tuple(batch) for batch in data["deploy_order"]),
            edges=tuple(EdgeEntry(**e) for e in data["edges"]),
            templates=tuple(TemplateEntry(**{**t, **{k: tuple(t[k]) for k in _TUPLES}}) for t in data["templates"]),
            assets=tuple(AssetEntry(**a) for a in data["assets"]),
            weakened=tuple(Weakened(**w) for w in data["weakened"]),
        )

    def select(self, stacks: Iterable[str] = (), regions: Iterable[str] = ()) -> list[TemplateEntry]:
        """The templates (deploy order) narrowed to `--stack` names (`name` or `region/name`) and `--region`s."""
        stacks, regions = list(stacks), list(regions)
        names = {t.stack for t in self.templates} | {t.id for t in self.templates}
        for s in stacks:
            if s not in names:
                raise ArchcError(f'no stack "{s}" in environment {self.environment}{did_you_mean(s, names)}; '
                                 f"stacks: {', '.join(sorted({t.stack for t in self.templates}))}")
        known_regions = {t.region for t in self.templates}
        for r in regions:
            if r not in known_regions:
                raise ArchcError(f'environment {self.environment} has no stacks in region "{r}"{did_you_mean(r, known_regions)}; '
                                 f"regions: {', '.join(sorted(known_regions))}")
        chosen = [t for t in self.templates
                  if (not stacks or t.stack in stacks or t.id in stacks) and (not regions or t.region in regions)]
        if not chosen:
            raise ArchcError("no stack matches both --stack and --region")
        return chosen


_TUPLES = ("dependencies", "stateful", "alarms", "parameters", "capabilities")


def parse(text: str | bytes, where: str, env: str) -> Manifest:
    try:
        return Manifest.from_json(json.loads(text))
    except json.JSONDecodeError as e:
        raise ArchcError(f"{where} is not valid JSON ({e}): run `archc compile --env {env}` again") from None
    except (KeyError, TypeError) as e:
        raise ArchcError(f"{where} is not a manifest this archc writes ({type(e).__name__}: {e}): "
                         f"run `archc compile --env {env}` again") from None


def compiled(out_dir: Path) -> list[str]:
    """The environments compiled into out_dir (a manifest in their folder); none is an error."""
    envs = sorted(p.name for p in out_dir.iterdir() if (p / MANIFEST).is_file()) if out_dir.is_dir() else []
    if not envs:
        raise ArchcError(f"nothing compiled in {out_dir}/: run `archc compile` first")
    return envs


def read(out_dir: Path, env: str) -> Manifest:
    path = out_dir / env / MANIFEST
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        known = sorted(p.parent.name for p in out_dir.glob("*/" + MANIFEST)) if out_dir.is_dir() else []
        hint = did_you_mean(env, known) or (f" (compiled here: {', '.join(known)})" if known else "")
        raise ArchcError(f'nothing compiled for environment "{env}" in {out_dir}/{hint}: run `archc compile --env {env}` '
                         "if the spec has that environment") from None
    return parse(text, str(path), env)
