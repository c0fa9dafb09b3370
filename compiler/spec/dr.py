"""The `dr:` section: how the data reaches the DR region (`regions.dr`), and the recovery objectives archc holds the
chosen mechanisms to. What each mechanism can promise is data here, so that validation, the README and the runbook
say the same thing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

Strategy = Literal["backup_restore", "pilot_light", "warm_standby"]
Duration = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}(m|h)$", description='minutes or hours, e.g. "30m", "4h"')]
ReplicaClass = Literal["STANDARD", "STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR"]


def minutes(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(m|h)", duration).groups()
    return int(number) * (60 if unit == "h" else 1)


@dataclass(frozen=True)
class Mechanism:
    """One way a data store reaches the DR region, and the recovery point it can promise (minutes of data at risk)."""

    what: str
    rpo_minutes: int
    why: str


MECHANISMS = {
    "backups": Mechanism("RDS cross-Region automated backups (snapshots and transaction logs, restorable to a point in time)", 30,
                         "the copy is asynchronous: AWS puts its RPO at 5-30 minutes (Prescriptive Guidance, RDS PITR "
                         "snapshot replication)"),
    "replica": Mechanism("RDS cross-Region read replica (asynchronous, lag alarmed)", 1,
                         "asynchronous replication, usually seconds behind; archc alarms when the lag passes half the RPO"),
    "crr": Mechanism("S3 cross-Region replication with Replication Time Control", 15,
                     "Replication Time Control replicates 99.99 % of objects within 15 minutes (the SLA credits below "
                     "99.9 %); without it most objects replicate within 15 minutes and large ones may take hours"),
    "global_table": Mechanism("DynamoDB global table replica", 1,
                              "DynamoDB propagates a write to the other replicas usually within a second"),
}

# The recovery steps that take time whatever the size of the data, in minutes: archc's planning floor for RTO.
RTO_STEPS = {
    "decide": (15, "confirm the outage and run archc plan/deploy for the failover"),
    "deploy": (45, "deploy the DR region's compute stacks (functions, APIs), which backup_restore does not keep running"),
    "restore": (60, "restore PostgreSQL from its replicated backups (longer for larger databases)"),
    "promote": (10, "promote the read replica to a standalone database"),
}


def uses_backups(strategy: str) -> bool:
    """The strategies that copy the database as backups (a replica only with warm_standby)."""
    return strategy != "warm_standby"


class Failover(StrictModel):
    """The DR region serves: the primary region is lost. Set it, run archc plan, review, deploy (see out/<env>/dr-runbook.md)."""

    restore_from: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:auto-backup:ab-[a-z0-9]+$", description=(
        "backup_restore and pilot_light: the replicated automated backups to restore the database from "
        "(aws rds describe-db-instance-automated-backups --region DR)"))


class DisasterRecovery(StrictModel):
    """Recovery into `regions.dr`: every data store is copied there, DR compute reads the DR copies."""

    strategy: Strategy = Field(description=(
        "backup_restore: data copied as backups and replicas, DR compute deployed at failover; pilot_light: as backup_restore "
        "with the DR compute deployed and idle; warm_standby: a running read replica of the database as well"))
    rto: Duration = Field(description="recovery time objective: how long the system may be down")
    rpo: Duration = Field(description="recovery point objective: how much recent data may be lost")
    replica_storage_class: ReplicaClass = Field("STANDARD_IA", description="storage class of the objects S3 replicates")
    backup_retention_days: int = Field(7, ge=1, le=35, description="days RDS keeps the replicated backups in the DR region")
    failover: Failover | None = Field(None, description="set during a regional outage: the DR region takes over")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if self.failover is not None and self.failover.restore_from is not None and not uses_backups(self.strategy):
            issues.append(Issue("S253", ("failover", "restore_from"), "warm_standby promotes its read replica; restore_from belongs to "
                                "the strategies that restore from backups"))
        raise_issues(issues)
        return self

    def rto_floor(self, database: bool) -> list[tuple[str, int, str]]:
        """The steps a recovery of this spec takes, each (name, minutes, what)."""
        steps = ["decide"]
        if self.strategy == "backup_restore":
            steps.append("deploy")
        if database:
            steps.append("restore" if uses_backups(self.strategy) else "promote")
        return [(s, *RTO_STEPS[s]) for s in steps]
