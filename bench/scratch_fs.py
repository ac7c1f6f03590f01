"""A freshly made filesystem for the benchmarks' data directories.

Every job creates a directory and files, and (with jobs.cleanup=always)
removes them. On an ext4 without a journal, which some virtual machines'
root filesystems are, each new inode is checked against every inode freed
in the last minute (ext4's recently_deleted()): the same code then costs
two to three times the CPU per job after other work on the machine has
deleted many files. A fresh, journaled ext4 (the usual kind in production)
makes the figures measure the code, for muleteer and the peer alike.

fresh_fs(base) makes a sparse image under base, formats it (mkfs.ext4,
with its journal), mounts it on a loop device and returns (mountpoint,
description, unmount); it returns (None, why, None) when it cannot (not
root, no mkfs.ext4 or loop device), and the caller keeps its data in the
usual temporary directory.
"""
import os
import shutil
import subprocess
import tempfile


def fresh_fs(base, size_gb=16):
    if os.geteuid() != 0:
        return None, "not root: the data stays in %s" % tempfile.gettempdir(), None
    if not shutil.which("mkfs.ext4") or not shutil.which("mount"):
        return None, "no mkfs.ext4: the data stays in %s" % tempfile.gettempdir(), None
    os.makedirs(base, exist_ok=True)
    image = os.path.join(base, "scratch-ext4.img")
    mountpoint = tempfile.mkdtemp(prefix="muleteer-bench-fs-")
    try:
        with open(image, "wb") as f:
            f.truncate(size_gb << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True, capture_output=True, text=True)
        subprocess.run(["mount", "-o", "loop", image, mountpoint], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        why = getattr(e, "stderr", None) or str(e)
        os.rmdir(mountpoint)
        if os.path.exists(image):
            os.unlink(image)
        return None, "could not make a fresh ext4 (%s): the data stays in %s" % (why.strip(),
                                                                               tempfile.gettempdir()), None
    os.chmod(mountpoint, 0o755)

    def unmount():
        subprocess.run(["umount", mountpoint], capture_output=True)
        os.rmdir(mountpoint)
        os.unlink(image)

    return mountpoint, "data on a fresh ext4 with a journal (%d GiB, loop-mounted)" % size_gb, unmount
