"""The `buckets:` section: named S3 buckets (versioning, encryption, lifecycle rules, CORS, access logs)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

BucketName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,29}$", description="lowercase letters, digits and hyphens (part of the S3 name)")]
StorageClass = Literal["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
# Days an object must stay in a class before S3 lets a lifecycle rule move it on (S3 lifecycle constraints).
MIN_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}


class Transition(StrictModel):
    days: int = Field(ge=0, le=36500, description="days after creation (or after becoming noncurrent)")
    storage_class: StorageClass


class LifecycleRule(StrictModel):
    prefix: str | None = Field(None, pattern=r"^[^*]{1,1024}$", description="only objects under this key prefix")
    expire_days: int | None = Field(None, ge=1, le=36500, description="delete current versions this many days after creation")
    transitions: list[Transition] = Field(default_factory=list)
    noncurrent_expire_days: int | None = Field(None, ge=1, le=36500, description="delete old versions this many days after they become noncurrent")
    noncurrent_transitions: list[Transition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if self.expire_days is None and not self.transitions and self.noncurrent_expire_days is None and not self.noncurrent_transitions:
            issues.append(Issue("S240", (), "a lifecycle rule needs at least one of expire_days, transitions, "
                                "noncurrent_expire_days or noncurrent_transitions"))
        issues += transition_issues("transitions", self.transitions, self.expire_days)
        issues += transition_issues("noncurrent_transitions", self.noncurrent_transitions, self.noncurrent_expire_days)
        raise_issues(issues)
        return self


def transition_issues(field: str, transitions: list[Transition], expire_days: int | None) -> list[Issue]:
    """S3's rules for a rule's transitions: each class once, not before its minimum age, before the objects expire."""
    issues = []
    for i, t in enumerate(transitions):
        if t.days < MIN_DAYS.get(t.storage_class, 0):
            issues.append(Issue("S240", (field, i, "days"), f"S3 moves objects to {t.storage_class} only after {MIN_DAYS[t.storage_class]} days"))
        if expire_days is not None and t.days >= expire_days:
            issues.append(Issue("S240", (field, i, "days"), f"the objects expire after {expire_days} days, before this transition at {t.days}"))
    if len({t.storage_class for t in transitions}) != len(transitions):
        issues.append(Issue("S240", (field,), "each storage class may appear once"))
    return issues


class BucketCors(StrictModel):
    origins: list[str] = Field(min_length=1, description="allowed origins, e.g. https://app.example.com, or *")
    methods: list[Literal["GET", "HEAD", "PUT", "POST", "DELETE"]] = Field(default_factory=lambda: ["GET", "HEAD"])
    headers: list[str] = Field(default_factory=list, description="request headers a browser may send")
    expose_headers: list[str] = Field(default_factory=list)
    max_age_s: int = Field(3000, ge=0, le=86400)


S3_EVENTS = {"created": "s3:ObjectCreated:*", "removed": "s3:ObjectRemoved:*"}
_FILTER = r"^[^*?]{1,1024}$"


class BucketEvent(StrictModel):
    """Object events S3 delivers to a queue (the robust form: retries and a dead-letter queue) or straight to a function."""

    on: list[Literal["created", "removed"]] = Field(default_factory=lambda: ["created"], min_length=1,
                                                    description="created: s3:ObjectCreated:*; removed: s3:ObjectRemoved:*")
    prefix: str | None = Field(None, pattern=_FILTER, description="only keys starting with this, e.g. uploads/")
    suffix: str | None = Field(None, pattern=_FILTER, description="only keys ending with this, e.g. .pdf")
    to: str = Field(pattern=r"^(queues|functions)\.[a-z][a-z0-9_-]{0,29}$", description=(
        "queues.NAME: S3 sends each event to the queue, whose consumer retries and keeps failures in its dead-letter queue; "
        "functions.NAME: S3 invokes the function asynchronously (two retries, then the function's dead-letter queue)"))

    @model_validator(mode="after")
    def _rules(self):
        if len(set(self.on)) != len(self.on):
            raise_issues([Issue("S244", ("on",), "each event type may be listed once")])
        return self

    @property
    def target(self) -> tuple[str, str]:
        kind, _, name = self.to.partition(".")
        return kind, name

    def overlaps(self, other: BucketEvent) -> bool:
        """S3 refuses two notifications whose event types and key filters could both match one object."""
        def meets(a: str | None, b: str | None, fit) -> bool:
            return not a or not b or fit(a, b) or fit(b, a)

        return (bool(set(self.on) & set(other.on)) and meets(self.prefix, other.prefix, str.startswith)
                and meets(self.suffix, other.suffix, str.endswith))


class Bucket(StrictModel):
    versioning: bool = Field(True, description="keep every version of every object (needed for replication)")
    encryption: Literal["s3", "kms"] = Field("kms", description="kms: a customer-managed KMS key archc creates (S3 Bucket Keys on); "
                                             "s3: SSE-S3 (AES-256, a key S3 owns)")
    lifecycle: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")], LifecycleRule] = Field(
        default_factory=dict, description="rule name -> rule; every bucket also aborts incomplete uploads after 7 days")
    cors: BucketCors | None = None
    access_logs: bool = Field(True, description="S3 server access logs to the region's log bucket")
    events: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,29}$")], BucketEvent] = Field(
        default_factory=dict, description="event name -> object events delivered to a queue or a function")
    replicate: bool | None = Field(None, description="copy every object to a bucket in the DR region (cross-Region replication); "
                                   "default: on when the spec has dr:")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if not self.versioning:
            for name, rule in self.lifecycle.items():
                if rule.noncurrent_expire_days is not None or rule.noncurrent_transitions:
                    issues.append(Issue("S240", ("lifecycle", name), "noncurrent versions exist only with versioning: true"))
        names = list(self.events)
        for i, name in enumerate(names):
            for other in names[:i]:
                if self.events[name].overlaps(self.events[other]):
                    issues.append(Issue("S244", ("events", name), f'its event types and key filters overlap events.{other}; S3 refuses '
                                        "overlapping notifications: give them prefixes or suffixes that cannot both match a key"))
        raise_issues(issues)
        return self


class Logs(StrictModel):
    """The log bucket archc keeps in each region where something logs to S3 (CloudFront, S3 server access logs)."""

    retention_days: int = Field(90, ge=1, le=3650, description="log objects are deleted after this")
    transitions: list[Transition] = Field(default_factory=list, description="cheaper storage classes on the way, e.g. "
                                          "STANDARD_IA after 30 days, GLACIER after 90 (S3 leaves objects under 128 KB where they are)")

    @model_validator(mode="after")
    def _rules(self):
        raise_issues(transition_issues("transitions", self.transitions, self.retention_days))
        return self
