"""Archive unpacking: crafted hostile archives are refused, naming the archive and the member; nothing is
written outside the run-scoped folder."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from factory.archives import ArchiveError, Limits, extract

LIMITS = Limits(max_members=50, max_bytes=1_000_000)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w:gz") as tf:
        for info in members:
            body = data.get(info.name)
            if body is not None:
                info.size = len(body)
            tf.addfile(info, io.BytesIO(body) if body is not None else None)
    return path


def _refused(path: Path, tmp_path: Path, limits: Limits = LIMITS) -> ArchiveError:
    dest = tmp_path / "run" / "extract"
    with pytest.raises(ArchiveError) as caught:
        extract(path, dest, limits, archive="incoming/digits/up.zip")
    assert str(caught.value).startswith("archive incoming/digits/up.zip: ")
    return caught.value


def test_a_good_zip_and_tar_gz_extract_into_the_folder_only(tmp_path):
    good = _zip(tmp_path / "good.zip", {"a/1.png": b"x" * 10, "b/2.png": b"y"})
    assert extract(good, tmp_path / "z", LIMITS) == ["a/1.png", "b/2.png"]
    assert (tmp_path / "z" / "a" / "1.png").read_bytes() == b"x" * 10
    info = tarfile.TarInfo("images/1.jpg")
    tgz = _tar(tmp_path / "good.tar.gz", [info], {"images/1.jpg": b"jpeg"})
    assert extract(tgz, tmp_path / "t", LIMITS) == ["images/1.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar.gz", "good.zip", "t", "z"]


def test_not_an_archive_and_a_corrupt_one(tmp_path):
    plain = tmp_path / "x.zip"
    plain.write_text("a,b\n1,2\n")
    assert "a .zip or .tar.gz archive" in str(_refused(plain, tmp_path))
    good = _zip(tmp_path / "c.zip", {"a/1.png": b"x" * 5000})
    raw = bytearray(good.read_bytes())
    raw[40:60] = b"\0" * 20  # inside the compressed data
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(raw))
    assert "a corrupt one" in str(_refused(corrupt, tmp_path))
    truncated = tmp_path / "t.tar.gz"
    tgz = _tar(tmp_path / "ok.tar.gz", [tarfile.TarInfo("a/1.png")], {"a/1.png": bytes(range(256)) * 40})
    truncated.write_bytes(tgz.read_bytes()[:-30])
    assert "a corrupt one" in str(_refused(truncated, tmp_path))


def test_an_empty_archive(tmp_path):
    assert "an empty archive" in str(_refused(_zip(tmp_path / "e.zip", {}), tmp_path))
    assert "an empty archive" in str(_refused(_zip(tmp_path / "d.zip", {"a/": b""}), tmp_path))


@pytest.mark.parametrize(("name", "got"), [
    ("/etc/passwd", "an absolute path"),
    ("../../evil.png", "a '..' part (zip-slip)"),
    ("a/../../evil.png", "a '..' part (zip-slip)"),
    ("a\\..\\evil.png", "no backslash"),
    ("C:/evil.png", "an absolute path"),
])
def test_zip_slip_names_are_refused(tmp_path, name, got):
    error = _refused(_zip(tmp_path / "slip.zip", {"ok/1.png": b"x", name: b"evil"}), tmp_path)
    assert error.member == name and got in str(error)
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


def test_zip_slip_in_a_tar(tmp_path):
    error = _refused(_tar(tmp_path / "s.tar.gz", [tarfile.TarInfo("../evil.png")], {"../evil.png": b"e"}), tmp_path)
    assert error.member == "../evil.png" and "zip-slip" in str(error)


def test_links_are_refused(tmp_path):
    link = tarfile.TarInfo("a/link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    error = _refused(_tar(tmp_path / "l.tar.gz", [link]), tmp_path)
    assert error.member == "a/link.png" and "a symbolic link" in str(error)
    hard = tarfile.TarInfo("a/hard.png")
    hard.type, hard.linkname = tarfile.LNKTYPE, "a/other.png"
    assert "a hard link" in str(_refused(_tar(tmp_path / "h.tar.gz", [hard]), tmp_path))
    fifo = tarfile.TarInfo("a/fifo")
    fifo.type = tarfile.FIFOTYPE
    assert "a device or FIFO" in str(_refused(_tar(tmp_path / "f.tar.gz", [fifo]), tmp_path))
    zpath = tmp_path / "l.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        info = zipfile.ZipInfo("a/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    assert "a symbolic link" in str(_refused(zpath, tmp_path))
    assert not any((tmp_path / "run" / "extract").rglob("*.png"))


def test_too_many_members(tmp_path):
    error = _refused(_zip(tmp_path / "m.zip", {f"a/{i}.png": b"x" for i in range(6)}), tmp_path,
                     Limits(max_members=5, max_bytes=10**6))
    assert "at most 5 members" in str(error) and error.member == "a/5.png"


def test_a_zip_bomb_is_stopped_while_streaming_even_when_the_header_lies(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"a/1.png": b"\0" * 5_000_000})
    assert bomb.stat().st_size < 20_000
    error = _refused(bomb, tmp_path, Limits(max_members=5, max_bytes=1_000_000))
    assert "at most the allowed uncompressed bytes" in str(error) and error.member == "a/1.png"
    written = sum(p.stat().st_size for p in (tmp_path / "run" / "extract").rglob("*") if p.is_file())
    assert written <= 1_000_000
    # a header claiming 10 bytes: the zip reader stops there and the CRC check fails; never more bytes written
    raw = bytearray(bomb.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.index(sig)
        raw[at + offset:at + offset + 4] = (10).to_bytes(4, "little")
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(raw))
    error = _refused(liar, tmp_path / "again", Limits(max_members=5, max_bytes=1_000_000))
    assert "corrupt" in str(error) or "uncompressed bytes" in str(error)


def test_a_tar_bomb_across_members_is_stopped(tmp_path):
    members = [tarfile.TarInfo(f"a/{i}.png") for i in range(4)]
    tgz = _tar(tmp_path / "b.tar.gz", members, {m.name: b"\0" * 400_000 for m in members})
    error = _refused(tgz, tmp_path, Limits(max_members=10, max_bytes=1_000_000))
    assert error.member == "a/2.png"


def test_duplicates_and_a_non_empty_destination(tmp_path):
    info = tarfile.TarInfo("a/1.png")
    tgz = _tar(tmp_path / "d.tar.gz", [info, tarfile.TarInfo("a/1.png")], {"a/1.png": b"x"})
    assert "a duplicate" in str(_refused(tgz, tmp_path))
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "old").write_text("x")
    with pytest.raises(ArchiveError, match="an empty extraction folder"):
        extract(_zip(tmp_path / "g.zip", {"a/1.png": b"x"}), dest, LIMITS)
