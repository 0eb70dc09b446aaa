"""The JSON of the dashboard: what each view answers (``/api/...`` and the data inside each
page), so the routes, the views and the page script agree on one shape. Static types only."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from flowlib.catalog._shapes import OfferJson
    from flowlib.metrics import CheckpointJson, MetricRowJson, SummaryJson

__all__ = [
    "ActionAnswer",
    "ArtifactRow",
    "CatalogView",
    "CompareMetric",
    "CompareView",
    "ConfigDifference",
    "InstanceRow",
    "InstancesView",
    "Money",
    "TaskBrief",
    "TaskDetails",
    "TaskPage",
    "TaskRow",
    "TasksPage",
    "WakeAnswer",
]


class Money(TypedDict):
    """A task's price and cost as text (``$1.20``, ``—`` where unknown)."""

    price_per_hour: str
    cost: str


class TaskRow(Money):
    """One line of the tasks table."""

    task_id: str
    name: str
    status: str
    provider: str
    instance_type: str
    created_at: str | None
    age: str
    duration: str
    exit_code: int | None
    message: str | None


class TasksFilters(TypedDict):
    status: str
    provider: str
    name: str


class TasksPage(TypedDict):
    """One page of the tasks table, with its filters."""

    tasks: list[TaskRow]
    page: int
    per_page: int
    total: int
    pages: int
    filters: TasksFilters
    statuses: list[str]
    providers: list[str]
    unanswered: dict[str, str]  # providers that could not be asked, and why (rows as stored)


class TaskDetails(TaskRow):
    """A task row and what the task page shows besides."""

    provider_state: str | None
    started_at: str | None
    completed_at: str | None
    region: str | None
    num_instances: int
    terminal: bool
    workload: str | None  # one line a person reads
    resumed_from: str | None


class TaskBrief(TypedDict):
    """The task page's status poll."""

    task: TaskDetails


class ArtifactRow(TypedDict):
    name: str
    kind: str
    size: int | None
    where: str


class TaskPage(TypedDict):
    """Everything the task page starts with."""

    task: TaskDetails
    config: dict[str, object] | None  # the config view, env values masked
    log: list[str]
    log_lines: int
    log_error: str | None
    metrics: list[MetricRowJson]
    checkpoints: list[CheckpointJson]
    artifacts: list[ArtifactRow]
    plan: list[list[str]] | None  # key/value pairs
    can_resume: bool


class CompareMetric(TypedDict):
    """One metric across the compared runs: its points and summary per run."""

    name: str
    series: dict[str, list[tuple[int, float]]]
    summary: dict[str, SummaryJson]


class ConfigDifference(TypedDict):
    """A config field on which the runs differ, and each run's value."""

    field: str
    values: dict[str, str]


class CompareView(TypedDict):
    tasks: list[TaskRow]
    metrics: list[CompareMetric]
    config_differences: list[ConfigDifference]


class InstanceRow(TypedDict):
    """A persistent instance, as the instances page lists it."""

    provider: str
    name: str
    state: str
    described: str
    flavor: object
    region: object
    running: object
    queue: list[object]
    sleeps_in_s: object
    policy: object


class InstancesView(TypedDict):
    instances: list[InstanceRow]
    problems: list[str]


class CatalogFilters(TypedDict):
    min_gpu_memory_gb: int | str
    max_price_per_hour: float | str
    gpu: str
    provider: str


class CatalogView(TypedDict):
    offers: list[OfferJson]
    filters: CatalogFilters


class ActionAnswer(TypedDict):
    """The answer to a task's button (cancel, resume, rerun)."""

    action: str
    task: TaskRow


class WakeAnswer(TypedDict):
    """The answer to an instance's button (wake, hibernate)."""

    action: str
    instance: str
