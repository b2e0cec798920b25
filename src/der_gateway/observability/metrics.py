"""The server's Prometheus metrics, each declared once here with its help text (docs/metrics.md is generated
from these declarations: `python -m der_gateway.observability.metrics`).

Two kinds:

- Counted by the code as things happen (REQUESTS, TLS_HANDSHAKES, ...): prometheus_client metrics.  Every one has
  labels, so no value exists until its first .labels(...) call; that lets share_across_processes() switch
  prometheus_client to its multiprocess mode after this module is imported: the parent of `serve --workers N`
  calls it before forking, each worker then keeps its values in files of one directory, and whichever worker
  answers GET /metrics reports the sum over all of them (and over workers that died: counters keep counting).
- Read from the store when scraped (STORE_GAUGES): one query each, made by the admin handler before the text is
  generated; the same in every worker, since the store is shared.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "der_gateway_requests", "HTTP requests answered, by listener (sep: 2030.5, admin, redirect; in-process: the "
    "2030.5 application asked by the admin API for a device's tree), route template "
    "(never the raw path; 'unmatched' when no route matched), method and status.",
    ["listener", "route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "der_gateway_request_seconds", "Seconds from a request's arrival at the application to its answer, by listener "
    "and route template.", ["listener", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


class RequestTally:
    """Requests (REQUESTS, REQUEST_SECONDS) as counted between hand-overs to prometheus-client, which come at most `delay`
    seconds after a request and before every exposition.  A request then costs a dict update and a list append
    instead of two labels() look-ups and a locked write per value (in multiprocess mode, to a mapped file): on a
    cached GET /dcap those were 12% of the server's time."""

    def __init__(self, requests: Counter, request_seconds: Histogram, delay: float = 1.0) -> None:
        self.requests, self.request_seconds, self.delay = requests, request_seconds, delay
        self.counts: dict[tuple[str, str, str, int], int] = {}
        self.seconds: dict[tuple[str, str], list[float]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, listener: str, route: str, method: str, status: int, seconds: float) -> None:
        key = (listener, route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        timed = self.seconds.get(key[:2])
        if timed is None:
            self.seconds[key[:2]] = [seconds]
        else:
            timed.append(seconds)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        counts, self.counts = self.counts, {}
        seconds, self.seconds = self.seconds, {}
        for (listener, route, method, status), n in counts.items():
            self.requests.labels(listener, route, method, str(status)).inc(n)
        for labels, observed in seconds.items():
            child = self.request_seconds.labels(*labels)
            bounds = child._upper_bounds  # the declared buckets, then +Inf
            per_bucket = [0] * len(bounds)
            for amount in observed:
                per_bucket[bisect_left(bounds, amount)] += 1  # the first bucket whose bound is >= amount
            for bucket, n in zip(child._buckets, per_bucket):
                if n:
                    bucket.inc(n)
            child._sum.inc(sum(observed))


REQUEST_TALLY = RequestTally(REQUESTS, REQUEST_SECONDS)

TLS_HANDSHAKES = Counter(
    "der_gateway_tls_handshakes", "TLS handshakes on the 2030.5 listener, by result (ok, failed).", ["result"])
REFUSALS = Counter(
    "der_gateway_refusals", "Refused clients, by kind (tls: the handshake failed, with reasons such as 'no "
    "certificate', 'unknown certificate', 'handshake timeout', 'cipher'; http: a 4xx answer of the 2030.5 listener, "
    "the reason being the status's class such as 'forbidden').", ["kind", "reason"])
OPEN_CONNECTIONS = Gauge(
    "der_gateway_open_connections", "Connections open now, by listener (sep, admin, redirect), all workers summed.",
    ["listener"], multiprocess_mode="livesum")
CACHE_HITS = Counter(
    "der_gateway_cache_hits", "GETs answered from the response cache (server/cache.py), by cache.", ["cache"])
CACHE_MISSES = Counter(
    "der_gateway_cache_misses", "Cacheable GETs the response cache could not answer (built by the handler), by "
    "cache.", ["cache"])
DELIVERIES = Counter(
    "der_gateway_deliveries", "Delivery attempts of the durable outboxes (notifications: 2030.5 Notifications, "
    "sync: enrollment sync messages), by result (delivered, failed, refused: the receiver answered 400).",
    ["outbox", "result"])

COUNTED = (REQUESTS, REQUEST_SECONDS, TLS_HANDSHAKES, REFUSALS, OPEN_CONNECTIONS, CACHE_HITS, CACHE_MISSES,
           DELIVERIES)


@dataclass(frozen=True)
class StoreGauge:
    name: str
    help: str
    labels: tuple[str, ...]


OUTBOX_DEPTH = StoreGauge(
    "der_gateway_outbox_depth", "Items waiting in a durable outbox (notifications; sync: messages queued).",
    ("outbox",))
OUTBOX_OLDEST_SECONDS = StoreGauge(
    "der_gateway_outbox_oldest_seconds", "Age in seconds of the oldest item waiting in an outbox: the delivery lag "
    "(0 when empty).", ("outbox",))
EVENTS = StoreGauge(
    "der_gateway_events", "Events by kind (control: DERControls; utility_event: utility events with stages) and "
    "state (scheduled, active, completed, cancelled).", ("kind", "state"))
END_DEVICES_BY_CONTACT_AGE = StoreGauge(
    "der_gateway_end_devices_by_contact_age", "EndDevices by the age of their client's last contact: within 5m, "
    "within 1h (but not 5m), within 1d (but not 1h), older or never.", ("age",))

STORE_GAUGES = (OUTBOX_DEPTH, OUTBOX_OLDEST_SECONDS, EVENTS, END_DEVICES_BY_CONTACT_AGE)
CONTACT_AGES = (("5m", 300), ("1h", 3600), ("1d", 86400))

Readings = Mapping[StoreGauge, Iterable[tuple[tuple[str, ...], float]]]


class StoreReadings(Collector):
    """The store gauges as read for one scrape."""

    def __init__(self, readings: Readings) -> None:
        self.readings = readings

    def collect(self) -> Iterable[Metric]:
        for gauge, samples in self.readings.items():
            family = GaugeMetricFamily(gauge.name, gauge.help, labels=list(gauge.labels))
            for labels, value in samples:
                family.add_metric(list(labels), value)
            yield family


def shared_directory() -> Path | None:
    """The multiprocess directory, when this process is one of several workers."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path and values.ValueClass is not values.MutexValue else None


def share_across_processes(directory: Path) -> None:
    """From now on this process and its children keep metric values in files under directory, emptied here: call
    before forking the workers, and before any metric has a value."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()


def process_ended(pid: int) -> None:
    """A worker is gone: its open-connection gauges stop counting (its counters go on being summed)."""
    directory = shared_directory()
    if directory is not None:
        mark_process_dead(pid, str(directory))


def exposition(readings: Readings) -> bytes:
    """The Prometheus text of every metric: the counted ones (of all workers when shared) and the store's."""
    REQUEST_TALLY.flush()
    directory = shared_directory()
    if directory is not None:
        counted = CollectorRegistry()
        MultiProcessCollector(counted, str(directory))
    else:
        counted = REGISTRY
    store = CollectorRegistry()
    store.register(StoreReadings(readings))
    return generate_latest(counted) + generate_latest(store)


def documentation() -> str:
    """docs/metrics.md's table of metrics, from the declarations above."""
    kinds = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}
    rows = []
    for metric in COUNTED:
        name = metric._name + ("_total" if isinstance(metric, Counter) else "")
        kind = next(k for cls, k in kinds.items() if isinstance(metric, cls))
        rows.append((name, kind, metric._labelnames, metric._documentation))
    for gauge in STORE_GAUGES:
        rows.append((gauge.name, "gauge (read from the store at scrape time)", gauge.labels, gauge.help))
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for name, kind, labels, text in rows:
        lines.append(f"| `{name}` | {kind} | {', '.join(f'`{label}`' for label in labels)} | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(documentation(), end="")
