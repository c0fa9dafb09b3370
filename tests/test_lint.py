"""Every compiled template of every environment passes cfn-lint with its own region."""


def test_every_template_linted(lint_report, templates):
    assert lint_report.linted == len(templates)


def test_no_lint_errors(lint_report):
    errors = [f for f in lint_report.findings if f.level == "error"]
    assert errors == []


def test_no_lint_warnings(lint_report):
    # No warning is ignored anywhere (compiler.lint.IGNORED_CHECKS is empty), so none may appear.
    warnings = [f for f in lint_report.findings if f.level == "warning"]
    assert warnings == []


def test_clean_hashes_are_skipped_next_time(compiled, lint_report):
    from compiler.lint import lint_envs

    again = lint_envs(compiled["out"], ["dev"], workers=2)
    assert again.linted == 0 and again.cached == len(compiled["manifests"]["dev"]["templates"])
