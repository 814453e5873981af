"""The patched backend wheel, written in this process from the published one.

`wheel unpack` + `wheel pack --local-version` cost two Python starts, decompressing the 27 MB
maturin binary and compressing it again (2.7 s of a warm `patcher env`, the most of it), and
gave a wheel whose bytes changed with every run (zip timestamps) and with the zlib at hand.
Here every member we do not change is copied as it is stored in the published wheel (its
compressed bytes, CRC and sizes; the published wheel has PyPI's sha256, so these bytes are
vouched for), renamed where the dist-info folder is renamed, and only the small files we
change are compressed anew, at fixed timestamps: the same published wheel and patch give the
same bytes every time, in a few tens of milliseconds.

What changes, as `wheel pack --local-version` changes it: the `.dist-info` folder takes the
local version, METADATA's `Version` line says it (kept in its place), the patched backend
files, and RECORD (the published RECORD's lines for the members copied, new lines for the
files changed). The file name is `<name>-<version>-<tags from WHEEL>.whl`, as wheel pack
names it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from patcher.errors import SourceError

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature .. extra length: 30 bytes
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # signature .. local header offset: 46 bytes
_END = struct.Struct("<4s4H2LH")  # end of central directory: 22 bytes
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_DIST_INFO = re.compile(r"^(?P<name>[^/]+?)-(?P<version>[^/-]+)\.dist-info/")


@dataclasses.dataclass(frozen=True)
class Published:
    """What the repack reads of a published wheel: its small text members, decoded once."""

    path: Path
    dist_info: str  # e.g. "maturin-1.16.0.dist-info"
    name: str
    version: str
    members: dict[str, bytes]  # the small members read (backend files, METADATA, WHEEL, RECORD)


def read_published(wheel: Path, wanted_prefix: str) -> Published:
    """The dist-info members and every `wanted_prefix*.py` member at the package's top."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            dist_infos = {m.group(0) for n in names if (m := _DIST_INFO.match(n))}
            if len(dist_infos) != 1:
                raise SourceError(
                    f"{wheel.name} has {len(dist_infos)} .dist-info folders, not one",
                    hint="patcher patches only PyPI's maturin wheel; check your index",
                )
            (dist_info,) = dist_infos
            match = _DIST_INFO.match(dist_info)
            assert match is not None
            wanted = [
                n
                for n in names
                if n in (f"{dist_info}METADATA", f"{dist_info}WHEEL", f"{dist_info}RECORD")
                or (
                    n.startswith(wanted_prefix)
                    and n.endswith(".py")
                    and "/" not in n[len(wanted_prefix) :]
                )
            ]
            members = {n: zf.read(n) for n in wanted}
    except (OSError, zipfile.BadZipFile) as exc:
        raise SourceError(
            f"{wheel.name} cannot be read as a wheel: {exc}", hint="run again (a damaged download)"
        ) from exc
    return Published(wheel, dist_info.rstrip("/"), match["name"], match["version"], members)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _with_version(metadata: bytes, old: str, new: str) -> bytes:
    """METADATA with its `Version:` header line saying `new` (one such line, in the header)."""
    head, sep, body = metadata.partition(b"\n\n")
    lines = head.split(b"\n")
    found = [i for i, line in enumerate(lines) if line.rstrip(b"\r") == f"Version: {old}".encode()]
    if len(found) != 1:
        raise SourceError(
            f"the published METADATA has {len(found)} `Version: {old}` lines, not one",
            hint="patcher patches only PyPI's maturin wheel; check your index",
        )
    end = lines[found[0]][len(f"Version: {old}") :]  # a "\r" stays
    lines[found[0]] = f"Version: {new}".encode() + end
    return b"\n".join(lines) + sep + body


