"""A shard's finished items, kept where the job's outputs are not, so that a killed job's rerun does only the rest.

Snakemake deletes the outputs of a failed job before it runs it again, so the items wait in a work folder of their
own, one subfolder per key (config, code and inputs, see work_key), and move into the outputs when all are done.
The writers write each item atomically, so a file that is there is finished.
"""

import os
import shutil
from pathlib import Path

from qaclims.runtime.atomic import make_folder


class PartialShard:
    """The work folder of one shard under ``key``, with one part (a subfolder) per output folder."""

    def __init__(self, root: str | os.PathLike, key: str, parts: tuple[str, ...] = ("items",)):
        root = Path(root)
        # Items kept under another key were made by another config, code or input: the shard starts afresh.
        if root.is_dir():
            for other in root.iterdir():
                if other.name != key:
                    shutil.rmtree(other) if other.is_dir() else other.unlink()
        self.folder = root / key
        self.parts = parts
        for part in parts:
            make_folder(self.part(part))

    def part(self, name: str) -> Path:
        return self.folder / name

    def done(self) -> set[str]:
        """Names (without suffix) of the items finished in every part; hidden files are partial writes."""
        names = [{path.stem for path in self.part(part).iterdir() if not path.name.startswith(".")}
                 for part in self.parts]
        return set.intersection(*names)

    def move_to(self, outputs: dict[str, str | os.PathLike]) -> None:
        """Move each part onto its output folder, replacing what is there, and drop the work folder."""
        for part, output in outputs.items():
            output = Path(output)
            if output.exists():
                shutil.rmtree(output)
            make_folder(output.parent)
            os.replace(self.part(part), output)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder)
        if not any(self.folder.parent.iterdir()):
            self.folder.parent.rmdir()
