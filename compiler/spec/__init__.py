"""The arch.yaml models: the top level (app, regions, tags) and one module per section. Every section is optional."""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterator

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .alarms import Alarms
from .api import REST_MAX_TIMEOUT_S, Api
from ..naming import DEFAULT_ENV
from .base import Issue, Name, StrictModel, raise_issues
from .cdn import Distribution, signature_issues
from .database import Database, Postgres
from .dr import MECHANISMS, DisasterRecovery, minutes, uses_backups
from .functions import ACCESS_LEVELS, Function, ImageRef, QueueEvent, Repository
from .network import Network
from .queues import Queue
from .regions import REGIONS
from .storage import Bucket, BucketName, Logs
from .tables import Table

# Tags archc writes itself on every stack and resource.
RESERVED_TAGS = ("Environment", "Application", "Component")


class Regions(StrictModel):
    primary: str = Field(description="the region everything regional lives in")
    dr: str | None = Field(None, description="optional disaster-recovery region")

    @field_validator("primary", "dr")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            from ..diagnostics import did_you_mean
            raise PydanticCustomError("S208", '"{value}" is not an AWS region{hint}',
                                      {"value": value, "hint": did_you_mean(value, REGIONS)})
        return value

    @model_validator(mode="after")
    def _rules(self):
        if self.dr is not None and self.dr == self.primary:
            raise_issues([Issue("S204", ("dr",), f"the DR region must differ from the primary region ({self.primary})")])
        return self

    @property
    def all(self) -> tuple[str, ...]:
        return (self.primary,) + ((self.dr,) if self.dr else ())


class Deploy(StrictModel):
    """How `archc deploy` protects the stacks of this environment (deploy-time settings: not in the templates)."""

    termination_protection: bool | None = Field(None, description="default: on for an environment named prod")
    rollback_alarms: bool = Field(True, description="use the stack's alarms (up to 5) as rollback triggers")
    monitoring_minutes: int = Field(10, ge=0, le=180, description="how long CloudFormation watches the rollback alarms after a deploy")
    timeout_minutes: int = Field(120, ge=5, le=720, description="how long deploy waits for one stack")


