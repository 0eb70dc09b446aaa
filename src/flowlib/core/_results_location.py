"""The read side of a results location (``TaskConfig.results``): one task's folder there, read
through fsspec. :mod:`flowlib.core._results_script` writes it from the machine; the kept copy
(:class:`flowlib.core.cloud.KeptResults`) and :mod:`flowlib.results` read it back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib._extras import import_optional
from flowlib.errors import AuthenticationError, FlowError

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord

__all__ = [
    "EXIT",
    "FILES",
    "LOG",
    "MESSAGE",
    "METRICS",
    "ResultsLocation",
    "location_of",
    "task_results_url",
]

LOG = "task.log"
METRICS = "metrics.jsonl"
EXIT = "exit_code"
MESSAGE = "message"
FILES = "files"


class ResultsLocation:
    """One task's folder at a results location, read through fsspec (s3fs for ``s3://``,
    on ``FLOW_S3_ENDPOINT_URL`` when set). Errors are :class:`FlowError` naming the URL only."""

    def __init__(self, base: str, task_id: str) -> None:
        self.url = task_results_url(base, task_id)
        self._fs: Any = None
        self._root = ""

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            fsspec = import_optional("fsspec", "a results location")
            options: dict[str, object] = {}
            if self.url.startswith("s3://"):
                # Here, not above: core.cloud (and so the remote-call runner on the task's
                # machine) imports this module, and flowlib.data brings pydantic along.
                from flowlib.data._s3 import s3_endpoint

                import_optional("s3fs", "an s3:// results location")
                endpoint = s3_endpoint()
                options = {"skip_instance_cache": True, "use_listings_cache": False}
                if endpoint:
                    options["endpoint_url"] = endpoint
            try:
                self._fs, self._root = fsspec.core.url_to_fs(self.url, **options)
            except (ValueError, ImportError) as exc:
                raise FlowError(
                    f"cannot open the results location {self.url}: {type(exc).__name__}",
                    suggestions=["check the URL's scheme; install the fsspec package for it"],
                ) from None
        return self._fs, self._root

    def _path(self, name: str) -> str:
        return f"{self._filesystem()[1]}/{name}"

    def read(self, name: str) -> bytes | None:
        """The file ``name`` of the task's folder, or None when it is not there."""
        fs, _ = self._filesystem()
        try:
            data: bytes = fs.cat_file(self._path(name))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except Exception as exc:
            raise self._error(exc, "read") from None
        return data

    def exit(self) -> tuple[int, bool] | None:
        """The workload's exit code and whether a stop had reached it, once uploaded."""
        raw = self.read(EXIT)
        if raw is None:
            return None
        try:
            code, stopped = raw.decode().split()
            return int(code), stopped == "1"
        except ValueError:
            return None

    def files(self) -> dict[str, int]:
        """Every file of the task's folder (relative name -> size in bytes)."""
        fs, root = self._filesystem()
        try:
            found = fs.find(root, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            raise self._error(exc, "list") from None
        prefix = root.rstrip("/") + "/"
        return {
            str(p)[len(prefix) :]: int(info.get("size") or 0)
            for p, info in found.items()
            if str(p).startswith(prefix) and info.get("type") != "directory"
        }

    def get(self, name: str, target: Path) -> None:
        """Copy the file ``name`` to ``target``."""
        data = self.read(name)
        if data is None:
            raise FlowError(f"{self.url}/{name} is not there")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def _error(self, exc: BaseException, what: str) -> FlowError:
        name = type(exc).__name__
        if isinstance(exc, PermissionError) or "Credentials" in name:
            return AuthenticationError(
                f"the results location {self.url} refused to {what}: {name}",
                suggestions=["set the storage credentials (AWS_ACCESS_KEY_ID...) of that bucket"],
            )
        return FlowError(
            f"cannot {what} the results location {self.url}: {name}",
            suggestions=["check the network and FLOW_S3_ENDPOINT_URL, then try again"],
        )


def location_of(record: TaskRecord) -> ResultsLocation | None:
    """The task's folder at its results location, if it has one."""
    base = record.config.results
    return ResultsLocation(base, record.task_id) if base else None


def task_results_url(base: str, task_id: str) -> str:
    """Where one task's results go under the location ``base``."""
    return f"{base.rstrip('/')}/{task_id}"
