"""Lambda code assets: each function's folder zipped reproducibly and named by its sha256 (I/O, outside the pure compile)."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic
from .loader import Positions
from .spec import Spec

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: no clock in the bytes
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".git", "node_modules/.cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Asset:
    function: str
    source: str  # the folder as written in the spec
    body: bytes

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


def package(spec: Spec, env: str, base: Path, file: str, positions: Positions,
            root: Path = HANDLERS_ROOT) -> tuple[dict[str, Asset], list[Diagnostic]]:
    """Zip every function that has a `code` folder; a missing folder is a located diagnostic."""
    assets: dict[str, Asset] = {}
    errors: list[Diagnostic] = []
    for name, fn in spec.functions.items():
        if fn.code is None:
            continue
        folder = (base / fn.code).resolve()
        if not folder.is_dir() or not any(folder.iterdir()):
            mark = positions.of(("functions", name, "code"))
            errors.append(Diagnostic(file, mark.line, mark.col, "S222", f"functions.{name}.code",
                                     f'no code folder "{fn.code}" (looked in {folder}); give a folder relative to the spec'))
            continue
        assets[name] = Asset(name, fn.code, zip_folder(folder))
    edge = edge_package(spec, env, root)
    if edge is not None:
        assets[edge.function] = edge
    return assets, errors


def edge_package(spec: Spec, env: str, root: Path = HANDLERS_ROOT) -> Asset | None:
    """The Lambda@Edge package: archc's edge handlers plus the config.json compiled from the spec."""
    from blueprints.edge import EDGE_ASSET, code_config

    if spec.cdn is None:
        return None
    config = code_config(spec, env)
    if config is None:
        return None
    body = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    return Asset(EDGE_ASSET, "handlers/edge", zip_folder(root / "edge", {"config.json": body}))
