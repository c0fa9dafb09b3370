"""Reads arch.yaml into located trees, refuses duplicate keys and merges `environments:` overlays.

Merge rule for an overlay onto the base (documented in the README):
- mappings merge key by key, recursively;
- lists and scalars replace the base value whole;
- `null` removes the key (a whole section) from the base.
A spec without `environments:` has one environment, `default`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, SpecError, dotted
from .naming import DEFAULT_ENV

OVERLAY_KEY = "environments"


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class Node:
    """A YAML value with where it was written; mappings keep where each key was written."""

    value: Any  # dict[str, Node] | list[Node] | scalar
    mark: Mark
    key_marks: dict[str, Mark] | None = None

    def plain(self) -> Any:
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Positions:
    """Where every value (and every mapping key) of a merged document was written."""

    values: dict[Path_, Mark]
    keys: dict[Path_, Mark]

    def of(self, path: Path_, *, key: bool = False) -> Mark:
        """The closest known position: the key itself when asked, else the value, else a parent."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return Mark(1, 1)
            path = path[:-1]
            key = False


@dataclass(frozen=True)
class Document:
    file: str
    sha256: str
    root: Node
    problems: tuple[Diagnostic, ...] = ()  # duplicate keys, YAML tags: reported with the validation errors

    @property
    def environments(self) -> list[str]:
        envs = self.root.value.get(OVERLAY_KEY) if isinstance(self.root.value, dict) else None
        if envs is None:
            return [DEFAULT_ENV]
        if not isinstance(envs.value, dict):
            return []
        return list(envs.value)

    def for_env(self, env: str) -> tuple[dict[str, Any], Positions]:
        """The base with the environment's overlay merged on, as plain data plus positions."""
        base = {k: v for k, v in self.root.value.items() if k != OVERLAY_KEY}
        base_node = Node(base, self.root.mark, {k: m for k, m in (self.root.key_marks or {}).items() if k != OVERLAY_KEY})
        envs = self.root.value.get(OVERLAY_KEY)
        overlay = envs.value.get(env) if envs is not None else None
        merged = merge(base_node, overlay) if overlay is not None and overlay.value is not None else base_node
        values: dict[Path_, Mark] = {}
        keys: dict[Path_, Mark] = {}
        _collect(merged, (), values, keys)
        return merged.plain(), Positions(values, keys)


def merge(base: Node, overlay: Node) -> Node:
    if not (isinstance(base.value, dict) and isinstance(overlay.value, dict)):
        return overlay
    value = dict(base.value)
    key_marks = dict(base.key_marks or {})
    for k, v in overlay.value.items():
        if v.value is None:
            value.pop(k, None)
            key_marks.pop(k, None)
        elif k in value:
            merged = merge(value[k], v)
            if merged is not value[k] and merged is v:
                key_marks[k] = (overlay.key_marks or {})[k]  # replaced: the overlay's key is where it lives now
            value[k] = merged
        else:
            value[k] = v
            key_marks[k] = (overlay.key_marks or {})[k]
    return Node(value, base.mark, key_marks)


def _collect(node: Node, path: Path_, values: dict, keys: dict) -> None:
    values[path] = node.mark
    if isinstance(node.value, dict):
        for k, child in node.value.items():
            keys[path + (k,)] = (node.key_marks or {})[k]
            _collect(child, path + (k,), values, keys)
    elif isinstance(node.value, list):
        for i, child in enumerate(node.value):
            _collect(child, path + (i,), values, keys)


def _mark(m: yaml.Mark) -> Mark:
    return Mark(m.line + 1, m.column + 1)


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.errors: list[Diagnostic] = []

    def build(self, node: yaml.Node, path: tuple = ()) -> Node:
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # resolves `<<` merge keys
            value: dict[str, Node] = {}
            key_marks: dict[str, Mark] = {}
            for key_node, value_node in node.value:
                # Every key in arch.yaml is a name, written as text: `on:` is the key "on", not YAML 1.1's True.
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value
                else:
                    key = str(self.constructor.construct_object(key_node, deep=True))
                km = _mark(key_node.start_mark)
                if key in value:
                    first = key_marks[key]
                    self.errors.append(Diagnostic(
                        self.file, km.line, km.col, "S101", dotted(path + (key,)),
                        f'duplicate key "{key}" (first written at line {first.line}); YAML would silently keep only the last one, remove one of them'))
                    continue
                key_marks[key] = km
                value[key] = self.build(value_node, path + (key,))
            return Node(value, _mark(node.start_mark), key_marks)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.build(n, path + (i,)) for i, n in enumerate(node.value)], _mark(node.start_mark))
        try:
            return Node(self.constructor.construct_object(node, deep=True), _mark(node.start_mark))
        except yaml.constructor.ConstructorError:
            m = _mark(node.start_mark)
            self.errors.append(Diagnostic(self.file, m.line, m.col, "S100", dotted(path),
                                          f"YAML tags such as {node.tag} are not supported: arch.yaml is plain data "
                                          "(archc writes !Ref, !Sub and friends itself)"))
            return Node(None, m)


def load_text(text: str, file: str = "arch.yaml") -> Document:
    sha = hashlib.sha256(text.encode()).hexdigest()
    try:
        tree = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        line, col = (m.line + 1, m.column + 1) if m else (1, 1)
        raise SpecError([Diagnostic(file, line, col, "S100", "(document)", f"{e.problem or e}; fix the YAML syntax")]) from None
    except yaml.YAMLError as e:
        raise SpecError([Diagnostic(file, 1, 1, "S100", "(document)", str(e))]) from None
    if tree is None or not isinstance(tree, yaml.MappingNode):
        line = tree.start_mark.line + 1 if tree is not None else 1
        raise SpecError([Diagnostic(file, line, 1, "S104", "(document)", "the spec must be a mapping with at least `app` and `regions`")])
    builder = _Builder(file)
    root = builder.build(tree)
    doc = Document(file, sha, root, tuple(builder.errors))
    _check_overlays(doc)
    return doc


def _check_overlays(doc: Document) -> None:
    envs = doc.root.value.get(OVERLAY_KEY)
    where = (doc.root.key_marks or {}).get(OVERLAY_KEY, Mark(1, 1))
    if envs is None:
        return
    if not isinstance(envs.value, dict) or not envs.value:
        raise SpecError([Diagnostic(doc.file, where.line, where.col, "S104", OVERLAY_KEY,
                                    "`environments:` must map environment names to overlays, e.g. `dev: {}`")])
    errors = []
    for name, overlay in envs.value.items():
        m = envs.key_marks[name]
        if not (isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9]{0,9}", name)):
            errors.append(Diagnostic(doc.file, m.line, m.col, "S209", f"{OVERLAY_KEY}.{name}",
                                     "environment names are lowercase letters and digits, at most 10 characters (they become part of stack and resource names)"))
        if overlay.value is not None and not isinstance(overlay.value, dict):
            errors.append(Diagnostic(doc.file, overlay.mark.line, overlay.mark.col, "S104", f"{OVERLAY_KEY}.{name}",
                                     "an overlay is a mapping of sections to merge onto the base (or empty)"))
    if errors:
        raise SpecError(errors)


def load(path: str | Path) -> Document:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Diagnostic(str(path), 1, 1, "S100", "(file)", f"no such file: {path}; pass the spec path or run in a folder with arch.yaml")]) from None
    except UnicodeDecodeError as e:
        raise SpecError([Diagnostic(str(path), 1, 1, "S100", "(file)", f"not UTF-8 text: {e.reason}")]) from None
    return load_text(text, p.name if p.parent == Path(".") else str(path))
