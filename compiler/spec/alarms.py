"""The `alarms:` section: who is told when an alarm fires."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


class Budget(StrictModel):
    """A monthly cost budget with alerts to the alarm topic. AWS Budgets are per account: it counts everything the account
    spends (one account per environment, as seeds/001 does, makes it the environment's cost)."""

    monthly_usd: float = Field(gt=0, le=1_000_000_000, description="the month's budget in US dollars, e.g. 500")
    alert_percents: list[int] = Field(default_factory=lambda: [80, 90, 100], min_length=1, max_length=10,
                                      description="alert when the month's actual cost passes each of these percentages of the budget")

    @model_validator(mode="after")
    def _rules(self):
        issues = [Issue("S211", ("alert_percents", i), "a percentage of the budget is 1 to 1000")
                  for i, p in enumerate(self.alert_percents) if not 1 <= p <= 1000]
        if len(set(self.alert_percents)) != len(self.alert_percents):
            issues.append(Issue("S211", ("alert_percents",), "each percentage may be listed once"))
        raise_issues(issues)
        return self


class Alarms(StrictModel):
    email: list[str] = Field(default_factory=list, description="addresses subscribed to the alarm topic (each must confirm)")
    dashboard: bool = Field(True, description="a CloudWatch dashboard of the functions, REST API and database in the primary region")
    budget: Budget | None = Field(None, description="a monthly cost budget alerting the alarm topic (kept in the primary region's alarms stack)")

    @model_validator(mode="after")
    def _rules(self):
        issues = [Issue("S211", ("email", i), f'"{addr}" is not an email address')
                  for i, addr in enumerate(self.email) if not _EMAIL.fullmatch(addr)]
        if len(set(self.email)) != len(self.email):
            issues.append(Issue("S211", ("email",), "each address may be listed once"))
        raise_issues(issues)
        return self
