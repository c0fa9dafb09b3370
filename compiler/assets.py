"""Lambda code assets: each function's folder zipped reproducibly and named by its sha256 (I/O, outside the pure compile)."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic
from .emit import dumps
from .loader import Positions
from .facts import Facts, edge_config
from .spec import Spec

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: no clock in the bytes
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".git", "node_modules/.cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Asset:
    function: str
    source: str  # the folder as written in the spec
    body: bytes
    inline: bool = False  # a CloudFront Function's code goes into the template itself, not to S3

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def key(self) -> str:
        return f"assets/{self.sha256}.zip"

    @property
    def path(self) -> str:
        return f"assets/{self.sha256}.zip"


def zip_folder(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """Sorted entries, fixed timestamps, fixed permissions, stored uncompressed: the same files give the same
    bytes on any machine (deflate output depends on the zlib build; code packages are small)."""
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_dir() or any(part in SKIP_DIRS for part in rel.parts) or path.suffix in SKIP_SUFFIXES:
            continue
        files[rel.as_posix()] = path.read_bytes()
    files.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # unix, whatever machine builds it
            zf.writestr(info, files[name])
    return buf.getvalue()


HANDLERS_ROOT = Path(__file__).resolve().parent.parent / "handlers"  # archc's own handler code (edge)


def package(spec: Spec, env: str, base: Path, file: str, positions: Positions, facts: Facts | None = None,
            root: Path = HANDLERS_ROOT) -> tuple[dict[str, Asset], list[Diagnostic]]:
    """Zip every function and edge function that has a `code` folder (a missing folder is a located diagnostic),
    and archc's builtin edge handlers with each one's config.json."""
    from .facts import derive

    facts = facts or derive(spec, env)
    assets: dict[str, Asset] = {}
    errors: list[Diagnostic] = []

    def folder_of(path: tuple, code: str) -> Path | None:
        folder = (base / code).resolve()
        if folder.is_dir() and any(folder.iterdir()):
            return folder
        mark = positions.of(path)
        errors.append(Diagnostic(file, mark.line, mark.col, "S222", ".".join(map(str, path)),
                                 f'no code folder "{code}" (looked in {folder}); give a folder relative to the spec'))
        return None

    for name, fn in spec.functions.items():
        if fn.code is not None and (folder := folder_of(("functions", name, "code"), fn.code)):
            assets[name] = Asset(name, fn.code, zip_folder(folder))
    for edge in facts.edge_functions:
        fn = spec.cdn[edge.distribution].edge_functions[edge.name]
        if fn.builtin is not None:
            config = dumps(edge_config(spec, env, facts, edge))
            assets[edge.asset] = Asset(edge.asset, "handlers/edge", zip_folder(root / "edge", {"config.json": config}))
            continue
        folder = folder_of(("cdn", edge.distribution, "edge_functions", edge.name, "code"), fn.code)
        if folder is None:
            continue
        if fn.cloudfront_function:
            source = folder / (fn.handler.rsplit(".", 1)[0] + ".js")
            if not source.is_file():
                mark = positions.of(("cdn", edge.distribution, "edge_functions", edge.name, "handler"))
                errors.append(Diagnostic(file, mark.line, mark.col, "S222", f"cdn.{edge.distribution}.edge_functions.{edge.name}.handler",
                                         f"no {source.name} in {fn.code}: a CloudFront Function is one JavaScript file"))
                continue
            assets[edge.asset] = Asset(edge.asset, fn.code, source.read_bytes(), inline=True)
        else:
            assets[edge.asset] = Asset(edge.asset, fn.code, zip_folder(folder))
    return assets, errors
