"""SunSpec Modbus TCP devices for the event loop: pysunspec2's blocking client on a bounded thread pool.

pysunspec2's ``SunSpecModbusClientDeviceTCP`` does blocking socket I/O, so every
call runs on a ``ModbusPool`` (one ``ThreadPoolExecutor`` shared by all the
devices of a bridge: its size bounds how many Modbus exchanges are under way at
once, however many devices there are).  Each ``SunSpecDevice`` keeps one TCP
connection open, serializes its own calls, and on any error drops the
connection and tries once more on a new one before reporting ``ModbusError``.

Writes execute the plans of ``sunspec_map`` (``Write`` / ``Await`` steps) in
plan order: consecutive writes whose registers are adjacent go out as one
Modbus request, anything else as a request of its own, so a device never sees
an enable before the setpoint and reversion values that precede it in the plan.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from sunspec2.modbus import modbus as modbus_client
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from . import sunspec_map as sm

T = TypeVar("T")


class ModbusError(Exception):
    """The device could not be reached, or did not answer as a SunSpec device."""


class ModbusRefused(ModbusError):
    """The device answered with a Modbus exception (it refused a write), or refused a curve."""


class ModbusPool:
    """The threads all Modbus I/O runs on."""

    def __init__(self, workers: int = 32) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modbus")
        self.calls = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        self.calls += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class SunSpecDevice:
    """One SunSpec device on Modbus TCP: scan once, read models, execute plans."""

    def __init__(self, host: str, port: int, unit_id: int = 1, *, pool: ModbusPool, timeout: float = 3.0) -> None:
        self.host, self.port, self.unit_id = host, port, unit_id
        self.pool = pool
        self.timeout = timeout
        self._dev: SunSpecModbusClientDeviceTCP | None = None
        self._lock = asyncio.Lock()
        self._io = threading.Lock()  # one thread at a time on the pysunspec2 objects
        self.model_ids: tuple[int, ...] = ()

    @property
    def scanned(self) -> bool:
        return self._dev is not None

    def __repr__(self) -> str:
        return f"SunSpecDevice({self.host}:{self.port} unit {self.unit_id})"

    # -- calls -----------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._lock:
            return await self.pool.run(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        with self._io:
            return fn(*args)

    async def scan(self) -> dict[int, dict[str, Any]]:
        """(Re)scan the device: find its models and read them all.  Returns the snapshot."""
        return await self._call(self._scan)

    async def read(self, model_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
        """Read models (all by default) and return their point dicts: ``{model id: get_dict()}``."""
        return await self._call(self._read, None if model_ids is None else tuple(model_ids))

    async def read_point(self, model_id: int, path: str) -> Any:
        return await self._call(self._read_point, model_id, path)

    async def execute(self, steps: Sequence[sm.Step], *, poll: float = 0.1) -> int:
        """Carry out a plan; returns how many Modbus write requests it took."""
        requests = 0
        for item in sm.batches(steps):
            if isinstance(item, sm.Await):
                await self._await(item, poll)
            else:
                mid, writes = item
                requests += await self._call(self._write, mid, writes)
        return requests

    async def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                await self.pool.run(self._close_quietly, dev)
            except RuntimeError:  # the pool is already shut down
                self._close_quietly(dev)

    # -- in the pool's threads --------------------------------------------------------------

    @staticmethod
    def _close_quietly(dev: SunSpecModbusClientDeviceTCP) -> None:
        try:
            dev.disconnect()  # pysunspec2's close() does nothing for TCP
        except Exception:
            pass

    def _scan(self) -> dict[int, dict[str, Any]]:
        dev = SunSpecModbusClientDeviceTCP(slave_id=self.unit_id, ipaddr=self.host, ipport=self.port,
                                           timeout=self.timeout)
        try:
            dev.scan()  # connects, scans and reads every model, disconnects
            dev.connect()  # then one connection for what follows
        except Exception as exc:
            self._close_quietly(dev)
            raise ModbusError(f"scan of {self.host}:{self.port} failed: {exc}") from exc
        old, self._dev = self._dev, dev
        if old is not None:
            self._close_quietly(old)
        self.model_ids = tuple(k for k in dev.models if isinstance(k, int))
        return sm.snapshot(dev)

    def _device(self) -> SunSpecModbusClientDeviceTCP:
        if self._dev is None:
            raise ModbusError(f"{self.host}:{self.port} has not been scanned")
        return self._dev

    def _retrying(self, fn: Callable[[SunSpecModbusClientDeviceTCP], T]) -> T:
        """Run fn; on a transport error reconnect once and run it again."""
        dev = self._device()
        for attempt in (1, 2):
            try:
                if not dev.is_connected():
                    dev.connect()
                return fn(dev)
            except modbus_client.ModbusClientException as exc:  # the device answered: an exception code
                raise ModbusRefused(f"{self.host}:{self.port} refused: {exc}") from exc
            except ModbusRefused:
                raise
            except Exception as exc:
                self._close_quietly(dev)
                if attempt == 2:
                    raise ModbusError(f"{self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _read(self, model_ids: tuple[int, ...] | None) -> dict[int, dict[str, Any]]:
        def read(dev: SunSpecModbusClientDeviceTCP) -> dict[int, dict[str, Any]]:
            wanted = self.model_ids if model_ids is None else model_ids
            out = {}
            for mid in wanted:
                instances = dev.models.get(mid)
                if instances:
                    instances[0].read()
                    out[mid] = instances[0].get_dict()
            return out
        return self._retrying(read)

    def _read_point(self, model_id: int, path: str) -> Any:
        def read(dev: SunSpecModbusClientDeviceTCP) -> Any:
            point = sm.resolve_point(self._model(dev, model_id), path)
            point.read()
            return point.value
        return self._retrying(read)

    @staticmethod
    def _model(dev: SunSpecModbusClientDeviceTCP, model_id: int) -> Any:
        instances = dev.models.get(model_id)
        if not instances:
            raise ModbusRefused(f"the device has no model {model_id}")
        return instances[0]

    def _write(self, model_id: int, writes: Sequence[sm.Write]) -> int:
        def write(dev: SunSpecModbusClientDeviceTCP) -> int:
            model = self._model(dev, model_id)
            runs: list[tuple[int, bytearray]] = []
            end = None
            for w in writes:
                point = sm.resolve_point(model, w.point)
                try:
                    data = point.info.to_data(w.value, int(point.len) * 2)
                except Exception as exc:
                    raise ModbusRefused(f"{model_id} {w.point} = {w.value}: {exc}") from exc
                addr = model.model_addr + point.offset
                if runs and end == addr:
                    runs[-1][1].extend(data)
                else:
                    runs.append((addr, bytearray(data)))
                end = addr + int(point.len)
            for addr, data in runs:
                dev.write(addr, bytes(data))
            for w in writes:  # keep the local copy in step with the device
                point = sm.resolve_point(model, w.point)
                point.set_value(w.value)
                point.dirty = False
            return len(runs)
        return self._retrying(write)

    async def _await(self, step: sm.Await, poll: float) -> None:
        deadline = time.monotonic() + step.timeout
        while True:
            raw = await self.read_point(step.model, step.point)
            if raw == step.value:
                return
            if step.failed is not None and raw == step.failed:
                raise ModbusRefused(f"{step.model} {step.point} reads {raw} (failed)")
            if time.monotonic() > deadline:
                raise ModbusRefused(f"{step.model} {step.point} did not read {step.value} within {step.timeout} s")
            await asyncio.sleep(poll)
