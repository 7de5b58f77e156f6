"""Telemetry recorded in memory by the OpenTelemetry SDK (no Azure exporter), and a search for personal data in it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


@dataclass
class Recorded:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[Any]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def span(self, name: str) -> Any:
        found = self.spans(name)
        assert len(found) == 1, f"{len(found)} spans named {name}: {[s.name for s in self.spans()]}"
        return found[0]

    def points(self, counter: str) -> list[tuple[dict[str, Any], int | float]]:
        """(attributes, value) of each data point of a counter, cumulative since the fixture started."""
        data = self.reader.get_metrics_data()
        out = []
        for rm in (data.resource_metrics if data else []):
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == counter:
                        assert isinstance(metric.data, Sum), f"{counter} is not a counter"
                        out += [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]
        return out

    def total(self, counter: str, **attrs: Any) -> int | float:
        return sum(v for a, v in self.points(counter) if all(a.get(k) == w for k, w in attrs.items()))

    def every_value(self) -> list[str]:
        """Every attribute value and name of every span, span event and metric data point, as text."""
        values: list[str] = []
        for s in self.spans():
            values.append(s.name)
            values += _texts(s.attributes.items())
            if s.status.description:
                values.append(s.status.description)
            for event in s.events:
                values += _texts(event.attributes.items())
        data = self.reader.get_metrics_data()
        for rm in (data.resource_metrics if data else []):
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for p in metric.data.data_points:
                        assert p.attributes is not None
                        values += _texts(p.attributes.items())
        return values

    def assert_none_contains(self, *secrets: str) -> None:
        values = self.every_value()
        assert values, "nothing was recorded"
        for secret in secrets:
            for value in values:
                assert secret.casefold() not in value.casefold(), f"{secret!r} found in telemetry value {value!r}"


def _texts(items: Iterable[tuple[str, Any]]) -> list[str]:
    out = []
    for key, value in items:
        out.append(key)
        out += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return out


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Spans and metrics of the code under test, kept in memory; the app goes back to the global providers after."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry.use_providers(tracer_provider, MeterProvider(metric_readers=[reader]))
    yield Recorded(exporter, reader)
    telemetry.use_providers(None, None)
