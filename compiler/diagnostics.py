"""Located diagnostics (`arch.yaml:LINE:COL CODE path: message`) and the user-facing error type."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable

# Exit codes are part of the CLI's interface (design.md).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_BLOCKED = 3

# One code per kind of mistake; tests assert codes, never message text.
# S1xx: schema (shape and type), S2xx: cross-field and cross-reference rules,
# W3xx: a secure default weakened on purpose, C4xx: compile limits.
CODES: dict[str, str] = {
    "S100": "YAML syntax error",
    "S101": "duplicate key",
    "S102": "unknown key",
    "S103": "missing required key",
    "S104": "wrong type",
    "S105": "value not allowed",
    "S106": "number out of range",
    "S107": "text does not match the required form",
    "S108": "unknown variant",
    "S109": "list or text length out of range",
    "S110": "unknown environment",
    "S201": "more NAT gateways than availability zones",
    "S202": "subnets do not fit the VPC CIDR",
    "S203": "maximum storage below allocated storage",
    "S204": "DR region equals the primary region",
    "S205": "unsupported engine version",
    "S206": "unsupported instance class",
    "S207": "retention or window out of range",
    "S208": "unknown AWS region",
    "S209": "name not usable in AWS resource names",
    "S210": "reserved or invalid tag",
    "S211": "invalid email address",
    "S212": "invalid backup or maintenance window",
    "S213": "duplicate or invalid key attribute",
    "S214": "interface endpoints need private subnets with a route out",
    "S215": "function needs exactly one code source",
    "S216": "function timeout out of range",
    "S217": "function timeout over the REST API's 29 s",
    "S218": "function memory out of range",
    "S219": "retired Lambda runtime",
    "S220": "invalid route",
    "S221": "reference to an unknown function",
    "S222": "function code folder not found",
    "S223": "CORS credentials with a wildcard origin",
    "S224": "function uses a database the spec does not have",
    "S226": "a part needs another part the spec does not declare",
    "S230": "origin group behavior allows writes",
    "S231": "origin group without exactly two members",
    "S233": "setting Lambda@Edge does not support",
    "S234": "edge function over its memory or time limit",
    "S235": "custom domain without a certificate",
    "S236": "origin without exactly one kind",
    "S237": "setting that belongs to another builtin",
    "S238": "single-page app without an index, or an error page no bucket serves",
    "S239": "reference to an unknown origin, bucket, function or edge function",
    "S240": "invalid lifecycle rule",
    "S241": "dead-letter queue that would drop messages",
    "S242": "connection to an unknown resource",
    "S243": "access level the resource kind does not have",
    "S244": "overlapping bucket event notifications",
    "S245": "queue settings that break AWS's rules for a Lambda consumer",
    "S246": "event source batching or concurrency AWS refuses or throttles",
    "S247": "direct bucket event that makes the stacks wait for each other",
    "S248": "queue with more than one consuming function",
    "S249": "container image in a region where it cannot exist",
    "S250": "existing VPC described incompletely or with settings only a new VPC has",
    "S251": "DR region and dr: section without each other",
    "S252": "recovery objective the DR mechanisms cannot meet",
    "S253": "failover settings that do not fit the strategy",
    "S254": "replication without a DR region or a versioned bucket",
    "S255": "VPC CIDRs that overlap between regions",
    "S256": "health route served by an origin group",
    "S257": "dead-letter setting on a function nothing invokes asynchronously",
    "S258": "authorization settings that do not fit its type",
    "S259": "origin verification on a REST API no distribution serves",
    "S260": "a path a signed behavior protects, reachable through another behavior unsigned",
    "W301": "secure default weakened",
    "W302": "runtime AWS deprecates within 180 days",
    "C401": "stack over the CloudFormation resource limit",
    "C402": "stack over an output or parameter limit",
    "C403": "template over the 1 MB TemplateURL limit",
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    col: int
    code: str
    path: str
    message: str
    envs: tuple[str, ...] = field(default=(), compare=False)
    waived: bool = field(default=False, compare=False)  # a weakened default the spec gives a reason for

    @property
    def is_warning(self) -> bool:
        return self.code.startswith("W")

    def render(self) -> str:
        where = f" [env: {', '.join(self.envs)}]" if self.envs else ""
        return f"{self.file}:{self.line}:{self.col} {self.code} {self.path}: {self.message}{where}"

    def __str__(self) -> str:
        return self.render()


class ArchcError(Exception):
    """A user-facing failure: printed without a traceback, with an exit code."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class SpecError(ArchcError):
    """The spec has one or more located mistakes; all of them travel together."""

    def __init__(self, diagnostics: Iterable[Diagnostic], warnings: Iterable[Diagnostic] = ()):
        self.diagnostics = sorted(set(diagnostics))
        self.warnings = sorted(set(warnings))
        n = len(self.diagnostics)
        super().__init__(f"{n} error{'s' if n != 1 else ''} in the spec")


def dotted(path: tuple) -> str:
    """('functions', 'api', 'routes', 1) -> 'functions.api.routes[1]', the path form every diagnostic uses."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def merge_envs(per_env: dict[str, list[Diagnostic]]) -> list[Diagnostic]:
    """The same mistake in every environment is reported once; otherwise it names its environments."""
    all_envs = tuple(per_env)
    seen: dict[Diagnostic, list[str]] = {}
    for env, diags in per_env.items():
        for d in diags:
            seen.setdefault(d, []).append(env)
    out = []
    for d, envs in seen.items():
        tag = () if tuple(envs) == all_envs or len(all_envs) == 1 else tuple(envs)
        out.append(Diagnostic(d.file, d.line, d.col, d.code, d.path, d.message, tag, d.waived))
    return sorted(out)
