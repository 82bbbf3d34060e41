"""Keys of the work that a killed job leaves for its rerun (training checkpoints, a shard's finished images).

Kept work is used again only under the same key: the same config, the same code and, where given, the same inputs.
"""

import hashlib
import json
import os
from pathlib import Path

import qaclims
from qaclims.runtime.provenance import code_hash


def code_version(stage_module: str) -> str:
    """Hash of the stage module and the package code it imports."""
    return code_hash([stage_module], Path(qaclims.__file__).resolve().parents[1])


def file_identity(path: str) -> list:
    """What tells one version of a file or folder from the next: a rewrite through a rename gives a new inode,
    one in place a new modification time or size. Cheap, unlike hashing a folder of CAMs. A missing file is left
    to the stage that reads it to report."""
    if not os.path.exists(path):
        return [path]
    status = os.stat(path)
    return [path, status.st_ino, status.st_size, status.st_mtime_ns]


def work_key(config: dict, version: str, arguments: dict, inputs: list[str]) -> str:
    """Key of work made under ``config`` by code ``version`` from the command's ``arguments`` and ``inputs``."""
    text = json.dumps([config, version, arguments, [file_identity(path) for path in inputs]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
