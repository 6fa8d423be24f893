"""Recording manifests as the gateway reads them: ``stoa.recording-manifests``, by room,
by recording id and by host."""

import uuid
from datetime import UTC, datetime

from events.deadletter import RawRecord
from events.producer import LogProducer
from events.topicview import TopicView
from schemas.manifest import RecordingManifest
from schemas.topics import RECORDING_MANIFESTS


class ManifestReadModel(TopicView):
    def __init__(self, bootstrap: str, producer: LogProducer, fetch_wait_ms: int = 10) -> None:
        self.by_room: dict[str, RecordingManifest] = {}
        self.by_recording: dict[uuid.UUID, str] = {}
        self.by_host: dict[str, set[str]] = {}
        super().__init__(
            bootstrap, producer, [RECORDING_MANIFESTS.name], "stoa.gateway.manifests",
            fetch_wait_ms,
        )  # fmt: skip

    def _on_record(self, record: RawRecord) -> None:
        manifest = RecordingManifest.model_validate_json(record.value or b"")
        self.by_room[manifest.room_id] = manifest
        self.by_recording[manifest.recording_id] = manifest.room_id
        self.by_host.setdefault(manifest.host_id, set()).add(manifest.room_id)

    def recording(self, recording_id: uuid.UUID) -> RecordingManifest | None:
        room_id = self.by_recording.get(recording_id)
        return self.by_room.get(room_id) if room_id is not None else None

    def of_host(self, host_id: str) -> list[RecordingManifest]:
        """The host's recordings, newest room first."""
        found = [self.by_room[r] for r in self.by_host.get(host_id, ())]
        return sorted(found, key=lambda m: m.started_at or m.ended_at or _EPOCH, reverse=True)


_EPOCH = datetime.min.replace(tzinfo=UTC)
