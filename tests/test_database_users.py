"""out/<env>/database-users.sql runs on a real PostgreSQL 15 (the engine version of the reference spec), twice, and
leaves each function's user able to log in, a member of rds_iam and allowed to connect, and the master user untouched.
A local server is started for the test where the machine has PostgreSQL's binaries (RDS provides rds_iam; here the
test creates it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from compiler.dbusers import DATABASE_USERS

BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def postgres():
    if not (BIN / "initdb").exists() or not shutil.which("psql"):
        pytest.skip("PostgreSQL 15 binaries are not on this machine")
    root = Path(tempfile.mkdtemp(prefix="archc-pg-"))  # not under pytest's root-only folder: the server runs as postgres
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(run_as + [str(BIN / "initdb"), "-D", str(data), "-U", "app_admin", "--auth=trust"], check=True, capture_output=True)
    subprocess.run(run_as + [str(BIN / "pg_ctl"), "-D", str(data), "-w", "-o", f"-k {sock} -c listen_addresses='' -p 54329",
                             "-l", str(root / "log"), "start"], check=True, capture_output=True)
    try:
        yield lambda sql, db="postgres": subprocess.run(
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-h", str(sock), "-p", "54329", "-U", "app_admin", "-d", db, "-c", sql]
            if not sql.endswith(".sql") else
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-h", str(sock), "-p", "54329", "-U", "app_admin", "-d", db, "-f", sql],
            check=True, capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run(run_as + [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_the_users_script_creates_each_functions_own_iam_user_and_can_run_again(postgres, compiled):
    script = str(compiled["out"] / "prod" / DATABASE_USERS)  # psql reads it as this process's user
    postgres("CREATE DATABASE app")
    postgres("CREATE ROLE rds_iam")  # RDS has it
    postgres(script, "app")
    postgres(script, "app")  # idempotent
    rows = postgres("SELECT r.rolname, r.rolcanlogin, pg_has_role(r.rolname, 'rds_iam', 'member'), "
                    "has_database_privilege(r.rolname, 'app', 'CONNECT') FROM pg_roles r WHERE r.rolname LIKE 'fn\\_%' ORDER BY 1")
    assert rows.splitlines() == ["fn_api|t|t|t", "fn_processor|t|t|t"]  # the functions with `uses: {database: connect}`
    assert postgres("SELECT pg_has_role('app_admin', 'rds_iam', 'member')") == "t"  # superuser: member of all, but no grant:
    assert postgres("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'app_admin'") == "0"
