"""OpenTelemetry spans: HTTP requests and commands, recorded with the SDK's in-memory exporter."""

from __future__ import annotations

import io

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowlib.core.http import ApiClient, build_client
from flowlib.core.seams import SubprocessRunner
from flowlib.telemetry import command_name, format_tree, route_template, span


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v2/instances/inst_01HZX3K9Q2", "/v2/instances/{id}"),
        ("/v1/core/virtual-machines/4242/start", "/v1/core/virtual-machines/{id}/start"),
        ("/v2/spot/bids/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/v2/spot/bids/{id}"),
        ("/v2/projects?token=abc123", "/v2/projects"),
        ("/v2/instance-types", "/v2/instance-types"),
    ],
)
def test_routes_keep_their_shape_without_ids_or_query(path: str, template: str) -> None:
    assert route_template(path) == template


def test_a_command_is_named_by_its_program_only() -> None:
    assert command_name(["/usr/bin/ssh", "-i", "/k", "ubuntu@1.2.3.4", "cat x"]) == "ssh"
    assert command_name("API_TOKEN=s3cr3t env python train.py --key s3cr3t") == "python"


def test_each_http_request_is_a_span_with_method_route_and_status(
    spans: InMemorySpanExporter,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if "missing" in request.url.path else 200, json={})

    client = build_client(
        "https://api.example.test",
        headers={"Authorization": "Bearer s3cr3t-key"},
        transport=httpx.MockTransport(answer),
    )
    api = ApiClient(client, provider="fcp")
    with span("provider.status", provider="fcp"):
        api.request("GET", "/v2/instances/inst_01HZX3K9Q2", params={"api_key": "s3cr3t-key"})
    with pytest.raises(Exception, match="fcp"):
        api.request("DELETE", "/v2/missing/inst_01HZX3K9Q2")
    http = [s for s in spans.get_finished_spans() if s.name.startswith("HTTP")]
    assert [s.name for s in http] == ["HTTP GET", "HTTP DELETE"]
    get = dict(http[0].attributes or {})
    assert get == {
        "http.request.method": "GET",
        "url.template": "/v2/instances/{id}",
        "server.address": "api.example.test",
        "url.scheme": "https",
        "http.response.status_code": 200,
    }
    parent = next(s for s in spans.get_finished_spans() if s.name == "provider.status")
    assert http[0].parent is not None and http[0].parent.span_id == parent.context.span_id
    assert http[1].attributes is not None and http[1].attributes["http.response.status_code"] == 404
    assert http[1].status.status_code == trace.StatusCode.ERROR
    everything = repr([dict(s.attributes or {}) for s in spans.get_finished_spans()])
    assert "s3cr3t" not in everything


def test_a_subprocess_is_a_span_without_its_arguments(spans: InMemorySpanExporter) -> None:
    result = SubprocessRunner().run(["bash", "-c", "exit 3", "s3cr3t-arg"])
    assert result.returncode == 3
    (cmd,) = spans.get_finished_spans()
    assert cmd.name == "command bash"
    assert dict(cmd.attributes or {}) == {
        "process.executable.name": "bash",
        "flow.command.kind": "subprocess",
        "process.exit.code": 3,
    }


def test_a_failure_marks_the_span_with_the_error_type(spans: InMemorySpanExporter) -> None:
    from flowlib.errors import ValidationError

    with pytest.raises(ValidationError), span("flow.cancel", ref="job"):
        raise ValidationError("task job already ended")
    (failed,) = spans.get_finished_spans()
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert failed.status.description == "task job already ended"
    assert failed.attributes is not None and failed.attributes["error.type"] == "ValidationError"


def test_the_console_tree_indents_children_under_parents(spans: InMemorySpanExporter) -> None:
    with span("flow.run", task_id="task-1", provider="local"), span("provider.submit"):
        pass
    text = format_tree(list(spans.get_finished_spans()))
    lines = text.splitlines()
    assert lines[1].startswith("  flow.run ") and "flow.task.id=task-1" in lines[1]
    assert lines[2].startswith("    provider.submit ")


def test_an_unknown_trace_format_is_a_config_error() -> None:
    from flowlib.errors import ConfigError
    from flowlib.telemetry import console_tracing

    with pytest.raises(ConfigError, match="FLOW_TRACE"):
        console_tracing("xml", stream=io.StringIO())
