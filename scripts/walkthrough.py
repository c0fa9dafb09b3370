#!/usr/bin/env python3
"""Run the README's deploy walkthrough as written, against a local moto server, and check every exit code it states.

Usage: .venv/bin/python scripts/walkthrough.py [--write docs/deploy-walkthrough.md]
The block under "## Plan and deploy, step by step" is read from README.md: its first command line (the moto server) is
started on a free port, `export` lines set the environment, every other line runs in bash, in a scratch directory that
sees the repository's examples/ (so out/walk is the scratch one), with `.venv/bin/` meaning this interpreter's bin
directory. A line ending in `# exit N` must exit N. --write saves the transcript (each command with its output) as
Markdown. Exit 0 when every command did what the README says, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Plan and deploy, step by step"
ENDPOINT = "http://127.0.0.1:5000"


def block(readme: str) -> list[str]:
    """The lines of the first ```sh block after the walkthrough heading."""
    after = readme[readme.index(HEADING):]
    body = after[after.index("```sh\n") + 6:]
    return body[:body.index("```")].splitlines()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the moto server exited ({server.returncode}): see its log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the moto server did not start within 60 s")


def run(lines: list[str]) -> tuple[bool, list[str]]:
    """Run the walkthrough; (every exit code as stated, the transcript as Markdown lines)."""
    bindir = str(Path(sys.executable).parent) + "/"
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"AWS_EC2_METADATA_DISABLED": "true",
                                                                              "AWS_CONFIG_FILE": "/nonexistent",
                                                                              "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                                                              "COLUMNS": "100", "NO_COLOR": "1"}
    server_line = next(x for x in lines if x.strip() and not x.lstrip().startswith("#"))  # the first command: the server
    ok, transcript = True, []
    with tempfile.TemporaryDirectory(prefix="archc-walk-") as tmp:
        (Path(tmp) / "examples").symlink_to(ROOT / "examples")
        argv = [a.replace(".venv/bin/", bindir) for a in shlex.split(server_line)]
        argv[argv.index("--port") + 1] = str(port)
        log = open(Path(tmp) / "moto.log", "w")  # the server's own log: a file, so a full pipe never blocks it
        server = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            _wait(port, server)
            transcript += ["```sh", f"$ {server_line}", server.stdout.readline().rstrip(), "```", ""]
            comments: list[str] = []
            for line in lines[lines.index(server_line) + 1:]:
                if not line.strip():
                    continue
                if line.lstrip().startswith("#"):
                    comments.append(line.lstrip("# ").rstrip())
                    continue
                if comments:
                    transcript += [" ".join(comments), ""]
                    comments = []
                if line.startswith("export "):
                    for pair in shlex.split(line)[1:]:
                        key, _, value = pair.partition("=")
                        env[key] = value
                    transcript += ["```sh", f"$ {line}", "```", ""]
                    continue
                m = re.search(r"#\s*exit (\d+)\s*$", line)
                command = line.replace(".venv/bin/", bindir).replace(ENDPOINT, endpoint)
                r = subprocess.run(["bash", "-c", command], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=600)
                wanted = int(m.group(1)) if m else 0
                good = r.returncode == wanted
                ok &= good
                output = r.stdout.replace(endpoint, ENDPOINT).replace(bindir, ".venv/bin/").replace(tmp + "/", "")
                transcript += ["```sh", f"$ {line.split('#')[0].rstrip()}", *output.rstrip().splitlines(),
                               f"[exit {r.returncode}{'' if good else f', the README says {wanted}'}]", "```", ""]
                print(f"{'ok ' if good else 'BAD'} exit {r.returncode} (README: {wanted}): {line.split('#')[0].strip()}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return ok, transcript


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", type=Path, help="save the transcript (Markdown) here")
    args = p.parse_args()
    ok, transcript = run(block((ROOT / "README.md").read_text()))
    if args.write:
        head = ["# The deploy walkthrough, as it ran", "",
                "The README's walkthrough (\"Plan and deploy, step by step\"), run by `scripts/walkthrough.py --write "
                "docs/deploy-walkthrough.md` against a local moto server: every command with its output and exit code. "
                "Change set names carry the time of the run.", ""]
        args.write.write_text("\n".join(head + transcript).rstrip() + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
