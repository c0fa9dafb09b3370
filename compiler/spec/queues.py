"""The `queues:` section: named SQS standard queues, each with a dead-letter queue by default."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

MAX_RETENTION_DAYS = 14  # SQS keeps a message at most 1,209,600 s


class DeadLetter(StrictModel):
    max_receive_count: int = Field(5, ge=1, le=1000, description="receives before a message moves to the dead-letter queue "
                                   "(at least 5 when a function consumes the queue)")
    retention_days: int = Field(14, ge=1, le=MAX_RETENTION_DAYS)


class Queue(StrictModel):
    visibility_timeout_s: int | None = Field(None, ge=0, le=43200, description=(
        "how long a received message stays hidden; default: 6 x the consuming function's timeout plus its batching window "
        "(AWS's rule for Lambda consumers), or 30 s without a consumer"))
    retention_days: int = Field(4, ge=1, le=MAX_RETENTION_DAYS)
    delay_s: int = Field(0, ge=0, le=900)
    encryption: Literal["sqs", "kms"] = Field("sqs", description="sqs: SSE-SQS; kms: a customer-managed KMS key archc creates")
    dead_letter: DeadLetter | None = Field(DeadLetter(), description="null keeps failed messages nowhere (a weakened default)")

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        dl = self.dead_letter
        # The dead-letter queue counts age from the original enqueue time (aws-facts.md section 8).
        if dl is not None and dl.retention_days <= self.retention_days:
            fix = (f"set it to {min(MAX_RETENTION_DAYS, self.retention_days + 7)}" if self.retention_days < MAX_RETENTION_DAYS
                   else f"keep the queue's retention_days at most {MAX_RETENTION_DAYS - 1}")
            issues.append(Issue("S241", ("dead_letter", "retention_days"),
                                f"a message keeps its age when it moves to the dead-letter queue, so it must outlive the queue's "
                                f"{self.retention_days} days: {fix}"))
        raise_issues(issues)
        return self
