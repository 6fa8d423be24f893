"""The media plane of one process (the mixing node): hubs, WHIP, WHEP, enforcement, routing.

One object to start and stop from the gateway's lifespan. Rooms must be
routed to one media process (sticky by room id) when several run: a room's
mix is made where its speakers publish.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from events.producer import LogProducer
from media.audio_out import RoomAudioLog
from media.captions import CaptionRelay
from media.directory import RelayDirectory
from media.enforcement import Enforcer, Observe
from media.journal import MediaEventLog
from media.room import RoomHubs, RoomServices
from media.routing import Routes
from media.sfu import Sfu
from media.tokens import MediaTokens
from media.whep import WhepServer
from projections.tiers import Tier
from schemas.captions import CaptionsHealth
from schemas.room import RoomState

STOP_SECONDS = 2.0


class MediaPlane:
    def __init__(
        self,
        bootstrap: str,
        producer: LogProducer,
        state: Callable[[str], RoomState | None],
        view: Callable[[str], dict[str, Any] | None],
        tokens: MediaTokens,
        origin: str,
        tier: Callable[[str], Tier] = lambda room_id: "direct",
        observe_enforcement: Observe = lambda action, seconds: None,
        observe_tick: Callable[[float], None] = lambda seconds: None,
        observe_captions: Callable[[str, CaptionsHealth], None] = lambda room_id, health: None,
    ) -> None:
        self.journal = MediaEventLog(producer)
        self.audio = RoomAudioLog(producer)
        self.directory = RelayDirectory(bootstrap, producer, "stoa.media.relays")
        self.routes = Routes(self.directory, tokens, origin)
        services = RoomServices(
            state, view, self.journal, observe_tick, tier, self.routes, self.audio
        )
        self.hubs = RoomHubs(services)
        self.captions = CaptionRelay(bootstrap, producer, self.hubs, self.journal, observe_captions)
        self.sfu = Sfu(self.hubs)
        self.whep = WhepServer(self.hubs)
        self.enforcer = Enforcer(bootstrap, producer, self.hubs, self.sfu, observe_enforcement)

    def room_changed(self, room_id: str) -> None:
        """Hook for the read model: a room's state or counts changed."""
        self.hubs.room_changed(room_id)

    async def start(self) -> None:
        self.journal.start()
        self.audio.start()
        await self.directory.start()
        await self.enforcer.start()
        await self.captions.start()

    async def stop(self) -> None:
        """Sessions first (they need no broker), then the log clients, each bounded in time.

        On Ctrl-C in a terminal the embedded broker gets the signal too and may
        be gone already; its clients must not hold the shutdown hostage.
        """
        await self.sfu.close()
        await self.whep.close()
        await self.hubs.close()
        await self.journal.stop(drain_seconds=1.0)
        await self.audio.stop(drain_seconds=0.5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.captions.stop(), STOP_SECONDS)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.enforcer.stop(), STOP_SECONDS)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.directory.stop(), STOP_SECONDS)
