"""``App``, ``Function`` and ``FunctionCall``: Modal's API over :mod:`flowlib.remote._batch`."""

from __future__ import annotations

import contextlib
import functools
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, cast, overload

from flowlib.errors import RemoteError, ResourceNotFoundError
from flowlib.frontends.app._options import (
    FunctionOptions,
    any_gpu_count,
    make_options,
    resolve_gpu,
)
from flowlib.remote._batch import Dispatcher, InputResult, Plan, Retries, pack_call

if TYPE_CHECKING:
    from flowlib.flow import Flow

__all__ = ["App", "Function", "FunctionCall"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

AUTO_BATCH_MAX = 500  # inputs per task at most when `.map` chooses the batch size itself


class App:
    """A named group of functions that run as tasks (Modal's ``modal.App``).

    ``provider``, ``image`` and ``env`` are defaults for its functions; ``flow`` a client to use
    (default: one built from the configuration on first use)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        provider: str | None = None,
        image: str | None = None,
        env: Mapping[str, str] | None = None,
        flow: Flow | None = None,
    ) -> None:
        self.name = name
        self.provider = provider
        self.image = image
        self.env = dict(env or {})
        self._flow = flow
        self.registered_functions: dict[str, Function[Any, Any]] = {}
        self.local_entrypoints: dict[str, Callable[..., Any]] = {}

    def __repr__(self) -> str:
        return f"App({self.name!r})"

    @property
    def flow(self) -> Flow:
        if self._flow is None:
            from flowlib.flow import Flow

            self._flow = Flow(provider=self.provider)
        return self._flow

    @flow.setter
    def flow(self, flow: Flow) -> None:
        """Use this client (another FLOW_HOME, another configuration) from now on."""
        self._flow = flow

    @contextmanager
    def run(self) -> Iterator[App]:
        """Modal's ``with app.run():`` (flowlib needs no ephemeral app: a no-op block)."""
        yield self

    @overload
    def function(self, fn: Callable[P, R], /) -> Function[P, R]: ...

    @overload
    def function(
        self,
        fn: None = None,
        /,
        *,
        gpu: str | Sequence[str] | None = None,
        instance_type: str | None = None,
        timeout: float | None = None,
        retries: int | Retries | None = None,
        image: str | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[str, Any] | Sequence[Any] | None = None,
        max_price_per_hour: float | None = None,
        provider: str | None = None,
        max_containers: int | None = None,
        batch_size: int | None = None,
        python: str | None = None,
        code_dir: str | Path | None = None,
        name: str | None = None,
    ) -> Callable[[Callable[P, R]], Function[P, R]]: ...

    def function(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        gpu: str | Sequence[str] | None = None,
        instance_type: str | None = None,
        timeout: float | None = None,
        retries: int | Retries | None = None,
        image: str | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Mapping[str, Any] | Sequence[Any] | None = None,
        max_price_per_hour: float | None = None,
        provider: str | None = None,
        max_containers: int | None = None,
        batch_size: int | None = None,
        python: str | None = None,
        code_dir: str | Path | None = None,
        name: str | None = None,
    ) -> Function[P, R] | Callable[[Callable[P, R]], Function[P, R]]:
        """Make ``fn`` run as tasks; bare (``@app.function``) or with options.

        :param gpu: Modal's grammar: ``"A100"``, ``"H100:8"``, ``"A100-80GB:4"``, ``"any"``;
            a list is a fallback order (the next when the provider has no capacity for one).
            Resolved through the catalog on the first call.
        :param instance_type: a flowlib instance type instead (``"8xh100"``).
        :param timeout: seconds one input may run; it then raises :class:`TimeoutError`.
        :param retries: how often a failed input runs again: a count, or a
            :class:`Retries` policy with back-off. Only the failed inputs run again.
        :param image, env, volumes, max_price_per_hour, provider: TaskConfig settings
            (``volumes``: ``{"/data": "volume-name"}``).
        :param max_containers: at most this many tasks at once for ``.map``.
        :param batch_size: inputs per task for ``.map`` (default: spread over
            ``max_containers`` tasks, at most 500 each; 1 for one task per input).
        :param python: the interpreter on the far side; ``code_dir``: the directory uploaded
            (default: the current one); ``name``: the tasks' name.
        """
        options = make_options(
            gpu=gpu,
            instance_type=instance_type,
            timeout=timeout,
            retries=retries,
            image=image,
            env=env,
            volumes=volumes,
            max_price_per_hour=max_price_per_hour,
            provider=provider,
            max_containers=max_containers,
            batch_size=batch_size,
            python=python,
            code_dir=code_dir,
            name=name,
        )

        def decorate(f: Callable[P, R]) -> Function[P, R]:
            wrapped = Function(self, f, options)
            self.registered_functions[f.__name__] = wrapped
            return wrapped

        return decorate if fn is None else decorate(fn)

    @overload
    def local_entrypoint(self, fn: F, /) -> F: ...

    @overload
    def local_entrypoint(
        self, fn: None = None, /, *, name: str | None = None
    ) -> Callable[[F], F]: ...

    def local_entrypoint(
        self, fn: F | None = None, /, *, name: str | None = None
    ) -> F | Callable[[F], F]:
        """Mark the function ``flow run app.py`` calls here, on this machine (it is returned
        unchanged: calling it yourself runs it too)."""

        def register(f: F) -> F:
            self.local_entrypoints[name or f.__name__] = f
            return f

        return register if fn is None else register(fn)


class Function(Generic[P, R]):
    """A function of an :class:`App`. Call ``.remote()``, ``.spawn()``, ``.map()``,
    ``.starmap()``, or ``.local()``; calling it directly runs it here, like ``.local()``
    (that is also what happens on the far side)."""

    def __init__(self, app: App, raw_f: Callable[P, R], options: FunctionOptions) -> None:
        self.app = app
        self.raw_f = raw_f
        self.options = options
        self.__name__: str = getattr(raw_f, "__name__", "function")
        functools.update_wrapper(self, raw_f)
        self._instance_types: list[str] | None = None

    def __repr__(self) -> str:
        return f"Function({self.__name__!r}, app={self.app.name!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # What travels is the plain function and its options, never the app or its client.
        return (_rebuild_function, (self.raw_f, self.options))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.raw_f(*args, **kwargs)

    def local(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run in this process."""
        return self.raw_f(*args, **kwargs)

    def remote(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run as a task and return the value (the remote exception is raised here)."""
        dispatcher = self._dispatcher([(tuple(args), dict(kwargs))], batch_size=1)
        try:  # nothing is kept on disk: no one else can ask for this result
            (result,) = dispatcher.results()
        except KeyboardInterrupt:
            dispatcher.cancel()  # its value would reach no one
            raise
        if not result.ok:
            raise result.value
        return cast(R, result.value)

    def spawn(self, *args: P.args, **kwargs: P.kwargs) -> FunctionCall[R]:
        """Submit as a task and return a handle at once (``FunctionCall.from_id`` rebuilds it
        in any later process)."""
        dispatcher = self._dispatcher([(tuple(args), dict(kwargs))], batch_size=1)
        call: FunctionCall[R] = FunctionCall(f"fc-{uuid.uuid4().hex[:16]}", dispatcher)
        dispatcher.step()  # submits
        dispatcher.close()  # the staged code: a retry stages it again
        call._save()
        return call

    @overload
    def map(
        self,
        *iterables: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: Literal[False] = False,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Iterator[R]: ...

    @overload
    def map(
        self,
        *iterables: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: Literal[True],
        batch_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Iterator[R | BaseException]: ...

    @overload
    def map(
        self,
        *iterables: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Iterator[Any]: ...

    def map(
        self,
        *iterables: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Iterator[R] | Iterator[R | BaseException]:
        """``fn(a[i], b[i], ..., **kwargs)`` for each position of the iterables, as tasks of
        ``batch_size`` inputs, at most ``max_concurrency`` at once. Yields the values in input
        order (``order_outputs=False``: as they end). An input that raised (after its retries)
        raises here and cancels the rest, or, with ``return_exceptions=True``, is yielded as
        its exception in its place."""
        inputs = [(tuple(args), dict(kwargs or {})) for args in zip(*iterables, strict=True)]
        return self._run_many(inputs, order_outputs, return_exceptions, batch_size, max_concurrency)

    def starmap(
        self,
        input_iterator: Iterable[Sequence[Any]],
        *,
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Iterator[Any]:
        """Like :meth:`map`, each item unpacked as the arguments: ``fn(*item, **kwargs)``."""
        inputs = [(tuple(item), dict(kwargs or {})) for item in input_iterator]
        return self._run_many(inputs, order_outputs, return_exceptions, batch_size, max_concurrency)

    def for_each(
        self,
        *iterables: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        """:meth:`map` for the side effects: wait for every input, keep no value."""
        inputs = [(tuple(args), dict(kwargs or {})) for args in zip(*iterables, strict=True)]
        for _ in self._run_many(inputs, False, ignore_exceptions, None, None):
            pass

    def with_options(self, **changes: Any) -> Function[P, R]:
        """The same function with other options (``gpu=``, ``retries=``, ``timeout=``...)."""
        current = {k: v for k, v in asdict(self.options).items() if k != "retries"}
        current["retries"] = self.options.retries
        current["volumes"] = list(current["volumes"]) or None
        merged = {**current, **changes}
        return Function(self.app, self.raw_f, make_options(**merged))

    # -- plumbing --------------------------------------------------------------------------
    def _run_many(
        self,
        inputs: list[tuple[tuple[Any, ...], dict[str, Any]]],
        order_outputs: bool,
        return_exceptions: bool,
        batch_size: int | None,
        max_concurrency: int | None,
    ) -> Iterator[Any]:
        if not inputs:
            return iter(())
        concurrency = int(max_concurrency or self.options.max_containers)
        size = batch_size or self.options.batch_size
        if size is None:
            size = min(max(math.ceil(len(inputs) / concurrency), 1), AUTO_BATCH_MAX)
        dispatcher = self._dispatcher(inputs, batch_size=size, max_concurrency=concurrency)
        return _ordered(dispatcher, len(inputs), order_outputs, return_exceptions)

    def _dispatcher(
        self,
        inputs: list[tuple[tuple[Any, ...], dict[str, Any]]],
        *,
        batch_size: int,
        max_concurrency: int = 1,
    ) -> Dispatcher:
        options = self.options
        provider = options.provider or self.app.provider
        code_dir = Path(options.code_dir or Path.cwd()).absolute()
        function, blobs, header = pack_call(self.raw_f, inputs, code_dir)
        fields: dict[str, Any] = {}
        env = {**self.app.env, **options.env}
        if env:
            fields["env"] = env
        image = options.image or self.app.image
        if image:
            fields["image"] = image
        if options.volumes:
            fields["volumes"] = [dict(v) for v in options.volumes]
        if options.max_price_per_hour is not None:
            fields["max_price_per_hour"] = options.max_price_per_hour
        any_count = None if options.instance_type else any_gpu_count(options.gpu)
        if any_count is not None:
            fields["gpu_count"] = any_count  # any model: Flow.run plans the cheapest offer
        plan = Plan(
            function=header["function"],
            name=_task_name(self.app.name, options.name or self.__name__),
            header=header,
            code_dir=str(code_dir),
            provider=provider,
            instance_types=[] if any_count else self._resolved_instance_types(provider),
            fields=fields,
            python=options.python,
            batch_size=batch_size,
            max_concurrency=max_concurrency,
            retries=options.retries,
            timeout=options.timeout,
        )
        return Dispatcher(plan, function, blobs, flow=self.app.flow)

    def _resolved_instance_types(self, provider: str | None) -> list[str]:
        if self._instance_types is None:
            if self.options.instance_type:
                self._instance_types = [self.options.instance_type]
            elif self.options.gpu:
                self._instance_types = resolve_gpu(
                    self.options.gpu,
                    provider=provider or self.app.flow.config.provider,
                    max_price=self.options.max_price_per_hour,
                )
            else:
                self._instance_types = []
        return self._instance_types


def _rebuild_function(raw_f: Callable[..., Any], options: FunctionOptions) -> Function[Any, Any]:
    return Function(App(), raw_f, options)


def _ordered(
    dispatcher: Dispatcher, count: int, order_outputs: bool, return_exceptions: bool
) -> Iterator[Any]:
    held: dict[int, InputResult] = {}
    next_index = 0
    try:
        for result in dispatcher.results():
            if not result.ok and not return_exceptions:
                raise result.value
            if not order_outputs:
                yield result.value
                continue
            held[result.index] = result
            while next_index in held:
                yield held.pop(next_index).value
                next_index += 1
    finally:
        if dispatcher.unfinished:  # raised, or the caller stopped iterating: stop the rest
            dispatcher.cancel()
        dispatcher.close()


def _task_name(app: str | None, function: str) -> str:
    text = f"{app}-{function}" if app else function
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    return (slug or "function")[:63]


class FunctionCall(Generic[R]):
    """A spawned call (Modal's ``modal.FunctionCall``): ``get``, ``cancel``, ``object_id``.

    Its state lives in ``FLOW_HOME/calls/<object_id>/``, so :meth:`from_id` rebuilds it in any
    later process; retries of a failed input happen while someone waits in :meth:`get`."""

    def __init__(self, object_id: str, dispatcher: Dispatcher) -> None:
        self.object_id = object_id
        self._dispatcher = dispatcher
        self._result: InputResult | None = None

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"

    @classmethod
    def from_id(cls, object_id: str, *, flow: Flow | None = None) -> FunctionCall[Any]:
        """The handle of an earlier ``.spawn()``, by its ``object_id``."""
        if flow is None:
            from flowlib.flow import Flow

            flow = Flow()
        folder = _calls_dir(flow) / object_id
        if not re.fullmatch(r"fc-[0-9a-f]{16}", object_id) or not folder.is_dir():
            raise ResourceNotFoundError(
                f"no function call {object_id!r} in {folder.parent}",
                suggestions=["use the object_id of a `.spawn()` made with this FLOW_HOME"],
            )
        call: FunctionCall[Any] = FunctionCall(object_id, Dispatcher.load(folder, flow=flow))
        outcome = folder / "outcome.pkl"
        if outcome.exists():
            import cloudpickle

            call._result = cloudpickle.loads(outcome.read_bytes())
        return call

    @property
    def task_ids(self) -> list[str]:
        """The tasks that ran it (more than one after retries or a preemption)."""
        return list(self._dispatcher.tasks)

    def get(self, timeout: float | None = None) -> R:
        """The return value, waiting at most ``timeout`` seconds (``0``: only look), else
        :class:`flowlib.TimeoutError`; the remote exception is raised here."""
        if self._result is None:
            try:
                for result in self._dispatcher.results(timeout):
                    self._result = result
            finally:
                self._save()
        if self._result is None:  # pragma: no cover - results() ends only with a result
            raise RemoteError(f"function call {self.object_id} has no result")
        if not self._result.ok:
            raise self._result.value
        return cast(R, self._result.value)

    def cancel(self) -> None:
        """Stop its task; a later :meth:`get` raises :class:`RemoteError`."""
        self._dispatcher.cancel()
        self._save()

    def _save(self) -> None:
        folder = _calls_dir(self._dispatcher.flow) / self.object_id
        self._dispatcher.save(folder)
        if self._result is not None:
            import cloudpickle

            # a value that cannot be pickled again is kept in this process only
            with contextlib.suppress(Exception):
                (folder / "outcome.pkl").write_bytes(cloudpickle.dumps(self._result))


def _calls_dir(flow: Flow) -> Path:
    return Path(flow.config.home) / "calls"
