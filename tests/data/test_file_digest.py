"""Files fingerprinted by content (ser.data.file_digest): a new modification time alone changes
nothing, a new content does, and the cache spares reading a file that did not change on disk."""

import os
import subprocess
import sys

from ser.data.file_digest import file_digests


def test_a_digest_follows_the_content_not_the_time(tmp_path):
    cache = tmp_path / "cache.sqlite"
    a = tmp_path / "a.wav"
    a.write_bytes(b"RIFF one")
    (first,) = file_digests([str(a)], cache)
    os.utime(a, (1, 1))  # copied again: same bytes, another time
    assert file_digests([str(a)], cache) == [first]
    a.write_bytes(b"RIFF two")  # fixed audio keeps its name and size
    (fixed,) = file_digests([str(a)], cache)
    assert fixed[:2] == first[:2] and fixed[2] != first[2]


def test_the_cache_is_used_while_size_time_and_inode_agree(tmp_path):
    cache = tmp_path / "cache.sqlite"
    a = tmp_path / "a.wav"
    a.write_bytes(b"RIFF one")
    (first,) = file_digests([str(a)], cache)
    st = os.stat(a)
    with open(a, "r+b") as f:  # same file, size and time: the cached digest is reused, unread
        f.write(b"RIFF two")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_digests([str(a)], cache) == [first]


def test_missing_files_and_folders_are_left_out_in_order(tmp_path):
    cache = tmp_path / "cache.sqlite"
    for name in ("b", "a"):
        (tmp_path / name).write_text(name)
    paths = [str(tmp_path / "b"), str(tmp_path / "gone"), str(tmp_path), "sox x.wav -t wav - |", str(tmp_path / "a")]
    assert [p for p, _, _ in file_digests(paths, cache)] == [str(tmp_path / "b"), str(tmp_path / "a")]


def test_the_command_prints_path_size_and_digest(tmp_path):
    (tmp_path / "a").write_text("abc")
    proc = subprocess.run(
        [sys.executable, "-m", "ser.data.file_digest", "--cache", str(tmp_path / "c.sqlite")],
        input=f"{tmp_path / 'a'}\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == f"{tmp_path / 'a'} 3 md5:900150983cd24fb0d6963f7d28e17f72\n"
