"""Reading compiled templates: the logical IDs a value refers to, and fields read safely whatever shape a hand-edited
template gives them. One place for it: plan's review, the audit report and its posture tables all read templates."""

from __future__ import annotations

import re
from typing import Any, Iterator


def names(value: Any) -> set[str]:
    """Logical ids a template value reads (Ref, GetAtt in either form, ${X} and ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, v in value.items():
            if key == "Ref" and isinstance(v, str):
                found.add(v)
            elif key == "Fn::GetAtt":
                found.add(str((v if isinstance(v, list) else str(v).split("."))[0]))
            elif key == "Fn::Sub":
                text = v[0] if isinstance(v, list) and v else v
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text))}
                found |= names(v[1]) if isinstance(v, list) and len(v) > 1 else set()
            else:
                found |= names(v)
    elif isinstance(value, list):
        for v in value:
            found |= names(v)
    return found


def walk(value: Any) -> Iterator[dict]:
    """Every mapping inside a template value, outermost first."""
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def as_dict(value: Any) -> dict:
    """A mapping field, or {} when the template gives something else there (an Fn::If, a string, null)."""
    return value if isinstance(value, dict) and not any(str(k).startswith("Fn::") for k in value) else {}


def as_list(value: Any) -> list:
    """A list field's mappings, or [] when the template gives something else there."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
