"""The `functions:` section: named Lambda functions (code source, runtime, sizing, network, URL)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .. import runtimes
from ..access import ACTIONS
from .base import Issue, Name, StrictModel, raise_issues
from .regions import retention_issues

FunctionName = Name

# Lambda runtimes: cfn-lint's lifecycle data says which AWS still supports and which is the newest of each family.
LATEST_PYTHON = runtimes.latest("python")
MAX_TIMEOUT_S = 900
MEMORY_MB = (128, 10240)
BOOTSTRAP_HANDLER = "index.handler"


def runtime_issues(runtime: str) -> list[Issue]:
    supported = runtimes.supported()
    if runtimes.retired(runtime):
        return [Issue("S219", ("runtime",), f'AWS has deprecated {runtime}; use one of {", ".join(supported)}')]
    if runtime not in supported:
        from ..diagnostics import did_you_mean
        return [Issue("S105", ("runtime",), f'"{runtime}" is not a Lambda runtime archc packages{did_you_mean(runtime, supported)}; '
                      f'use one of {", ".join(supported)}')]
    return []


class Cors(StrictModel):
    origins: list[str] = Field(default_factory=list, description="allowed origins, e.g. https://app.example.com")
    methods: list[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*"]] = Field(
        default_factory=lambda: ["GET", "POST", "OPTIONS"])
    headers: list[str] = Field(default_factory=lambda: ["Content-Type", "Authorization"])
    credentials: bool = False
    max_age_s: int = Field(600, ge=0, le=86400)

    @model_validator(mode="after")
    def _rules(self):
        issues = [Issue("S107", ("origins", i), f'"{o}" is not an origin: write scheme://host[:port], e.g. https://app.example.com')
                  for i, o in enumerate(self.origins) if o != "*" and not _origin(o)]
        if self.credentials and "*" in self.origins:
            issues.append(Issue("S223", ("credentials",), "browsers refuse credentials with a wildcard origin; list the origins"))
        raise_issues(issues)
        return self


def _origin(value: str) -> bool:
    import re
    return bool(re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", value))


class FunctionUrl(StrictModel):
    auth: Literal["AWS_IAM", "NONE"] = Field("AWS_IAM", description="NONE makes the URL public (a weakened default)")
    invoke_mode: Literal["BUFFERED", "RESPONSE_STREAM"] = "BUFFERED"
    cors: Cors | None = None


# Access levels a function may hold on each kind of resource (compiler/access.py holds their actions).
ACCESS_LEVELS: dict[str, tuple[str, ...]] = {}
for _kind, _level in ACTIONS:
    ACCESS_LEVELS[_kind] = ACCESS_LEVELS.get(_kind, ()) + (_level,)
_ACTION = r"^[a-z0-9-]+:[A-Za-z0-9*]+$"


class Permission(StrictModel):
    """A raw IAM statement for what no connection covers (e.g. bedrock:InvokeModel on one model); a wildcard warns."""

    actions: list[Annotated[str, Field(pattern=_ACTION)]] = Field(min_length=1, description='e.g. ["bedrock:InvokeModel"]')
    resources: list[Annotated[str, Field(pattern=r"^(\*|arn:[^\s]+)$")]] = Field(min_length=1, description="exact ARNs; * warns")


MAX_WINDOW_S = 300
SMALL_BATCH = 10  # a larger batch needs a batching window of at least 1 s


class QueueEvent(StrictModel):
    """The function consumes a queue: Lambda polls it and reports each failed message back (partial batch responses)."""

    queue: Name = Field(description="a queue under queues:")
    batch_size: int = Field(10, ge=1, le=10000, description="messages per invocation (over 10 needs window_s >= 1)")
    window_s: int = Field(0, ge=0, le=MAX_WINDOW_S, description="seconds Lambda waits to fill a batch")
    max_concurrency: int | None = Field(None, ge=2, le=1000, description="most concurrent invocations this queue may start")

    @model_validator(mode="after")
    def _rules(self):
        if self.batch_size > SMALL_BATCH and self.window_s < 1:
            raise_issues([Issue("S246", ("window_s",), f"a batch of {self.batch_size} needs a batching window: Lambda allows more than "
                                f"{SMALL_BATCH} messages only with window_s of at least 1")])
        return self


class Repository(StrictModel):
    """A private ECR repository archc manages: scan on push, immutable tags, KMS encryption, old images expired."""

    keep_images: int = Field(20, ge=1, le=1000, description="keep this many most recent images; older ones expire")
    replicate: bool = Field(True, description="with regions.dr: copy every pushed image to the DR region (registry replication)")


class ImageRef(StrictModel):
    repository: Name = Field(description="a repository under repositories:")
    tag: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="an immutable tag, e.g. 1.4.2")
    digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _rules(self):
        if (self.tag is None) == (self.digest is None):
            raise_issues([Issue("S215", (), "give exactly one of `tag` or `digest`")])
        return self


IMAGE_URI = r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]{1,128}|@sha256:[0-9a-f]{64})$"


class Function(StrictModel):
    code: str | None = Field(None, description="project folder (relative to arch.yaml) zipped as the function's code")
    image: ImageRef | Annotated[str, Field(pattern=IMAGE_URI)] | None = Field(None, description=(
        "container image: {repository: NAME, tag: T} (or digest) from a repository archc manages, or a full ECR image URI"))
    bootstrap: bool = Field(False, description="deploy inline placeholder code until the application exists")
    handler: str = Field("app.handler", pattern=r"^[A-Za-z0-9_./-]+\.[A-Za-z_][A-Za-z0-9_]*$")
    runtime: str = Field(LATEST_PYTHON, description="a Python or Node.js runtime AWS supports (default: the newest Python); "
                                                    "one deprecated within 180 days warns (W302)")
    architecture: Literal["arm64", "x86_64"] = "arm64"
    memory_mb: int = 1024
    timeout_s: int = 30
    reserved_concurrency: int | None = Field(None, ge=0, description="0 stops the function; none means unreserved")
    in_vpc: bool = Field(False, description="run in the private-app subnets with the app security group")
    uses: dict[str, str] = Field(default_factory=dict, description=(
        "what the function uses, with the access it gets: {tables.NAME: read|write|read-write, buckets.NAME: read|write|read-write, "
        "queues.NAME: send|consume|send-consume, database: connect, functions.NAME: invoke}; each gives exact actions on exact ARNs "
        "and an environment variable naming the resource"))
    permissions: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$")], Permission] = Field(
        default_factory=dict, description="statement id -> extra IAM statement (a wildcard warns)")
    environment: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")], str] = Field(default_factory=dict)
    log_retention_days: int = 30
    dlq_retention_days: int = Field(14, ge=1, le=14, description="dead-letter queue of a function invoked asynchronously (by a bucket "
                                                                 "event or another function); synchronous callers get the error instead")
    url: FunctionUrl | None = None
    events: dict[Name, QueueEvent] = Field(default_factory=dict, description="event source name -> a queue the function consumes")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if sum((self.code is not None, self.image is not None, self.bootstrap)) != 1:
            issues.append(Issue("S215", (), "give exactly one of `code` (a project folder), `image` (a container image URI) or `bootstrap: true`"))
        if self.image is not None:
            for field in ("handler", "runtime"):
                if field in self.model_fields_set:
                    issues.append(Issue("S215", (field,), f"a container image sets its own {field} (its CMD and base image): remove it"))
        if self.bootstrap and self.events:
            issues.append(Issue("S215", ("events",), "the bootstrap placeholder would acknowledge every message it is given, and the "
                                "messages would be gone: give the function its code before it consumes a queue"))
        issues += runtime_issues(self.runtime)
        if not 1 <= self.timeout_s <= MAX_TIMEOUT_S:
            issues.append(Issue("S216", ("timeout_s",), f"a Lambda function runs 1 to {MAX_TIMEOUT_S} seconds"))
        if not MEMORY_MB[0] <= self.memory_mb <= MEMORY_MB[1]:
            issues.append(Issue("S218", ("memory_mb",), f"Lambda memory is {MEMORY_MB[0]} to {MEMORY_MB[1]} MB"))
        issues += retention_issues(("log_retention_days",), self.log_retention_days)
        raise_issues(issues)
        return self

    @property
    def entry(self) -> str:
        return BOOTSTRAP_HANDLER if self.bootstrap else self.handler
