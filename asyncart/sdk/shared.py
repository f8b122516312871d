"""Clients of the sync facade: one per distinct settings, on the portal loop, closed at exit."""

from __future__ import annotations

from asyncart.client.client import Client
from asyncart.config import Settings
from asyncart.sdk import portal

_clients: dict[Settings, Client] = {}


async def shared_client(settings: Settings) -> Client:
    """The open client for ``settings`` (must run on the portal loop)."""
    client = _clients.get(settings)
    if client is None:
        client = _clients[settings] = Client(settings)
    await client.open()
    return client


async def close_shared_clients() -> None:
    """Close every shared client (at exit, or from tests)."""
    clients = list(_clients.values())
    _clients.clear()
    for client in clients:
        await client.close()


portal.on_exit(close_shared_clients)
