"""A text file of the user's, read so that it can be written back exactly as it was.

Cargo accepts a manifest with a UTF-8 byte-order mark and with CRLF line endings; tomlkit
accepts neither the mark nor a mix of endings well. So we edit the text without the mark and
with LF endings, and put both back on the way out: every byte we do not own stays as it was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from patcher.errors import ProjectError

BOM = b"\xef\xbb\xbf"


@dataclasses.dataclass(frozen=True)
class TextFile:
    path: Path
    raw: bytes
    text: str  # without the byte-order mark; LF endings if the file used CRLF throughout
    bom: bool
    crlf: bool

    def encode(self, text: str) -> bytes:
        """Bytes for `text` (LF endings) in this file's own conventions."""
        if self.crlf:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        return (BOM if self.bom else b"") + text.encode("utf-8")

    def parse(self) -> tomlkit.TOMLDocument:
        return parse_toml(self.text, self.path)


def decode(path: Path, raw: bytes) -> TextFile:
    bom = raw.startswith(BOM)
    body = raw[len(BOM) :] if bom else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(
            f"{path} is not UTF-8 text (byte {exc.start})", hint=f"save {path.name} as UTF-8"
        ) from exc
    # Only a file that ends every line with CRLF is edited as CRLF; a mixed file keeps its
    # mix, and the lines we add end in LF.
    lf_count = text.count("\n")
    crlf = lf_count > 0 and text.count("\r\n") == lf_count
    if crlf:
        text = text.replace("\r\n", "\n")
    return TextFile(path, raw, text, bom, crlf)


def read(path: Path) -> TextFile:
    try:
        raw = path.read_bytes()
    except IsADirectoryError as exc:
        raise ProjectError(
            f"{path} is a directory, not a file", hint="move the folder out of the way"
        ) from exc
    except OSError as exc:
        raise ProjectError(
            f"cannot read {path}: {exc.strerror}", hint="check that the file exists and is readable"
        ) from exc
    return decode(path, raw)


def parse_toml(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except (TOMLKitError, ValueError, TypeError) as exc:
        raise ProjectError(
            f"{path} is not valid TOML: {exc}", hint=f"fix the syntax error in {path.name}"
        ) from exc


def read_toml(path: Path) -> tomlkit.TOMLDocument:
    return read(path).parse()
