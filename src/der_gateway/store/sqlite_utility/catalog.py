"""The asset catalog: asset types and device models."""

from __future__ import annotations

import json
from typing import Any

from ...domain.utility import Conflict, InvalidRequest, Problem, problem
from ..utility_records import AssetTypeRecord, DeviceModelRecord
from . import reads
from .lookups import model_by_name, program_exists, refuse_if_any, unique
from ..sqlite_plumbing import Conn, SQLitePlumbing, inserted_id, present


class CatalogStore(SQLitePlumbing):
    async def asset_types(self) -> list[AssetTypeRecord]:
        return await self._lookup(reads.asset_types)

    async def asset_type(self, asset_type_id: int) -> AssetTypeRecord | None:
        return await self._lookup(reads.asset_type, asset_type_id)

    async def device_models(self, manufacturer: str | None = None) -> list[DeviceModelRecord]:
        return await self._lookup(reads.device_models, manufacturer)

    async def device_model(self, model_id: int) -> DeviceModelRecord | None:
        return await self._lookup(reads.device_model, model_id)

    async def create_asset_type(self, values: dict[str, Any]) -> AssetTypeRecord:
        def create(c: Conn) -> AssetTypeRecord:
            errors: list[Problem] = []
            program_exists(c, values.get("defaultProgramId"), errors)
            refuse_if_any(errors)
            unique(c, "asset_types", "code", values["code"], "code", "asset type", errors)
            if errors:
                raise Conflict(errors)
            asset_type_id = inserted_id(c.execute(
                "INSERT INTO asset_types (code, description, der_type, requires_interconnection, default_program_id) "
                "VALUES (?, ?, ?, ?, ?)", (values["code"], values.get("description"), values["derType"],
                                           int(values.get("requiresInterconnection", False)),
                                           values.get("defaultProgramId"))))
            return present(reads.asset_type(c, asset_type_id), f"asset type {asset_type_id}")
        return await self._in_transaction(create)

    async def update_asset_type(self, asset_type_id: int, values: dict[str, Any]) -> AssetTypeRecord:
        def update(c: Conn) -> AssetTypeRecord:
            errors: list[Problem] = []
            program_exists(c, values.get("defaultProgramId"), errors)
            refuse_if_any(errors)
            columns = {"description": "description", "derType": "der_type",
                       "requiresInterconnection": "requires_interconnection", "defaultProgramId": "default_program_id"}
            for key, column in columns.items():
                if key in values:
                    value = int(values[key]) if key == "requiresInterconnection" else values[key]
                    c.execute(f"UPDATE asset_types SET {column} = ? WHERE id = ?", (value, asset_type_id))
            return present(reads.asset_type(c, asset_type_id), f"asset type {asset_type_id}")
        return await self._in_transaction(update)

    async def delete_asset_type(self, asset_type_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM device_models WHERE asset_type_id = ?", (asset_type_id,)).fetchone()[0]
            if n:
                raise Conflict(f"{n} device model(s) are of this asset type")
            c.execute("DELETE FROM asset_types WHERE id = ?", (asset_type_id,))
        await self._in_transaction(delete)

    async def create_device_model(self, values: dict[str, Any]) -> DeviceModelRecord:
        def create(c: Conn) -> DeviceModelRecord:
            errors: list[Problem] = []
            if c.execute("SELECT 1 FROM asset_types WHERE id = ?", (values["assetTypeId"],)).fetchone() is None:
                errors.append(problem(f"no asset type {values['assetTypeId']}", "assetTypeId"))
            refuse_if_any(errors)
            if model_by_name(c, values["manufacturer"], values["model"]) is not None:
                raise Conflict([problem(f"{values['manufacturer']!r} {values['model']!r} is in the catalog "
                                             "already", "model")])
            model_id = inserted_id(c.execute(
                "INSERT INTO device_models (asset_type_id, manufacturer, model, spec) VALUES (?, ?, ?, ?)",
                (values["assetTypeId"], values["manufacturer"], values["model"], json.dumps(values["spec"]))))
            return present(reads.device_model(c, model_id), f"device model {model_id}")
        return await self._in_transaction(create)

    async def update_device_model(self, model_id: int, values: dict[str, Any]) -> DeviceModelRecord:
        def update(c: Conn) -> DeviceModelRecord:
            if "assetTypeId" in values:
                if c.execute("SELECT 1 FROM asset_types WHERE id = ?", (values["assetTypeId"],)).fetchone() is None:
                    raise InvalidRequest([problem(f"no asset type {values['assetTypeId']}", "assetTypeId")])
                c.execute("UPDATE device_models SET asset_type_id = ? WHERE id = ?", (values["assetTypeId"], model_id))
            if "spec" in values:
                c.execute("UPDATE device_models SET spec = ? WHERE id = ?", (json.dumps(values["spec"]), model_id))
            return present(reads.device_model(c, model_id), f"device model {model_id}")
        return await self._in_transaction(update)

    async def delete_device_model(self, model_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM der_assets WHERE device_model_id = ?", (model_id,)).fetchone()[0]
            if n:
                raise Conflict(f"{n} DER asset(s) are of this model")
            c.execute("DELETE FROM device_models WHERE id = ?", (model_id,))
        await self._in_transaction(delete)