class Spec(StrictModel):
    """One environment's view of arch.yaml (the base with that environment's overlay merged on)."""

    app: str = Field(description="application name: lowercase letters, digits and hyphens; part of every stack and resource name")
    regions: Regions
    tags: dict[str, str] = Field(default_factory=dict, description="extra tags on every stack and resource")
    waivers: dict[str, Annotated[str, Field(min_length=3)]] = Field(
        default_factory=dict, description="weakened secure defaults, by spec path, each with the written reason it is acceptable")
    network: Network | None = Field(None, description="a VPC (built only when declared)")
    database: Database | None = None
    buckets: dict[BucketName, Bucket] = Field(default_factory=dict)
    tables: dict[Name, Table] = Field(default_factory=dict)
    queues: dict[Name, Queue] = Field(default_factory=dict)
    repositories: dict[Name, Repository] = Field(default_factory=dict, description="ECR repositories archc manages for container images")
    functions: dict[Name, Function] = Field(default_factory=dict)
    api: Api | None = None
    cdn: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")], Distribution] = Field(
        default_factory=dict, description="distribution name -> CloudFront distribution")
    logs: Logs = Field(Logs(), description="the log bucket archc keeps where something logs to S3")
    alarms: Alarms | None = Field(None, description="an alarm topic per region and the alarms of every part (built only when declared)")
    dr: DisasterRecovery | None = Field(None, description="recovery into regions.dr: strategy, RTO, RPO (every data store copied there)")
    deploy: Deploy = Deploy()

    @field_validator("app")
    @classmethod
    def _app(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,19}", value) or value.endswith("-") or "--" in value:
            raise PydanticCustomError("S209", '"{value}" must be 2-20 lowercase letters, digits or single hyphens, starting with a letter '
                                      "(it is part of bucket, database and stack names)", {"value": value})
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if key in RESERVED_TAGS:
                raise PydanticCustomError("S210", 'tag "{key}" is written by archc itself; choose another key', {"key": key})
            if key.lower().startswith("aws:") or not 1 <= len(key) <= 128 or len(value) > 256 or not re.fullmatch(r"[\w .:/=+\-@]*", key + value):
                raise PydanticCustomError("S210", 'tag "{key}" is not valid: keys 1-128 and values 0-256 characters of letters, digits, '
                                          "spaces and _.:/=+-@, keys not starting with aws:", {"key": key})
        return tags

    @model_validator(mode="after")
    def _references(self):
        """Rules across sections: what one section names must exist in another and fit its limits."""
        raise_issues(self._api_issues() + self._network_issues() + self._uses_issues() + self._cdn_issues() + self._name_issues()
                     + self._event_issues() + self._image_issues() + self._dr_issues())
        return self

    # --- disaster recovery: what reaches the DR region, and whether compute runs there -------------------------

    def replicated(self, kind: str) -> list[str]:
        """Buckets or tables copied to the DR region: those marked replicate, and by default all of them under `dr:`."""
        if self.regions.dr is None:
            return []
        return [name for name, item in getattr(self, kind).items() if item.replicate or (item.replicate is None and self.dr is not None)]

    @property
    def database_copy(self) -> str | None:
        """How the database reaches the DR region: "backups" (cross-Region automated backups), "replica", or None."""
        if self.database is None or self.dr is None or self.regions.dr is None:
            return None
        return "backups" if uses_backups(self.dr.strategy) else "replica"

    @property
    def standby(self) -> bool:
        """The DR region has a database: a read replica (warm_standby), or the instance restored or promoted at failover."""
        return self.database_copy == "replica" or (self.database_copy is not None and self.failed_over)

    @property
    def failed_over(self) -> bool:
        return self.dr is not None and self.dr.failover is not None and self.regions.dr is not None

    @property
    def compute_regions(self) -> tuple[str, ...]:
        """Where functions and APIs run: every region, except that backup_restore deploys the DR compute only at failover."""
        if self.dr is not None and self.dr.strategy == "backup_restore" and not self.failed_over:
            return (self.regions.primary,)
        return self.regions.all

    def mechanisms(self) -> list[tuple[tuple, str]]:
        """(where in the spec, mechanism) for every copy to the DR region."""
        found = [(("buckets", b, "replicate"), "crr") for b in self.replicated("buckets")]
        found += [(("tables", t, "replicate"), "global_table") for t in self.replicated("tables")]
        if self.database_copy is not None:
            found.append((("database",), self.database_copy))
        return found

    def _dr_issues(self) -> list[Issue]:
        issues = []
        has_data = self.database is not None or self.buckets or self.tables
        if self.dr is not None and self.regions.dr is None:
            issues.append(Issue("S251", ("dr",), "dr: describes recovery into the DR region, and regions.dr is not set: set regions.dr, "
                                "or remove dr: (in an environment overlay, dr: null turns DR off)"))
        if self.dr is None and self.regions.dr is not None and has_data:
            issues.append(Issue("S251", ("regions",), f"the DR region {self.regions.dr} would get compute but no copy of the data: add "
                                "dr: {strategy: ..., rto: ..., rpo: ...} (or remove regions.dr)"))
        for kind in ("buckets", "tables"):
            for name, item in getattr(self, kind).items():
                if item.replicate and self.regions.dr is None:
                    issues.append(Issue("S254", (kind, name, "replicate"), "there is no DR region to replicate to: set regions.dr "
                                        "(and dr:), or remove replicate"))
        for name in self.replicated("buckets"):
            if not self.buckets[name].versioning:
                issues.append(Issue("S254", ("buckets", name, "versioning"), "S3 replicates only from and to versioned buckets, and "
                                    "this one is replicated" + (" (dr: copies every bucket)" if self.buckets[name].replicate is None else "")
                                    + ": keep versioning on, or set replicate: false (a weakened default)"))
        for name in self.replicated("tables"):
            if self.tables[name].stream not in (None, "NEW_AND_OLD_IMAGES"):
                issues.append(Issue("S254", ("tables", name, "stream"), "a global table streams NEW_AND_OLD_IMAGES to replicate its "
                                    "writes: use that view, or leave stream out"))
        if self.dr is None or self.regions.dr is None:
            return issues
        rpo, rto = minutes(self.dr.rpo), minutes(self.dr.rto)
        by_mechanism: dict[str, list[str]] = {}
        for at, mech in self.mechanisms():
            by_mechanism.setdefault(mech, []).append(".".join(map(str, at[:2])))
        for mech, stores in by_mechanism.items():
            m = MECHANISMS[mech]
            if rpo < m.rpo_minutes:
                issues.append(Issue("S252", ("dr", "rpo"), f"{self.dr.rpo} is tighter than {', '.join(stores)} can promise: "
                                    f"{m.what} keeps up to {m.rpo_minutes} min of data at risk ({m.why}); raise rpo"
                                    + (" or use strategy: warm_standby" if mech == "backups" else "")))
        steps = self.dr.rto_floor(self.database is not None)
        floor = sum(m for _, m, _ in steps)
        if rto < floor:
            detail = " + ".join(f"{what} ({m} min)" for _, m, what in steps)
            issues.append(Issue("S252", ("dr", "rto"), f"{self.dr.rto} is shorter than {self.dr.strategy} can recover in: {detail} "
                                f"= {floor} min; raise rto or choose a strategy that keeps more running in the DR region"))
        if self.failed_over and self.database_copy == "backups" and self.dr.failover.restore_from is None:
            issues.append(Issue("S253", ("dr", "failover"), "the database comes back from its replicated backups: give "
                                "restore_from (the runbook's describe-db-instance-automated-backups command prints it)"))
        for dname, dist in self.cdn.items():
            for oname, origin in dist.origins.items():
                if origin.failover is None or origin.failover.region != "dr":
                    continue
                at = ("cdn", dname, "origins", oname, "failover", "region")
                if origin.bucket is not None and origin.bucket not in self.replicated("buckets"):
                    issues.append(Issue("S254", at, f"buckets.{origin.bucket} has no copy in the DR region: replicate it"))
                if origin.kind in ("api", "function_url") and self.regions.dr not in self.compute_regions:
                    issues.append(Issue("S226", at, "backup_restore deploys no compute in the DR region until failover: fail over to "
                                        "another origin, or use pilot_light or warm_standby"))
        return issues + self._health_issues()

    def _health_issues(self) -> list[Issue]:
        rest = self.api.rest if self.api else None
        if rest is None or rest.health is None:
            return []
        issues = []
        for dname, dist in self.cdn.items():
            _, b = dist.behavior_for(rest.health)
            origin = dist.origins.get(b.origin)
            if origin is not None and origin.api and origin.path == "" and self.fails_over(origin) and b.failover:
                issues.append(Issue("S256", ("api", "rest", "health"),
                                    f"cdn.{dname} serves the health route through an origin group: during an outage of the primary "
                                    "it would answer from the DR region and monitors would see no outage. Give the health route its "
                                    "own behavior with failover: false"))
        return issues

    def fails_over(self, origin: Any) -> bool:
        """An origin with a twin: another origin, or its copy in the DR region. An environment without a DR region (an
        overlay with `regions: {dr: null}` turns DR off) serves the origin from the primary alone."""
        return origin.failover is not None and (origin.failover.origin is not None or self.regions.dr is not None)

    def consumer(self, queue: str) -> tuple[str, Function, QueueEvent] | None:
        """The function that consumes a queue, with its event source settings."""
        return next(((name, fn, ev) for name, fn in self.functions.items() for ev in fn.events.values() if ev.queue == queue), None)

    def visibility_timeout(self, queue: str) -> int:
        """The queue's visibility timeout: as written, or AWS's rule for a Lambda consumer (6 x timeout + window), or 30 s."""
        q = self.queues[queue]
        if q.visibility_timeout_s is not None:
            return q.visibility_timeout_s
        found = self.consumer(queue)
        return 30 if found is None else min_visibility(found[1], found[2])

    def invoked_asynchronously(self, name: str) -> bool:
        """S3 invokes a function it notifies asynchronously; another function allowed to invoke it may too. APIs, Function URLs
        and queue mappings invoke synchronously: a failure returns to the caller (or the queue), never to a dead-letter queue."""
        return (any(ev.target == ("functions", name) for b in self.buckets.values() for ev in b.events.values())
                or any(f"functions.{name}" in fn.uses for fn in self.functions.values()))

    def _event_issues(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for fname, fn in self.functions.items():
            if "dlq_retention_days" in fn.model_fields_set and not self.invoked_asynchronously(fname):
                issues.append(Issue("S257", ("functions", fname, "dlq_retention_days"),
                                    "nothing invokes this function asynchronously (no bucket event, no function with `uses: "
                                    f"functions.{fname}: invoke`), so it has no dead-letter queue: remove dlq_retention_days"))
        for bname, b in self.buckets.items():
            for ename, ev in b.events.items():
                kind, target = ev.target
                names = getattr(self, kind)
                if target not in names:
                    issues.append(Issue("S242", ("buckets", bname, "events", ename, "to"),
                                        f'no {kind[:-1]} "{target}" under {kind}:{did_you_mean(target, names)}'))
        consumers: dict[str, str] = {}
        for fname, fn in self.functions.items():
            for ename, ev in fn.events.items():
                at = ("functions", fname, "events", ename)
                q = self.queues.get(ev.queue)
                if q is None:
                    issues.append(Issue("S242", at + ("queue",), f'no queue "{ev.queue}" under queues:{did_you_mean(ev.queue, self.queues)}'))
                    continue
                other = consumers.setdefault(ev.queue, fname)
                if other != fname or sum(e.queue == ev.queue for e in fn.events.values()) > 1:
                    issues.append(Issue("S248", at + ("queue",), f"queues.{ev.queue} already feeds functions.{other}; consumers of one queue "
                                        "split its messages between them, they do not each get every message: give each function its own queue"))
                    continue
                need = min_visibility(fn, ev)
                if q.visibility_timeout_s is not None and q.visibility_timeout_s < need:
                    issues.append(Issue("S245", ("queues", ev.queue, "visibility_timeout_s"),
                                        f"{q.visibility_timeout_s} s is shorter than AWS's rule for a Lambda consumer: 6 x functions.{fname}."
                                        f"timeout_s ({fn.timeout_s} s) + window_s ({ev.window_s} s) = {need} s; use at least {need} "
                                        "(or leave it out: archc derives it)"))
                if q.dead_letter is not None and q.dead_letter.max_receive_count < 5:
                    issues.append(Issue("S245", ("queues", ev.queue, "dead_letter", "max_receive_count"),
                                        f"{q.dead_letter.max_receive_count} receives: with a Lambda consumer a message may be received again "
                                        "while the function scales or is throttled; AWS asks for at least 5"))
                if ev.max_concurrency is not None and fn.reserved_concurrency is not None and ev.max_concurrency > fn.reserved_concurrency:
                    issues.append(Issue("S246", at + ("max_concurrency",),
                                        f"{ev.max_concurrency} concurrent batches but functions.{fname}.reserved_concurrency is "
                                        f"{fn.reserved_concurrency}: the extra batches are throttled and count as failed receives; "
                                        f"use at most {fn.reserved_concurrency}"))
        direct = [(bname, ename, ev.target[1]) for bname, b in self.buckets.items() for ename, ev in b.events.items()
                  if ev.target[0] == "functions"]
        keyed = sorted(f"functions.{fname} uses {target}" for fname, fn in self.functions.items() for target in fn.uses
                       if (b := self.buckets.get(target.removeprefix("buckets."))) is not None and target.startswith("buckets.")
                       and b.encryption == "kms")
        if direct and keyed:
            bname, ename, fname = direct[0]
            issues.append(Issue("S247", ("buckets", bname, "events", ename, "to"),
                                f"S3 can invoke functions.{fname} only once the function exists, but {keyed[0]}, whose KMS key the storage "
                                "stack creates: the two stacks would each wait for the other. Deliver through a queue (to: queues.NAME), "
                                "or use encryption: s3 on that bucket"))
        return issues

    def _image_issues(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for fname, fn in self.functions.items():
            at = ("functions", fname, "image")
            if isinstance(fn.image, ImageRef):
                repo = self.repositories.get(fn.image.repository)
                if repo is None:
                    issues.append(Issue("S242", at + ("repository",), f'no repository "{fn.image.repository}" under repositories:'
                                        f"{did_you_mean(fn.image.repository, self.repositories)}"))
                elif self.regions.dr and not repo.replicate:
                    issues.append(Issue("S249", at + ("repository",),
                                        f"the function also runs in {self.regions.dr}, and Lambda pulls images only from its own region, "
                                        f"but repositories.{fn.image.repository}.replicate is false: nothing would put the image there; "
                                        "set replicate: true"))
            elif isinstance(fn.image, str) and self.regions.dr:
                issues.append(Issue("S249", at, f"the function also runs in {self.regions.dr}, and Lambda pulls images only from its own region: "
                                    "a URI names one region's repository, which nothing creates or fills in the other. Declare the repository "
                                    "under repositories: and write image: {repository: NAME, tag: ...} (archc replicates it)"))
        return issues

    def _api_issues(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for section, api in (("rest", self.api and self.api.rest), ("websocket", self.api and self.api.websocket)):
            if api is None:
                continue
            fn = self.functions.get(api.function)
            if fn is None:
                issues.append(Issue("S221", ("api", section, "function"),
                                    f'no function "{api.function}" under functions:{did_you_mean(api.function, self.functions)}'))
            elif section == "rest" and fn.timeout_s > REST_MAX_TIMEOUT_S:
                issues.append(Issue("S217", ("functions", api.function, "timeout_s"),
                                    f"{fn.timeout_s} s behind the REST API, which stops waiting after {REST_MAX_TIMEOUT_S} s; use at most {REST_MAX_TIMEOUT_S}"))
        return issues

    def _network_issues(self) -> list[Issue]:
        issues = []
        if self.network is None:
            for name, fn in self.functions.items():
                if fn.in_vpc:
                    issues.append(Issue("S226", ("functions", name, "in_vpc"), "in_vpc needs a VPC: declare `network:` (or remove in_vpc)"))
            if self.database is not None:
                issues.append(Issue("S226", ("database",), "the database lives in the VPC's private data subnets: declare `network:`"))
            return issues
        if self.network.existing is not None:
            for region in self.regions.all:
                if region not in self.network.existing:
                    issues.append(Issue("S250", ("network", "existing"), f"no VPC for {region}: every region of the spec needs one"))
            for region, vpc in self.network.existing.items():
                if vpc.data_subnet_ids is not None and self.database is None:
                    issues.append(Issue("S250", ("network", "existing", region, "data_subnet_ids"),
                                        "data subnets hold the database, and the spec has no `database:`: remove them"))
                if region not in self.regions.all:
                    issues.append(Issue("S250", ("network", "existing", region), f"{region} is not a region of this spec "
                                        f"({', '.join(self.regions.all)})"))
        elif self.database is not None and self.network.nat_gateways == 0 and "secretsmanager" not in self.network.vpc_endpoints:
            issues.append(Issue("S214", ("network", "endpoints"),
                                "the database's rotation function needs Secrets Manager: add the secretsmanager endpoint or a NAT gateway"))
        return issues

    def _uses_issues(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for name, fn in self.functions.items():
            for target, level in fn.uses.items():
                at = ("functions", name, "uses", target)
                kind, _, item = target.partition(".")
                if kind not in ACCESS_LEVELS or (kind == "database") != (item == ""):
                    issues.append(Issue("S242", at, f'"{target}" is not a resource: write KIND.NAME with KIND one of buckets, tables, queues, '
                                        'functions, or "database"'))
                    continue
                if kind == "database":
                    if self.database is None:
                        issues.append(Issue("S224", at, "the spec has no `database:`"))
                else:
                    names = getattr(self, kind)
                    if item not in names:
                        issues.append(Issue("S242", at, f'no {kind[:-1]} "{item}" under {kind}:{did_you_mean(item, names)}'))
                    elif kind == "functions" and item == name:
                        issues.append(Issue("S242", at, "a function does not need a connection to itself"))
                if level not in ACCESS_LEVELS[kind]:
                    issues.append(Issue("S243", at, f'"{level}" is not an access level for {kind}; use one of {", ".join(ACCESS_LEVELS[kind])}'))
        return issues

    def _cdn_issues(self) -> list[Issue]:
        from ..diagnostics import did_you_mean

        issues = []
        for dname, dist in self.cdn.items():
            for oname, origin in dist.origins.items():
                at = ("cdn", dname, "origins", oname)
                if origin.bucket is not None and origin.bucket not in self.buckets:
                    issues.append(Issue("S239", at + ("bucket",), f'no bucket "{origin.bucket}" under buckets:{did_you_mean(origin.bucket, self.buckets)}'))
                if origin.api is not None and (self.api is None or self.api.rest is None):
                    issues.append(Issue("S239", at + ("api",), "the spec has no REST API: declare `api: {rest: ...}`"))
                if origin.function_url is not None:
                    fn = self.functions.get(origin.function_url)
                    if fn is None:
                        issues.append(Issue("S239", at + ("function_url",),
                                            f'no function "{origin.function_url}" under functions:{did_you_mean(origin.function_url, self.functions)}'))
                    elif fn.url is None:
                        issues.append(Issue("S239", at + ("function_url",), f'functions.{origin.function_url} has no `url:`'))
                    elif fn.url.auth != "AWS_IAM":
                        issues.append(Issue("S239", at + ("function_url",),
                                            f"CloudFront signs requests to a function URL with origin access control: set functions.{origin.function_url}.url.auth to AWS_IAM"))
        rest = self.api.rest if self.api else None
        issues += [Issue(i.code, ("cdn",) + i.at, i.message, i.reads) for i in signature_issues(self.cdn, rest is not None and not rest.origin_verify)]
        if rest is not None and rest.origin_verify and not any(o.api for d in self.cdn.values() for o in d.origins.values()):
            issues.append(Issue("S259", ("api", "rest", "origin_verify"),
                                "no distribution serves the REST API, so nothing can send the header it would check: add it as an "
                                "origin (cdn.NAME.origins.X: {api: rest}), or set origin_verify: false (a weakened default)",
                                reads=(("cdn",),)))
        return issues

    def _name_issues(self) -> list[Issue]:
        from ..naming import LOGS_BUCKET, camel

        issues = []
        if LOGS_BUCKET in self.buckets:
            issues.append(Issue("S209", ("buckets", LOGS_BUCKET), f'"{LOGS_BUCKET}" is the log bucket archc keeps itself; choose another name'))
        for name in self.queues:
            if name in self.functions:
                issues.append(Issue("S209", ("queues", name), f'"{name}" is also a function, whose dead-letter queue shares SQS names with this queue'))
            owner = name[: -len("-dlq")] if name.endswith("-dlq") else None
            if owner and (owner in self.functions or (owner in self.queues and self.queues[owner].dead_letter is not None)):
                kind = "function" if owner in self.functions else "queue"
                issues.append(Issue("S209", ("queues", name), f'the dead-letter queue of {kind} "{owner}" already has this SQS name; choose another'))
        for kind in ("buckets", "tables", "queues", "functions"):
            seen: dict[str, str] = {}
            for name in getattr(self, kind):
                other = seen.setdefault(camel(name), name)
                if other != name:
                    issues.append(Issue("S209", (kind, name), f'"{name}" and "{other}" give the same logical ID; rename one'))
        return issues

    def deprecations(self) -> Iterator[tuple[str, str]]:
        """Runtimes the spec pins that AWS deprecates within 180 days (cfn-lint's lifecycle data)."""
        from .. import runtimes

        pinned = [(f"functions.{n}", f) for n, f in self.functions.items() if f.image is None]
        pinned += [(f"cdn.{d}.edge_functions.{n}", f) for d, dist in self.cdn.items() for n, f in dist.edge_functions.items()
                   if not f.cloudfront_function]
        for path, fn in pinned:
            date = runtimes.deprecation_soon(fn.runtime)
            if date is not None:
                family = "python" if fn.runtime.startswith("python") else "nodejs"
                yield (f"{path}.runtime", f"AWS deprecates {fn.runtime} on {date} (no more security patches, then no new functions): "
                                          f"move to {runtimes.latest(family)}")

    def weakened(self) -> Iterator[tuple[str, str]]:
        """Every secure default this spec turns off, by spec path, with what it costs."""
        if self.database is not None and not self.database.deletion_protection:
            yield "database.deletion_protection", "deletion protection is off: a stack update or delete can drop the database"
        for name, t in self.tables.items():
            if not t.deletion_protection:
                yield f"tables.{name}.deletion_protection", "deletion protection is off: a stack update or delete can drop the table"
            if not t.point_in_time_recovery:
                yield f"tables.{name}.point_in_time_recovery", "point-in-time recovery is off: a bad write cannot be undone"
        for name, b in self.buckets.items():
            if not b.versioning:
                yield f"buckets.{name}.versioning", "versioning is off: an overwritten or deleted object cannot be recovered"
            if not b.access_logs:
                yield f"buckets.{name}.access_logs", "no server access logs: requests to the bucket leave no trace"
        if self.dr is not None and self.regions.dr is not None:
            for kind, what in (("buckets", "objects"), ("tables", "items")):
                for name, item in getattr(self, kind).items():
                    if item.replicate is False:
                        yield f"{kind}.{name}.replicate", f"no copy in the DR region: the {what} are lost with the primary region"
        for name, q in self.queues.items():
            if q.dead_letter is None:
                yield f"queues.{name}.dead_letter", "no dead-letter queue: a message that keeps failing is dropped after the retention period"
        for name, fn in self.functions.items():
            if fn.url is not None and fn.url.auth == "NONE":
                yield f"functions.{name}.url.auth", "the function URL is public: anyone on the internet can invoke it"
            for sid, p in fn.permissions.items():
                if any("*" in a for a in p.actions + p.resources):
                    yield f"functions.{name}.permissions.{sid}", "a raw IAM statement with a wildcard grants more than the function may need"
        rest = self.api.rest if self.api else None
        if rest is not None and rest.auth.type == "none":
            yield "api.rest.auth.type", "the REST API's routes need no authorization: anyone who reaches them may call them"
        if rest is not None and rest.auth.public:
            yield "api.rest.auth.public", f"{len(rest.auth.public)} route(s) left open to anyone: {', '.join(rest.auth.public)}"
        if rest is not None and not rest.origin_verify:
            yield "api.rest.origin_verify", "the regional endpoint answers anyone: a caller who knows its domain skips CloudFront, its WAF and its edge checks"
        if self.api is not None and self.api.websocket is not None and self.api.websocket.auth == "none":
            yield "api.websocket.auth", "anyone may connect to the WebSocket API and send to its routes"
        for name, d in self.cdn.items():
            if not d.waf.enabled:
                yield f"cdn.{name}.waf.enabled", "no web application firewall in front of the distribution"
            if not d.logging:
                yield f"cdn.{name}.logging", "no access logs: requests to the distribution leave no trace"
            if d.spa is not None and d.spa.routing == "error_responses" and any(o.kind != "bucket" for o in d.origins.values()):
                yield (f"cdn.{name}.spa.routing", "every 403 and 404 of the distribution becomes the index page with 200: an API's "
                                                  "errors and WAF's blocks reach clients as HTML")
        watched = self.functions or self.database is not None or self.cdn or self.api is not None
        if self.alarms is None and watched:
            yield "alarms", "no `alarms:` section: failures of the functions, APIs, database and CDN raise no alarm"
        elif self.alarms is not None and not self.alarms.email:
            yield "alarms.email", "no one is subscribed to the alarm topic: alarms fire unseen"


def min_visibility(fn: Function, event: QueueEvent) -> int:
    """AWS's rule for a queue a Lambda function consumes: visibility at least 6 x the timeout plus the batching window."""
    return 6 * fn.timeout_s + event.window_s


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of arch.yaml: the Spec plus `environments:` overlays (partial specs merged onto it)."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archc arch.yaml"
    schema["properties"]["environments"] = {
        "type": "object",
        "description": "environment name -> overlay merged onto the base before validation "
                       "(mappings merge, lists and scalars replace, null removes); without it the spec has one environment, "
                       f'"{DEFAULT_ENV}"',
        "additionalProperties": {"type": ["object", "null"]},
        "propertyNames": {"pattern": "^[a-z][a-z0-9]{0,9}$"},
        "minProperties": 1,
    }
    return schema


__all__ = ["Alarms", "Api", "Bucket", "Database", "Deploy", "Distribution", "Function", "Network", "Postgres", "Queue",
           "Regions", "Repository", "Spec", "Table", "min_visibility", "spec_json_schema"]
