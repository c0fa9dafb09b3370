"""The `database:` section: an RDS PostgreSQL instance (DynamoDB tables are declared under `tables:`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues
from .regions import retention_issues

# RDS for PostgreSQL: the oldest minor of each major that RDS still creates (cfn-lint 1.58's
# engine_version data; a major alone, such as "15", is deprecated for new instances). A test keeps this
# table in step with cfn-lint.
POSTGRES_MIN_MINOR = {"14": 18, "15": 13, "16": 9, "17": 5, "18": 1}
POSTGRES_MAJORS = tuple(POSTGRES_MIN_MINOR)
_CLASS = re.compile(
    r"db\.(t3|t4g)\.(micro|small|medium|large|xlarge|2xlarge)"
    r"|db\.(m5|m6g|m6i|m7g|m7i|r5|r6g|r6i|r7g|r7i)\.(large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge)"
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_BACKUP = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_MAINT = re.compile(r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)")
_WEEK = 7 * 24 * 60
# Performance Insights keeps 7 days free, or whole months of 31 days up to 23, or 731 days (RDS refuses any other value).
INSIGHTS_DAYS = (7, *(31 * m for m in range(1, 24)), 731)


def _minutes(h: str, m: str, day: str | None = None) -> int:
    return (_DAYS.index(day) * 24 * 60 if day else 0) + int(h) * 60 + int(m)


class Postgres(StrictModel):
    """RDS for PostgreSQL in the private data subnets of `network:`."""

    version: str = Field("16.9", description="major.minor, e.g. 15.13 (RDS no longer creates instances from a bare major)")
    instance_class: str = "db.t4g.small"
    storage_gb: int = Field(20, ge=20, le=65536)
    max_storage_gb: int = Field(100, ge=20, le=65536, description="storage autoscaling ceiling")
    multi_az: bool = False
    backup_retention_days: int = Field(7, description="1-35 days")
    backup_window: str = Field("03:00-04:00", description="daily, UTC, hh:mm-hh:mm, at least 30 minutes")
    maintenance_window: str = Field("sun:04:00-sun:05:00", description="weekly, UTC, ddd:hh:mm-ddd:hh:mm")
    deletion_protection: bool = True
    rotation_days: int = Field(30, description="credential rotation period, 1-365 days")
    database_name: str = Field("app", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    master_username: str = Field("app_admin", pattern=r"^[a-z][a-z0-9_]{0,15}$")
    port: int = Field(5432, ge=1150, le=65535)
    log_retention_days: int = 30
    monitoring_interval_s: Literal[0, 1, 5, 10, 15, 30, 60] = Field(
        0, description="enhanced monitoring: operating-system metrics every N seconds into CloudWatch Logs (RDSOSMetrics); 0: off")
    performance_insights_days: int | None = Field(
        None, description="Performance Insights (Database Insights, standard mode), encrypted with the database key, kept 7 days "
                          "(free), 31 x months (1-23) or 731; leave out for off")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        form = re.fullmatch(r"(\d+)\.(\d+)", self.version)
        if not form or form[1] not in POSTGRES_MIN_MINOR or int(form[2]) < POSTGRES_MIN_MINOR[form[1]]:
            oldest = ", ".join(f"{major}.{minor}" for major, minor in POSTGRES_MIN_MINOR.items())
            issues.append(Issue("S205", ("version",),
                                f'RDS does not create PostgreSQL "{self.version}" instances; give major.minor at or above one of {oldest}'))
        if not _CLASS.fullmatch(self.instance_class):
            issues.append(Issue("S206", ("instance_class",),
                                f'"{self.instance_class}" is not an RDS PostgreSQL instance class archc supports; use e.g. db.t4g.micro, db.t4g.small, db.m7g.large, db.r7g.large'))
        if self.max_storage_gb < self.storage_gb:
            issues.append(Issue("S203", ("max_storage_gb",),
                                f"max_storage_gb {self.max_storage_gb} is below storage_gb {self.storage_gb}; autoscaling needs a ceiling at or above the allocated storage"))
        if not 1 <= self.backup_retention_days <= 35:
            issues.append(Issue("S207", ("backup_retention_days",), "RDS keeps automated backups 1 to 35 days (0 would turn backups off)"))
        if not 1 <= self.rotation_days <= 365:
            issues.append(Issue("S207", ("rotation_days",), "Secrets Manager rotates every 1 to 365 days"))
        issues += retention_issues(("log_retention_days",), self.log_retention_days)
        if self.performance_insights_days is not None and self.performance_insights_days not in INSIGHTS_DAYS:
            issues.append(Issue("S207", ("performance_insights_days",), "Performance Insights keeps 7 days (free), 31 x months "
                                f"(31, 62, ... 713) or 731; {self.performance_insights_days} is refused by RDS"))
        backup = _BACKUP.fullmatch(self.backup_window)
        maint = _MAINT.fullmatch(self.maintenance_window)
        if not backup:
            issues.append(Issue("S212", ("backup_window",), 'write the backup window as "hh:mm-hh:mm" in UTC, e.g. "03:00-04:00"'))
        elif (_minutes(*backup.group(3, 4)) - _minutes(*backup.group(1, 2))) % (24 * 60) < 30:
            issues.append(Issue("S212", ("backup_window",), "the backup window must last at least 30 minutes"))
        if not maint:
            issues.append(Issue("S212", ("maintenance_window",), 'write the maintenance window as "ddd:hh:mm-ddd:hh:mm" in UTC, e.g. "sun:04:00-sun:05:00"'))
        elif (_minutes(*maint.group(5, 6), maint.group(4)) - _minutes(*maint.group(2, 3), maint.group(1))) % _WEEK < 30:
            issues.append(Issue("S212", ("maintenance_window",), "the maintenance window must last at least 30 minutes"))
        if backup and maint and _overlaps(backup, maint):
            issues.append(Issue("S212", ("maintenance_window",), "the maintenance window must not overlap the backup window"))
        raise_issues(issues)
        return self


def _overlaps(backup: re.Match, maint: re.Match) -> bool:
    start = _minutes(*maint.group(2, 3), maint.group(1))
    length = (_minutes(*maint.group(5, 6), maint.group(4)) - start) % _WEEK
    b_start = _minutes(*backup.group(1, 2))
    b_len = (_minutes(*backup.group(3, 4)) - b_start) % (24 * 60)
    maint_minutes = {(start + i) % _WEEK for i in range(length)}
    return any((day * 24 * 60 + b_start + i) % _WEEK in maint_minutes for day in range(7) for i in range(b_len))


Database = Postgres