def _tagline(wheel_file: bytes) -> str:
    """The tag part of the file name, from WHEEL's Tag lines, as `wheel pack` computes it."""
    tags = [
        line.split(":", 1)[1].strip()
        for line in wheel_file.decode("utf-8").splitlines()
        if line.startswith("Tag:")
    ]
    if not tags or any(tag.count("-") != 2 for tag in tags):
        raise SourceError(
            "the published WHEEL names no valid tags",
            hint="patcher patches only PyPI's maturin wheel; check your index",
        )
    parts = [sorted({tag.split("-")[i] for tag in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def tagline_of(published: Published) -> str:
    return _tagline(published.members[f"{published.dist_info}/WHEEL"])


def repack(published: Published, changed: Mapping[str, bytes], local: str, dest_dir: Path) -> Path:
    """Write the published wheel with the members `changed` (by their published names, each
    an existing member) replaced and the local version `local`, into `dest_dir`."""
    new_version = f"{published.version.split('+', 1)[0]}+{local}"
    new_dist_info = f"{published.name}-{new_version}.dist-info"
    old_prefix = published.dist_info + "/"
    metadata_name = f"{old_prefix}METADATA"
    record_name = f"{old_prefix}RECORD"
    replaced = dict(changed)
    replaced[metadata_name] = _with_version(
        published.members[metadata_name], published.version, new_version
    )
    record_lines = {
        line.split(",", 1)[0]: line
        for line in published.members[record_name].decode("utf-8").splitlines()
        if line.strip()
    }

    def renamed(name: str) -> str:
        return (
            new_dist_info + "/" + name[len(old_prefix) :] if name.startswith(old_prefix) else name
        )

    wheel_name = f"{published.name}-{new_version}-{tagline_of(published)}.whl"
    out = dest_dir / wheel_name
    central: list[bytes] = []
    record: list[str] = []
    with (
        zipfile.ZipFile(published.path) as zf,
        published.path.open("rb") as src,
        out.open("xb") as dst,
    ):
        infos = zf.infolist()
        unknown = set(changed) - {i.filename for i in infos}
        if unknown:
            raise SourceError(
                f"the published wheel has no {', '.join(sorted(unknown))}",
                hint="patcher patches only PyPI's maturin wheel; check your index",
            )
        for info in infos:
            if info.filename == record_name:
                continue  # written last, from what was written
            name = renamed(info.filename)
            if info.filename in replaced:
                data = replaced[info.filename]
                compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
                raw = compressor.compress(data) + compressor.flush()
                fields = (zipfile.ZIP_DEFLATED, zlib.crc32(data), len(raw), len(data))
                record.append(f"{name},{_record_hash(data)},{len(data)}")
                external = info.external_attr
            else:
                raw = _stored_bytes(src, info)
                fields = (info.compress_type, info.CRC, info.compress_size, info.file_size)
                line = record_lines.get(info.filename)
                if line is None or line.count(",") != 2:
                    raise SourceError(
                        f"the published RECORD does not list {info.filename}",
                        hint="patcher patches only PyPI's maturin wheel; check your index",
                    )
                record.append(name + line[len(info.filename) :])
                external = info.external_attr
            central.append(_write_member(dst, name, raw, fields, external))
        record.append(f"{new_dist_info}/RECORD,,")
        data = ("\n".join(record) + "\n").encode("utf-8")
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = compressor.compress(data) + compressor.flush()
        central.append(
            _write_member(
                dst,
                f"{new_dist_info}/RECORD",
                raw,
                (zipfile.ZIP_DEFLATED, zlib.crc32(data), len(raw), len(data)),
                0o100644 << 16,
            )
        )
        start = dst.tell()
        for entry in central:
            dst.write(entry)
        size = dst.tell() - start
        if start > 0xFFFFFFFF or len(central) > 0xFFFF:
            raise SourceError("the maturin wheel is too large to repack", hint="report this")
        dst.write(_END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), size, start, 0))
    return out


def _stored_bytes(src: BinaryIO, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes as stored (compressed), read after its local header."""
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise SourceError(
            f"{info.filename} is stored in a way patcher does not copy (encrypted or "
            f"compression {info.compress_type})",
            hint="patcher patches only PyPI's maturin wheel; check your index",
        )
    src.seek(info.header_offset)
    header = src.read(_LOCAL_HEADER.size)
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != b"PK\x03\x04":
        raise SourceError(
            f"{info.filename}: no local header where the wheel says", hint="run again"
        )
    name_length, extra_length = fields[-2], fields[-1]
    src.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    raw = src.read(info.compress_size)
    if len(raw) != info.compress_size:
        raise SourceError(f"{info.filename} is cut short in the wheel", hint="run again")
    return raw


def _dos_time() -> tuple[int, int]:
    year, month, day, hour, minute, second = _FIXED_TIME
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _write_member(
    dst: BinaryIO, name: str, raw: bytes, fields: tuple[int, int, int, int], external: int
) -> bytes:
    """Write one member's local header and stored bytes; return its central directory entry."""
    method, crc, compressed, size = fields
    encoded = name.encode("utf-8")
    flags = 0x800 if not name.isascii() else 0  # UTF-8 name
    version = 20
    mod_time, mod_date = _dos_time()
    offset = dst.tell()
    if offset > 0xFFFFFFFF or compressed > 0xFFFFFFFF or size > 0xFFFFFFFF:
        raise SourceError("the maturin wheel is too large to repack", hint="report this")
    dst.write(
        _LOCAL_HEADER.pack(
            b"PK\x03\x04",
            version,
            flags,
            method,
            mod_time,
            mod_date,
            crc,
            compressed,
            size,
            len(encoded),
            0,
        )
    )
    dst.write(encoded)
    dst.write(raw)
    return (
        _CENTRAL.pack(
            b"PK\x01\x02",
            (3 << 8) | version,
            version,
            flags,
            method,
            mod_time,
            mod_date,
            crc,
            compressed,
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            external,
            offset,
        )
        + encoded
    )
