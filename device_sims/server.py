"""One simulator on the network: a pymodbus Modbus TCP server in front of a :class:`SunSpecInverter`.

This uses pymodbus 3.16's non-deprecated server path: a ``SimDevice`` holding
one ``SimData`` block of registers at 40000, served by ``ModbusTcpServer``,
with an ``action`` coroutine that pymodbus runs before every request. The
action is where the device lives:

* before a read, it advances the device to now and writes the measurements
  into the register list that pymodbus will answer from (in place);
* before a write, it validates and applies the write itself (returning a
  Modbus exception when it refuses), lets the device react (timers, curve
  adoption, state changes), and then updates the request's values in place so
  that pymodbus's own store of them keeps whatever the device changed.

The register list handed to the action is pymodbus's own; the device adopts it
on the first request (until then it keeps an identical list of its own).
"""

from __future__ import annotations

import asyncio

from pymodbus.constants import ExcCodes
from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from .inverter import SunSpecInverter
from .registers import BASE_ADDR

_WRITE_REGISTER_FCS = {6, 16, 22, 23}
_WRITE_COIL_FCS = {5, 15}


class SimulatorServer:
    """A Modbus TCP listener for one device (one unit id) on ``host:port`` (port 0: any free port)."""

    def __init__(self, device: SunSpecInverter, host: str = "127.0.0.1", port: int = 0) -> None:
        self.device = device
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._server: ModbusTcpServer | None = None

    def identity(self) -> ModbusDeviceIdentification:
        np = self.device.nameplate
        return ModbusDeviceIdentification(
            info_name={
                "VendorName": np.manufacturer,
                "ProductCode": np.model,
                "MajorMinorRevision": np.version,
                "ProductName": f"SunSpec {np.kind} inverter simulator",
                "ModelName": np.model,
                "UserApplicationName": np.serial,
            }
        )

    async def start(self) -> int:
        """Listen (call inside a running event loop); returns the port."""
        dev = self.device
        simdevice = SimDevice(
            id=dev.unit_id,
            simdata=[SimData(address=BASE_ADDR, values=list(dev.image.regs), datatype=DataType.REGISTERS)],
            identity=self.identity(),
            action=self._action,
        )
        server = ModbusTcpServer(simdevice, address=(self.host, self.requested_port), identity=self.identity())
        await server.serve_forever(background=True)
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or ()
        self.port = sockets[0].getsockname()[1] if sockets else self.requested_port
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        listener = server.transport
        await server.shutdown()
        if listener is not None and hasattr(listener, "wait_closed"):
            try:
                await asyncio.wait_for(listener.wait_closed(), 1.0)
            except (asyncio.TimeoutError, Exception):  # pragma: no cover - best effort
                pass

    @property
    def running(self) -> bool:
        return self._server is not None

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        dev = self.device
        if start_address != BASE_ADDR:  # pragma: no cover - the device has one block at 40000
            return ExcCodes.DEVICE_FAILURE
        img = dev.image
        if registers is not img.regs:
            img.adopt(registers)
        now = dev.clock.now()
        dev.requests += 1
        dev.advance(now)
        if set_values is None or function_code not in _WRITE_REGISTER_FCS:
            if function_code in _WRITE_COIL_FCS:
                return ExcCodes.ILLEGAL_FUNCTION
            dev.publish(now)
            return None
        offset = address - BASE_ADDR
        values = [int(v) for v in set_values]
        code = dev.write(offset, values, now)
        if code is not None:
            return ExcCodes(code)
        # pymodbus stores set_values after this returns: keep what the device made of them.
        set_values[:] = registers[offset : offset + len(values)]
        return None
