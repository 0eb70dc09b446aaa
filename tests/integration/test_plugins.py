"""Providers are discovered through the `flowlib.providers` entry point group, built-in or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = """
import flowlib
from flowlib.providers.base import Capabilities, ProviderSpec

class EchoProvider:
    name = "echo"
    capabilities = Capabilities({})

@flowlib.hookimpl
def flowlib_providers():
    return [ProviderSpec("echo", lambda context: EchoProvider(), "a third-party test provider")]
"""


BUILT_IN = ["fcp", "hyperstack", "local", "slurm"]  # registered by flowlib's own entry points


def install_distribution(site: Path, dist: str, module: str, source: str, entry: str) -> None:
    """Lay out an installed distribution exactly as a wheel install would."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[flowlib.providers]\n{entry} = {module}\n")


def registry_in_subprocess(site: Path) -> dict[str, object]:
    code = (
        "import json, logging; logging.basicConfig(level=logging.WARNING)\n"
        "from flowlib.providers import get_registry\n"
        "r = get_registry()\n"
        "print(json.dumps({'names': r.names(), 'skipped': r.skipped}))"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    result["stderr"] = out.stderr
    return result


def test_a_provider_from_a_separate_distribution_is_discovered(tmp_path: Path) -> None:
    install_distribution(tmp_path, "flowlib_echo", "flowlib_echo", PLUGIN, "echo")
    found = registry_in_subprocess(tmp_path)
    assert found["names"] == ["echo", *BUILT_IN]


def test_a_broken_plugin_is_logged_and_skipped(tmp_path: Path) -> None:
    install_distribution(
        tmp_path,
        "flowlib_broken",
        "flowlib_broken",
        "raise ImportError('no such dependency: cuda_magic')\n",
        "broken",
    )
    install_distribution(tmp_path, "flowlib_echo", "flowlib_echo", PLUGIN, "echo")
    found = registry_in_subprocess(tmp_path)
    assert found["names"] == ["echo", *BUILT_IN]
    assert "cuda_magic" in str(found["skipped"])
    assert "skipping flowlib plugin 'broken'" in str(found["stderr"])


HOSTS_PLUGIN = """
import flowlib
from flowlib.core.hosts import SandboxHost

def make(options):
    return lambda address: SandboxHost(address, options["root"])

@flowlib.hookimpl
def flowlib_remote_hosts():
    return [flowlib.RemoteHostSpec("jail", make, "a directory per machine", options=("root",))]
"""


def test_a_remote_host_kind_from_a_separate_distribution_is_reached_by_its_name(
    tmp_path: Path,
) -> None:
    install_distribution(tmp_path, "flowlib_jail", "flowlib_jail", HOSTS_PLUGIN, "jail")
    code = (
        "from pathlib import Path\n"
        "from flowlib.providers import get_registry\n"
        "from flowlib.providers.fcp import make_provider\n"
        "p = make_provider({'remote_host': 'jail', 'remote_host_options': {'root': 'r'}},"
        " Path('.'))\n"
        "print(sorted(get_registry().remote_hosts()), p.host({'fid': 'inst_1'}))"
    )
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {"PYTHONPATH": os.pathsep.join(paths), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "['jail'] SandboxHost('inst_1', root=r)\n"
