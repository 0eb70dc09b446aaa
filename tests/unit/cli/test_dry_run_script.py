"""The dry run shows the startup script the provider would send: its own render when it has
one (``ScriptPreview``), else the generic script, labelled as such."""

from __future__ import annotations

from flowlib.cli._run import _startup_script
from flowlib.core.store import TaskRecord
from flowlib.errors import NetworkError
from flowlib.models import TaskConfig
from flowlib.providers.base import ScriptPreview
from flowlib.testing import FakeProvider


class Previewing(FakeProvider):
    def preview_script(self, record: TaskRecord, code: object) -> str:
        return f"#!/bin/bash\n# {self.name}'s own script for {record.task_id}\n"


class Unreachable(FakeProvider):
    def preview_script(self, record: TaskRecord, code: object) -> str:
        raise NetworkError("cannot reach the API", suggestions=["check the network"])


CONFIG = TaskConfig(name="demo", command=["echo", "hi"], upload_code=False)


def test_a_provider_with_a_preview_shows_its_own_script() -> None:
    provider = Previewing("cloud")
    assert isinstance(provider, ScriptPreview)
    script, source = _startup_script(provider, CONFIG, None)
    assert script == "#!/bin/bash\n# cloud's own script for task-dry-run\n"
    assert source == "as cloud sends it"


def test_without_a_preview_the_generic_script_says_so() -> None:
    script, source = _startup_script(FakeProvider("plain"), CONFIG, None)
    assert script.startswith("#!/bin/bash") and "flowlib startup script" in script
    assert source == "generic, plain renders no preview"


def test_a_provider_that_cannot_be_asked_falls_back_and_says_why() -> None:
    script, source = _startup_script(Unreachable("cloud"), CONFIG, None)
    assert "flowlib startup script" in script
    assert source == "generic, cloud could not be asked: cannot reach the API"
