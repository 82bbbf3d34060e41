"""Debian packages that some tests need, installed on first use: the tests run as root on Debian."""

import shutil
import subprocess

APT_INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
               "-o", "DPkg::Lock::Timeout=600"]  # another apt may hold the lock for a while


def debian_executable(executable: str, package: str) -> str:
    """The path of ``executable``, installing Debian's ``package`` first when it is missing.

    Raises when it cannot be installed, so that a test needing it fails instead of skipping.
    """
    if shutil.which(executable):
        return shutil.which(executable)
    result = subprocess.run([*APT_INSTALL, package], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:  # the package lists may be missing or out of date
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=600)
        result = subprocess.run([*APT_INSTALL, package], capture_output=True, text=True, timeout=1800)
    if not shutil.which(executable):
        raise RuntimeError(f"apt-get could not install {package} for {executable} (exit {result.returncode}):\n"
                           f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return shutil.which(executable)
