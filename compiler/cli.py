"""The `archc` command line: validate, compile, lint, schema (and the deploy commands)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from . import __version__
from .diagnostics import EXIT_BAD_INPUT, ArchcError, Diagnostic, SpecError
from .manifest import Manifest
from .term import say, table

spec_option = click.option("--spec", "-f", "spec_path", default="arch.yaml", show_default=True,
                           type=click.Path(dir_okay=False, path_type=Path), help="the architecture spec")
out_option = click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
                          help="where templates and audit artifacts go")


verbose_option = click.option("--verbose", "-v", is_flag=True, help="print each waived weakened default in full")


def env_option(default: str = "all"):
    return click.option("--env", "-e", "env", default=default, show_default=True,
                        help="environment name, or `all`")


def _envs(env: str) -> list[str] | None:
    return None if env == "all" else [e.strip() for e in env.split(",") if e.strip()]


def _as_dict(d: Diagnostic) -> dict:
    return {"file": d.file, "line": d.line, "col": d.col, "code": d.code, "path": d.path, "message": d.message,
            "environments": list(d.envs), "text": d.render()}


@contextlib.contextmanager
def _json_errors(as_json: bool):
    """With --json, spec mistakes are printed as data on stdout (exit 2 all the same)."""
    try:
        yield
    except SpecError as e:
        if not as_json:
            raise
        click.echo(json.dumps({"ok": False, "errors": [_as_dict(d) for d in e.diagnostics],
                               "warnings": [_as_dict(d) for d in e.warnings]}, indent=2))
        sys.exit(e.exit_code)


def _print_diagnostics(diags: list[Diagnostic], verbose: bool = True) -> None:
    """Each diagnostic on its own line; weakened defaults already waived in the spec in one summary line unless verbose."""
    waived = [d for d in diags if d.waived and not verbose]
    for d in diags:
        if d not in waived:
            say(d.render(), "yellow" if d.is_warning else "red", err=True)
    if waived:
        places = ", ".join(f"{d.path} ({d.file}:{d.line})" for d in waived)
        say(f"{len(waived)} weakened default{'s' if len(waived) != 1 else ''}, waived: {places} (--verbose for each)", "yellow", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archc")
def cli() -> None:
    """archc compiles arch.yaml into CloudFormation templates and deploys them through reviewed change sets."""


@cli.command()
@spec_option
@env_option()
@click.option("--json", "as_json", is_flag=True, help="print the diagnostics as JSON")
@verbose_option
def validate(spec_path: Path, env: str, as_json: bool, verbose: bool) -> None:
    """Check the spec: every mistake at once, each with its line, column and code."""
    from .loader import load
    from .validate import validate as run

    with _json_errors(as_json):
        result = run(load(spec_path), _envs(env))
    if as_json:
        click.echo(json.dumps({"ok": True, "environments": list(result.specs), "errors": [],
                               "warnings": [_as_dict(d) for d in result.warnings]}, indent=2))
        return
    _print_diagnostics(result.warnings, verbose)
    say(f"{spec_path}: valid ({', '.join(result.specs)})")


@cli.command(name="compile")
@spec_option
@env_option()
@out_option
@click.option("--json", "as_json", is_flag=True, help="print the manifests as JSON")
@verbose_option
def compile_cmd(spec_path: Path, env: str, out_dir: Path, as_json: bool, verbose: bool) -> None:
    """Compile each environment into out/<env>/<region>/<stack>.json plus manifest.json."""
    from .build import build_all

    with _json_errors(as_json):
        result = build_all(spec_path, _envs(env), out_dir)
    _print_diagnostics(result.warnings, verbose)
    if as_json:
        click.echo(json.dumps({env: m.to_json() for env, m in result.manifests.items()}, indent=2))
        return
    say(f"archc {__version__}: {spec_path} -> {out_dir}/")
    for env_name, man in result.manifests.items():
        say(compile_table(man))
        if any(not t.inline for t in man.templates):
            say("S3: over 51,200 bytes, so deploy passes the template through the artifact bucket")


def compile_table(man: Manifest) -> str:
    """One environment's stacks in deploy order; a dependency is named by its concern, with its region when it
    is another one."""
    prefix = f"{man.app}-{man.environment}-"
    rows = []
    for t in man.templates:
        deps = []
        for d in t.dependencies:
            region, name = d.split("/", 1)
            deps.append(name.removeprefix(prefix) + ("" if region == t.region else f" ({region})"))
        rows.append((t.region, t.stack, str(t.resources), f"{t.bytes:,}" + ("" if t.inline else " S3"), ", ".join(deps) or "-"))
    head = f"{man.environment}: {len(rows)} stacks in {len({t.region for t in man.templates})} region(s)"
    return head + "\n" + table(("region", "stack", "resources", "bytes", "depends on"), rows, right=frozenset({2, 3}))


@cli.command()
@env_option()
@out_option
@click.option("--workers", default=2, show_default=True, help="cfn-lint worker processes")
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
def lint(env: str, out_dir: Path, workers: int, as_json: bool) -> None:
    """Run cfn-lint on the compiled templates, each with its own region; exit 1 on errors."""
    from .lint import lint_envs

    report = lint_envs(out_dir, _envs(env), workers=workers)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for f in report.findings:
            line = f"{f.path}:{f.line}:{f.column} {f.level[0].upper()} {f.rule} {f.message}"
            say(line, "red" if f.level == "error" else "yellow", err=True)
        say(f"linted {report.linted} template(s), {report.cached} unchanged since a clean lint; "
            f"{report.errors} error(s), {report.warnings} warning(s)")
    if report.errors:
        sys.exit(1)


@cli.command()
@env_option()
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="where the compiled templates are (the report goes beside them)")
def report(env: str, out_dir: Path) -> None:
    """Write out/<env>/report.html for the auditor: the architecture drawn from the compiled templates, stacks and deploy
    order, inventory, security posture, DR and the latest plan. One self-contained file; reads only out/."""
    from .report.html import write

    from .manifest import compiled

    names = _envs(env) or compiled(out_dir)
    for name in names:
        say(f"wrote {write(out_dir, name)}")


@cli.command()
@click.option("--env", "-e", "env", required=True, help="environment name (one)")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="where the compiled templates are")
@click.option("--format", "fmt", type=click.Choice(["svg", "mermaid", "dot"]), default="svg", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to a file instead of stdout")
def graph(env: str, out_dir: Path, fmt: str, output: Path | None) -> None:
    """The architecture diagram of one environment (the report's), drawn from the compiled templates, for docs and pull
    requests: SVG, Mermaid or Graphviz DOT."""
    from .report.model import architecture, read
    from .report.svg import svg
    from .report.text import dot, mermaid

    if env == "all" or "," in env:
        from .manifest import compiled

        raise ArchcError(f"graph draws one environment: --env NAME (compiled here: {', '.join(compiled(out_dir))})")
    from .report.html import safely

    environment = read(out_dir, env)
    arch = safely(f"the templates of {env}", lambda: architecture(environment))
    text = safely(f"the templates of {env}", {"svg": lambda: svg(arch, f"{arch.env.manifest.app} {env}"),
                                              "mermaid": lambda: mermaid(arch), "dot": lambda: dot(arch)}[fmt])
    if output:
        try:
            output.write_text(text)
        except OSError as e:
            raise ArchcError(f"could not write {output}: {e.strerror}") from None
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to a file instead of stdout")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of arch.yaml (editors use it for completion and checks)."""
    from .spec import spec_json_schema

    text = json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)


# --- deploy commands (diff, plan, deploy) are registered below this line ---
from .deploy.commands import deploy, destroy, diff, plan  # noqa: E402  (boto3 and cfn-lint load only inside these commands)

cli.add_command(diff)
cli.add_command(plan)
cli.add_command(deploy)
cli.add_command(destroy)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except SpecError as e:
        _print_diagnostics(e.diagnostics + e.warnings)
        say(f"{e}; nothing was written", "bold red", err=True)
        sys.exit(e.exit_code)
    except ArchcError as e:
        say(f"archc: {e}", "bold red", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        say("aborted", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
