"""Files made available under a second name: a hard link where the file system allows, a copy where it does not."""

import os
import shutil


def link_or_copy(source: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Make ``target`` hold ``source``'s bytes; True when it is a hard link, False when a copy.

    A hard link costs no space and survives the source folder's removal; it fails across file systems and on
    some network shares, where a copy does instead.
    """
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copyfile(source, target)
        return False
