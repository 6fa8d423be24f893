"""The gateway's path to the room writers: append a command, await its result."""

import asyncio
import time
from uuid import UUID

from events.deadletter import RawRecord
from events.follower import TopicFollower
from events.producer import LogProducer
from schemas.commands import Command, CommandResult
from schemas.topics import COMMAND_RESULTS, COMMANDS

RESEND_AFTER = 3.0
"""Seconds without an answer before the gateway appends the same command again."""


class CommandTimeout(RuntimeError):
    pass


class CommandBus:
    def __init__(self, bootstrap: str, producer: LogProducer, timeout: float) -> None:
        self._producer = producer
        self._timeout = timeout
        self._waiting: dict[UUID, asyncio.Future[CommandResult]] = {}
        self._results = TopicFollower(
            bootstrap, [COMMAND_RESULTS.name], self._on_result, producer, "stoa.gateway.results"
        )
        self.latencies: list[float] = []
        self.resends = 0

    async def start(self) -> None:
        await self._results.start()

    async def stop(self) -> None:
        await self._results.stop()

    def _on_result(self, record: RawRecord) -> None:
        result = CommandResult.model_validate_json(record.value or b"")
        future = self._waiting.pop(result.command_id, None)
        if future is not None and not future.done():
            future.set_result(result)

    async def execute(self, command: Command) -> CommandResult:
        """Append ``command`` keyed by room and wait for the single writer's answer.

        Without an answer after ``RESEND_AFTER`` seconds the same command (same
        ``command_id``) is appended again: a worker that died or lost its
        partition mid-batch may never answer the first copy, and a copy the
        writer already applied is answered from its memory of recent results,
        so resending is safe.
        """
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting[command.command_id] = future
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                while True:
                    # the answer cannot come before the broker has the command, so
                    # wait for both together rather than one after the other
                    stored = await self._producer.enqueue(COMMANDS.name, command.room_id, command)
                    await stored
                    try:
                        return await asyncio.wait_for(asyncio.shield(future), RESEND_AFTER)
                    except TimeoutError:
                        self.resends += 1
        except TimeoutError as exc:
            raise CommandTimeout(command.type) from exc
        finally:
            self._waiting.pop(command.command_id, None)
            self.latencies.append(time.perf_counter() - started)
