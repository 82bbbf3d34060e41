"""`python -m qaclims.runtime.on_gpus --gpus N -- COMMAND...`: run COMMAND pinned to N GPUs of its own.

Every GPU job of the workflow starts through this. Under Slurm (SLURM_JOB_ID set) the job
keeps the GPUs Slurm bound to it. Elsewhere it claims N free GPUs among those visible and
sets CUDA_VISIBLE_DEVICES to them, waiting while other jobs hold them. On a machine without
GPUs the command runs unchanged, on the CPU.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from qaclims.runtime.gpu_claims import claim_gpus, visible_gpus


def default_lock_dir() -> Path:
    # Per machine (a local temporary folder, never the shared output folder a cluster sees) and per user.
    return Path(tempfile.gettempdir()) / f"qaclims-gpu-claims-{os.getuid()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qaclims.runtime.on_gpus", description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, required=True, help="GPUs the job was given")
    parser.add_argument("--lock-dir", type=Path, default=default_lock_dir(),
                        help="where jobs on this machine hold their claims (default: %(default)s)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")

    environment = dict(os.environ)
    if args.gpus == 0:
        environment["CUDA_VISIBLE_DEVICES"] = ""
    elif "SLURM_JOB_ID" not in environment and (devices := visible_gpus(environment)):
        def report_wait():
            print(f"on_gpus: waiting for {args.gpus} of GPUs {', '.join(devices)} to be free", file=sys.stderr,
                  flush=True)

        try:
            claim = claim_gpus(devices, args.gpus, args.lock_dir, on_wait=report_wait)
        except ValueError as error:
            print(f"on_gpus: {error}", file=sys.stderr)
            return 2
        for descriptor in claim.lock_descriptors:
            os.set_inheritable(descriptor, True)
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(claim.devices)
        print(f"on_gpus: pinned to GPU {environment['CUDA_VISIBLE_DEVICES']}", file=sys.stderr, flush=True)
    try:
        os.execvpe(command[0], command, environment)
    except OSError as error:
        print(f"on_gpus: cannot run {command[0]!r}: {error}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    raise SystemExit(main())
