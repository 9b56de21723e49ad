"""The system packages the test suite needs besides the Python ones: found, installed, or named.

==============  ===========================================================================
``bubblewrap``  every graded run starts its kernels in a bubblewrap sandbox (autograder/sandbox.py)
``chromium``    the browser tests drive Debian's Chromium through Playwright (tests/test_browser.py)
==============  ===========================================================================

``make test`` runs ``python tests/system_packages.py`` first. It installs what is missing where it
can, with ``apt-get`` as root or through ``sudo -n`` (never asking for a password), and otherwise
prints one line naming the packages and the command that installs them. The tests that need a
missing package are then skipped with that reason (``@pytest.mark.needs("bubblewrap")``, see
``tests/conftest.py``); under ``CI=true`` nothing is skipped: the line is an error and the run
stops before anything long starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:               # run as a script: the kit's packages are importable
    sys.path.insert(0, str(REPO))

#: package -> what needs it
PACKAGES = {
    "bubblewrap": "graded runs start every kernel in a bubblewrap sandbox",
    "chromium": "the browser tests drive Chromium",
}
CHROMIUM = Path("/usr/bin/chromium")


def problem(package: str) -> str | None:
    """Why ``package`` cannot be used here, or None when it can."""
    if package == "bubblewrap":
        from autograder.sandbox import SandboxUnavailable, check_available
        try:
            check_available()
        except SandboxUnavailable as error:
            return str(error)
        return None
    if package == "chromium":
        return None if CHROMIUM.exists() else f"Chromium not found at {CHROMIUM}"
    raise ValueError(f"package must be one of {sorted(PACKAGES)}, got {package!r}")


def missing() -> dict[str, str]:
    """{package: why it cannot be used} for each package of :data:`PACKAGES` not usable here."""
    return {package: why for package in PACKAGES if (why := problem(package)) is not None}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def install_command(packages: list[str]) -> list[str]:
    """The command that installs ``packages`` here (root: apt-get; else sudo -n apt-get), or []
    when none can run without asking for a password."""
    if shutil.which("apt-get") is None:
        return []
    apt = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if os.geteuid() == 0:
        return apt
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"],
                                               capture_output=True).returncode == 0:
        return ["sudo", "-n", *apt]
    return []


def advice(packages: dict[str, str]) -> str:
    """One line: what is missing, what needs it, and the command that installs it."""
    needs = "; ".join(f"{package} ({PACKAGES[package]})" for package in packages)
    return (f"make test: system packages missing or unusable here: {needs}. Install them with "
            f"`sudo apt-get install {' '.join(packages)}` (Fedora: dnf install; the reason "
            f"follows); until then their tests are skipped")


def main() -> int:
    absent = missing()
    command = install_command(list(absent)) if absent else []
    if command:
        print(f"installing {', '.join(absent)}: {' '.join(command)}", flush=True)
        sudo = command[:2] if command[0] == "sudo" else []
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False)
        subprocess.run(command, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        absent = missing()
    if absent:
        print(advice(absent) + (" (CI=true: nothing may be skipped)" if in_ci() else ""),
              flush=True)
        for package, why in absent.items():
            print(f"  {package}: {why}")
        return 1 if in_ci() else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
