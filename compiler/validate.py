"""Validates each environment's merged spec and maps every pydantic error back to its YAML line and column."""

from __future__ import annotations

import copy
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic, SpecError, did_you_mean, dotted, merge_envs
from .loader import Document, Positions
from .manifest import Weakened
from .spec import Spec
from .spec.base import RULES_ERROR

_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"}
_LENGTH = {"too_short", "too_long", "string_too_short", "string_too_long"}
_CODE = re.compile(r"[SWC]\d{3}")


@dataclass(frozen=True)
class Validated:
    document: Document
    specs: dict[str, Spec]
    warnings: list[Diagnostic]


def validate(document: Document, envs: list[str] | None = None) -> Validated:
    """Validate the chosen environments (all by default); raise SpecError with every mistake at once."""
    names = document.environments
    if envs is not None:
        unknown = [e for e in envs if e not in names]
        if unknown:
            raise SpecError([Diagnostic(document.file, 1, 1, "S110", "environments",
                                        f'no environment "{e}"{did_you_mean(e, names)}; this spec has {", ".join(names)}') for e in unknown])
        names = [e for e in names if e in envs]
    errors: dict[str, list[Diagnostic]] = {}
    warnings: dict[str, list[Diagnostic]] = {}
    specs: dict[str, Spec] = {}
    for env in names:
        data, positions = document.for_env(env)
        found = _validate_all(document.file, data, positions)
        if isinstance(found, list):
            errors[env] = found
            continue
        spec = found
        too_long = _name_lengths(document.file, spec, env, positions)
        if too_long:
            errors[env] = too_long
            continue
        specs[env] = spec
        warnings[env] = [_weakened(document.file, w) for w in weakened_entries(positions, spec)]
        for path, message in spec.deprecations():
            mark = positions.of(tuple(path.split(".")))
            warnings[env].append(Diagnostic(document.file, mark.line, mark.col, "W302", path, message))
    if specs and not errors and len(specs) == len(document.environments):
        # A waiver may excuse another environment: judge waivers only when every environment is validated.
        errors.update(_stale_waivers(document, specs))
    merged_warnings = merge_envs({e: warnings.get(e, []) for e in names}) if warnings else []
    if errors or document.problems:
        # Loader problems (duplicate keys, YAML tags) come with everything else; a value they blanked out
        # is not reported a second time.
        taken = {(p.line, p.col) for p in document.problems}
        found = [d for d in merge_envs({e: errors.get(e, []) for e in names}) if (d.line, d.col) not in taken]
        raise SpecError(list(document.problems) + found, merged_warnings)
    return Validated(document, specs, merged_warnings)


MAX_PASSES = 6


def _validate_all(file: str, data: dict, positions: Positions) -> Spec | list[Diagnostic]:
    """Validate, and keep validating with the broken values taken out so that cross-field rules of models
    that had a bad field still run: every mistake at once, not one round per fix. A rule reported in a
    later pass is kept only when the value it points at was not itself taken out."""
    diagnostics: list[Diagnostic] = []
    removed: list[tuple] = []
    data = copy.deepcopy(data)
    for attempt in range(MAX_PASSES):
        try:
            spec = Spec.model_validate(data)
        except ValidationError as e:
            progress = False
            for err in e.errors():
                is_rule = err["type"] == RULES_ERROR or _CODE.fullmatch(err["type"])
                # In a later pass a schema error is a consequence of a value taken out, not a mistake of its own
                # (it is taken out too, without a report); so is a rule about a value taken out or its model.
                if not attempt or is_rule:
                    found = _diagnostics(file, err, positions)
                    at = _clean(err["loc"])[0]
                    reads = [[at + p for p in i.reads] for i in err["ctx"]["issues"]] if err["type"] == RULES_ERROR else [()] * len(found)
                    # A rule is also a consequence when a part it read was taken out (it judged what was left).
                    diagnostics.extend(d for d, read in zip(found, reads) if not any(
                        _under(d.path, r) or _above(d.path, r) or any(_under(dotted(p), r) or _above(dotted(p), r) for p in read)
                        for r in removed))
                # Take the offending values out so the models around them validate and their rules run too.
                # A rule about a whole mapping (no field) leaves it in: removing it would invent new mistakes.
                base = _clean(err["loc"])[0]
                targets = [base + i.at for i in err["ctx"]["issues"] if i.at] if err["type"] == RULES_ERROR else [base]
                for target in targets:
                    # A value already taken out (a missing key, in a later pass): take out what held it.
                    gone = _remove(data, target) or (attempt and not is_rule and _remove(data, target[:-1]))
                    if gone:
                        removed.append(gone)
                        progress = True
            if not progress:
                break
        else:
            return sorted(set(diagnostics)) if diagnostics else spec
    return sorted(set(diagnostics))


def _name_lengths(file: str, spec: Spec, env: str, positions: Positions) -> list[Diagnostic]:
    """S3 bucket names (archc builds them from app, environment, name and region) must fit 63 characters."""
    from .naming import bucket_name

    out = []
    for name in spec.buckets:
        longest = max((bucket_name(spec.app, env, name, r) for r in spec.regions.all), key=len)
        if len(longest) > 63:
            mark = positions.of(("buckets", name), key=True)
            out.append(Diagnostic(file, mark.line, mark.col, "S209", f"buckets.{name}",
                                  f'the S3 name "{longest}" is {len(longest)} characters; S3 allows 63: shorten the bucket name'))
    return out


