"""The `alarms:` section: who is told when an alarm fires."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


class Alarms(StrictModel):
    email: list[str] = Field(default_factory=list, description="addresses subscribed to the alarm topic (each must confirm)")
    dashboard: bool = Field(True, description="a CloudWatch dashboard of the functions, REST API and database in the primary region")

    @model_validator(mode="after")
    def _rules(self):
        issues = [Issue("S211", ("email", i), f'"{addr}" is not an email address')
                  for i, addr in enumerate(self.email) if not _EMAIL.fullmatch(addr)]
        if len(set(self.email)) != len(self.email):
            issues.append(Issue("S211", ("email",), "each address may be listed once"))
        raise_issues(issues)
        return self
