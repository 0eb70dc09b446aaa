"""Remote-host kinds: ``ssh`` is built in, any other is a plugin's, named by ``remote_host``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest

from flowlib import hookspecs
from flowlib.cli import main
from flowlib.core.hosts import HostAddress, HostFactory, SandboxHost
from flowlib.errors import ConfigError, ProviderError
from flowlib.providers import Registry, check_remote_host, host_factory
from flowlib.providers.base import RemoteHostSpec
from flowlib.providers.fcp import make_provider
from flowlib.providers.hyperstack._settings import load_settings
from flowlib.testing.emulators import SANDBOX_HOSTS, sandbox_settings

EMULATORS = "flowlib.testing.emulators"


def _unreachable(options: Mapping[str, Any]) -> HostFactory:
    raise AssertionError("not called here")


class Offers:
    """An installed plugin offering remote-host kinds."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @hookspecs.hookimpl
    def flowlib_remote_hosts(self) -> list[RemoteHostSpec]:
        return [RemoteHostSpec(name, _unreachable) for name in self.names]


def registry(**plugins: object) -> Registry:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return Registry(pm)


@pytest.mark.parametrize(("provider", "gpu"), [("fcp", "a100"), ("hyperstack", "a6000")])
def test_an_emulator_config_written_before_says_what_replaced_sandbox_dir(
    provider: str, gpu: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".flow").mkdir()
    (project / ".flow" / "config.yaml").write_text(
        f"providers:\n  {provider}:\n    api_key: fkey_{'a' * 24}\n"
        "    remote_host: sandbox\n    sandbox_dir: /tmp/emulator/instances\n"
    )
    assert main(["run", "--provider", provider, "-i", gpu, "echo hi"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: providers.{provider}.sandbox_dir is no longer a setting\n")
    assert f"remote_host: {SANDBOX_HOSTS} with remote_host_options: {{dir: " in err
    assert f"python -m flowlib.testing.emulators {provider} --flow-config PATH" in err
    assert "Traceback" not in err


def test_remote_host_sandbox_alone_is_no_kind_and_names_the_plugin_that_has_it() -> None:
    make_provider(sandbox_settings("/tmp/instances"), Path("."))  # registers the emulators here
    with pytest.raises(ConfigError) as caught:
        make_provider({"remote_host": "sandbox"}, Path("."))
    # Still no kind of its own: the module registered for MODULE:NAME is reached only that way.
    assert "no installed plugin offers a remote-host kind 'sandbox'" in str(caught.value)
    assert any(SANDBOX_HOSTS in tip for tip in caught.value.suggestions)
    with pytest.raises(ConfigError, match="no installed plugin"):
        load_settings({"remote_host": "sandbox"})


def test_the_emulators_sandbox_is_their_plugins_kind(tmp_path: Path) -> None:
    factory = host_factory("hyperstack", SANDBOX_HOSTS, {"dir": str(tmp_path)}, tmp_path)
    host = factory(HostAddress("10.0.0.7", instance_id="vm-7"))
    assert isinstance(host, SandboxHost)
    assert host.root == tmp_path / "vm-7"


def test_a_kind_of_an_installed_plugin_is_reached_by_its_name() -> None:
    found = registry(teleport=Offers("tsh")).remote_host("fcp", "tsh")
    assert found.name == "tsh"


def test_a_kind_no_plugin_offers_lists_the_kinds_there_are() -> None:
    with pytest.raises(ConfigError) as caught:
        registry(teleport=Offers("tsh")).remote_host("fcp", "tssh")
    assert caught.value.suggestions[0] == "did you mean 'tsh'?"
    assert caught.value.suggestions[-1] == "kinds here: ssh, tsh"


def test_a_kind_offered_twice_names_both_plugins() -> None:
    with pytest.raises(ProviderError, match="by one and by two"):
        registry(one=Offers("tsh"), two=Offers("tsh")).remote_hosts()
    with pytest.raises(ProviderError, match=r"flowlib \(built in\) and by one"):
        registry(one=Offers("ssh")).remote_hosts()


def test_a_module_named_with_its_kind_is_registered_once() -> None:
    named = registry()
    first = named.remote_host("fcp", SANDBOX_HOSTS)
    plugins = len(named.plugin_manager.get_plugins())
    assert named.remote_host("hyperstack", SANDBOX_HOSTS) is first
    assert len(named.plugin_manager.get_plugins()) == plugins
    assert named.remote_hosts() == {}  # not a kind of an installed plugin
    with pytest.raises(ConfigError, match=f"no plugin module {EMULATORS} offers"):
        named.remote_host("fcp", f"{EMULATORS}:sandboxes")


def test_a_module_that_cannot_be_imported_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot be imported") as caught:
        registry().remote_host("fcp", "flowlib_no_such_plugin:sandbox")
    assert caught.value.suggestions[0] == "install the distribution that provides " + (
        "flowlib_no_such_plugin"
    )
    with pytest.raises(ConfigError, match="not a module name"):
        registry().remote_host("fcp", "no such:sandbox")


def test_options_are_the_kinds_own() -> None:
    with pytest.raises(ConfigError) as caught:
        check_remote_host("fcp", SANDBOX_HOSTS, {"dri": "/tmp"})
    assert caught.value.suggestions == ["did you mean 'dir'?"]
    with pytest.raises(ConfigError, match=r"remote_host_options\.dir"):
        check_remote_host("fcp", SANDBOX_HOSTS, {})
    with pytest.raises(ConfigError, match="ssh takes no options"):
        make_provider({"remote_host_options": {"dir": "/tmp"}}, Path("."))