def _under(shown: str, path: tuple) -> bool:
    prefix = dotted(path)
    return shown == prefix or shown.startswith(prefix + ".") or shown.startswith(prefix + "[")


def _above(shown: str, path: tuple) -> bool:
    full = dotted(path)
    return full.startswith(shown + ".") or full.startswith(shown + "[")


def _remove(data: Any, path: tuple) -> tuple | None:
    """Take the value at a (clean) path out of the data (the key, for a bad key; the whole list, for a bad
    item, so that indexes stay meaningful). Returns the path taken out, or None."""
    while path and isinstance(path[-1], int):
        path = path[:-1]
    if not path:
        return None
    parent = data
    for seg in path[:-1]:
        try:
            parent = parent[seg]
        except (KeyError, IndexError, TypeError):
            return None
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return path
    return None


def _stale_waivers(document: Document, specs: dict[str, Spec]) -> dict[str, list[Diagnostic]]:
    """A waiver must excuse something that some environment actually weakens (reported once, for the file)."""
    weakened = {path for spec in specs.values() for path, _ in spec.weakened()}
    env = next(iter(specs))
    _, positions = document.for_env(env)
    out = []
    for path in specs[env].waivers:
        if path not in weakened:
            mark = positions.of(("waivers", path), key=True)
            out.append(Diagnostic(document.file, mark.line, mark.col, "S105", f"waivers.{path}",
                                  f'no environment weakens "{path}"{did_you_mean(path, weakened)}; remove or correct this waiver'))
    return {e: out for e in specs} if out else {}


def weakened_entries(positions: Positions, spec: Spec) -> list[Weakened]:
    """Each default the spec weakens, why it matters, its waiver and where it is written (warnings; the manifest)."""
    out = []
    for path, why in spec.weakened():
        mark = positions.of(tuple(path.split(".")))
        out.append(Weakened(path, why, spec.waivers.get(path), mark.line, mark.col))
    return out


def _weakened(file: str, w: Weakened) -> Diagnostic:
    tail = f' (waived: "{w.waiver}")' if w.waiver else f'; if this is intended, say why under `waivers: {{{w.path}: "..."}}`'
    return Diagnostic(file, w.line, w.col, "W301", w.path, w.why + tail, waived=bool(w.waiver))


def _diagnostics(file: str, err: dict[str, Any], positions: Positions) -> list[Diagnostic]:
    path, allowed = _clean(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == RULES_ERROR:
        out = []
        for issue in ctx["issues"]:
            full = path + issue.at
            mark = positions.of(full, key=not issue.at)  # a rule about a whole mapping points at its key
            out.append(Diagnostic(file, mark.line, mark.col, issue.code, dotted(full), issue.message))
        return out
    if "[key]" in err["loc"]:
        mark = positions.of(path, key=True)
        return [Diagnostic(file, mark.line, mark.col, "S107" if kind == "string_pattern_mismatch" else "S104",
                           dotted(path), f'the key "{path[-1]}" is not allowed here: {_msg(err)}')]
    if kind == "extra_forbidden":
        mark = positions.of(path, key=True)
        key = str(path[-1])
        hint = did_you_mean(key, allowed or ())
        listing = f"; allowed keys: {', '.join(sorted(allowed))}" if allowed and not hint else ""
        return [Diagnostic(file, mark.line, mark.col, "S102", dotted(path), f'unknown key "{key}"{hint}{listing}')]
    mark = positions.of(path)
    if kind == "missing":
        return [Diagnostic(file, mark.line, mark.col, "S103", dotted(path), f'missing required key "{path[-1]}"')]
    if _CODE.fullmatch(kind):
        return [Diagnostic(file, mark.line, mark.col, kind, dotted(path), err["msg"])]
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        # Strings come quoted ('a', 'b' or 'c'); numbers bare (0, 1 or 5).
        options = re.findall(r"'([^']*)'", expected) or re.findall(r"-?\d+(?:\.\d+)?", expected)
        value = str(err.get("input"))
        return [Diagnostic(file, mark.line, mark.col, "S105", dotted(path),
                           f'"{value}" is not allowed{did_you_mean(value, options)}; use one of {", ".join(options)}')]
    code = "S106" if kind in _RANGE else "S109" if kind in _LENGTH else "S107" if kind == "string_pattern_mismatch" else "S104"
    return [Diagnostic(file, mark.line, mark.col, code, dotted(path), _msg(err))]


def _msg(err: dict[str, Any]) -> str:
    msg = err["msg"]
    if err["type"] == "string_pattern_mismatch":
        msg = f"text must match {err['ctx']['pattern']}"
    return msg[:1].lower() + msg[1:]


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _clean(loc: tuple) -> tuple[tuple, set[str] | None]:
    """Drop pydantic's union-choice segments from an error location; return the keys allowed at its end."""
    tp: Any = Spec
    path: list = []
    allowed: set[str] | None = None
    items = list(loc)
    while items:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            choices = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(choices) == 1:
                tp = choices[0]
                continue
            seg = items.pop(0)
            tp = next((c for c in choices if getattr(_unwrap(c), "__name__", None) == seg), choices[0])
            continue
        seg = items.pop(0)
        if seg == "[key]":
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            allowed = set(tp.model_fields)
            field = tp.model_fields.get(seg)
            path.append(seg)
            tp = field.annotation if field else Any
            if field is None:  # an unknown key: report the keys this model allows
                break
            allowed = None
            continue
        path.append(seg)
        allowed = None
        if origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        else:
            tp = Any
    path.extend(s for s in items if s != "[key]")
    return tuple(path), allowed
