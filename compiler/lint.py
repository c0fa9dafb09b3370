"""`archc lint`: cfn-lint on compiled templates, each with its own region, two workers, skipping hashes already clean."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .manifest import LINTED, compiled
from .manifest import read as read_manifest

CACHE = ".lint-cache.json"

# Checks switched off for every template, each with its reason. Nothing else is ignored anywhere.
IGNORED_CHECKS: dict[str, str] = {}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    level: str  # error | warning | informational
    rule: str
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    linted: int = 0
    cached: int = 0

    @property
    def errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.level == "warning" for f in self.findings)

    def as_dict(self) -> dict:
        return {"findings": [asdict(f) for f in self.findings], "linted": self.linted, "cached": self.cached,
                "errors": self.errors, "warnings": self.warnings}


# archc's own policy rules (compiler/policy), loaded by cfn-lint beside its own.
POLICY_RULES = str(Path(__file__).resolve().parent / "policy")


def lint_template(path: str, region: str) -> list[Finding]:
    """cfn-lint one template file (runs in a worker process)."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(Path(path), config=ManualArgs(regions=[region], ignore_checks=sorted(IGNORED_CHECKS), append_rules=[POLICY_RULES]))
    return [Finding(path, m.linenumber, m.columnnumber, _level(m.rule.severity), m.rule.id, m.message) for m in matches]


def _level(severity: str) -> str:
    return {"error": "error", "warning": "warning"}.get(severity.lower(), "informational")


def _cache_key(sha: str, region: str) -> str:
    import cfnlint.version

    rules = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(Path(POLICY_RULES).glob("*.py")))).hexdigest()[:12]
    return f"{sha}:{region}:{cfnlint.version.__version__}:{rules}:{','.join(sorted(IGNORED_CHECKS))}"


def lint_envs(out_dir: Path, envs: list[str] | None, workers: int = 2) -> Report:
    if envs is None:
        envs = compiled(out_dir)
    names = envs
    jobs = []
    for env in names:
        man = read_manifest(out_dir, env)
        for t in man.templates:
            path = out_dir / env / t.path
            # Hash what is on disk, not what the manifest says: an edited file is linted again.
            jobs.append((str(path), t.region, hashlib.sha256(path.read_bytes()).hexdigest()))
    cache_path = out_dir / CACHE
    try:
        clean = set(json.loads(cache_path.read_text()))
    except (FileNotFoundError, ValueError):
        clean = set()
    report = Report()
    todo = []
    for path, region, sha in jobs:
        if _cache_key(sha, region) in clean:
            report.cached += 1
        else:
            todo.append((path, region, sha))
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            results = list(pool.map(lint_template, [p for p, _, _ in todo], [r for _, r, _ in todo]))
        for (path, region, sha), findings in zip(todo, results):
            report.linted += 1
            report.findings.extend(findings)
            if not any(f.level == "error" for f in findings) and not any(f.level == "warning" for f in findings):
                clean.add(_cache_key(sha, region))
    if out_dir.exists():
        cache_path.write_text(json.dumps(sorted(clean), indent=1) + "\n")
    report.findings.sort(key=lambda f: (f.path, f.line, f.column, f.rule))
    for env in names:  # the audit report reads what was linted, and what was found, per environment
        env_dir = out_dir / env
        linted = {str(Path(path).relative_to(env_dir)): sha for path, _, sha in jobs if Path(path).is_relative_to(env_dir)}
        found = [asdict(f) for f in report.findings if Path(f.path).is_relative_to(env_dir)]
        (env_dir / LINTED).write_text(json.dumps({"templates": linted, "findings": found}, indent=1, sort_keys=True) + "\n")
    return report
