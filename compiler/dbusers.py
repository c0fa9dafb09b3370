"""out/<env>/database-users.sql: the PostgreSQL users the functions sign in as (IAM database authentication), read from
the compiled templates' `rds-db:connect` grants. CloudFormation cannot create a user inside PostgreSQL; this script,
run once by the master user after the data stack's first deploy (and after a function gains `uses: {database:
connect}`), does. It is idempotent. Roles replicate with the database, so the DR copy has the same users."""

from __future__ import annotations

import json
import re

from .context import App
from .naming import FUNCTIONS, db_secret_name, resource_prefix
from .spec import Spec

DATABASE_USERS = "database-users.sql"
_USER = re.compile(r":dbuser:\$\{Id\}/([a-z_][a-z0-9_]*)")


def users(app: App) -> list[str]:
    """Every database user a function of the environment may connect as, in any region."""
    found: set[str] = set()
    for stack in app.stacks.values():
        if stack.concern == FUNCTIONS:
            found.update(_USER.findall(json.dumps(stack.template.to_dict())))
    return sorted(found)


def render(app: App, spec: Spec) -> str | None:
    names = users(app)
    if not names or spec.database is None:
        return None
    db = spec.database
    lines = [f"-- {app.app} {app.env}: the database users of the functions (IAM database authentication).",
             f"-- Run once as the master user ({db.master_username}) after the data stack's first deploy, and again after a",
             "-- function gains `uses: {database: connect}`; it changes nothing when the users exist:",
             f'--   psql "host=HOST port={db.port} dbname={db.database_name} user={db.master_username} sslmode=verify-full '
             f'sslrootcert=global-bundle.pem" -f {DATABASE_USERS}',
             "-- with HOST the data stack's DatabaseEndpoint output, global-bundle.pem AWS's RDS certificate bundle and the",
             f"-- password from the secret {db_secret_name(resource_prefix(app.app, app.env))}. Never grant rds_iam to the master user: PostgreSQL",
             "-- then accepts only IAM tokens for it, and the rotation's password stops working.",
             "-- Each user may connect; grant table privileges as your migrations create the tables, e.g.",
             "--   GRANT SELECT, INSERT, UPDATE ON orders TO fn_api;", ""]
    for user in names:
        lines += [
            "DO $$",
            "BEGIN",
            f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN",
            f"    CREATE ROLE {user} LOGIN;",
            "  END IF;",
            "END",
            "$$;",
            f"GRANT rds_iam TO {user};",
            f"GRANT CONNECT ON DATABASE {db.database_name} TO {user};",
            "",
        ]
    return "\n".join(lines)
