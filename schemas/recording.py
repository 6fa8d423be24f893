"""Where a room's recording lives: its id and the keys of its objects in the object store.

One recording per room, its id derived from the room id, so the recorder, a
restarted recorder, the manifest projection and the gateway agree on it
without asking each other. Keys are plain paths under ``recordings/{id}/``:
deleting a recording deletes that prefix.
"""

import uuid

RECORDINGS_NAMESPACE = uuid.UUID("6f1d2c0e-6a0b-4c36-9d0e-2f0a7f3b9a51")
CHUNK_SECONDS = 5.0
"""A chunk holds this much of the room (250 frames of 20 ms): what a recorder crash may lose."""
CHUNK_FRAMES = 250


def recording_id_for(room_id: str) -> uuid.UUID:
    return uuid.uuid5(RECORDINGS_NAMESPACE, room_id)


def prefix(recording_id: uuid.UUID) -> str:
    return f"recordings/{recording_id}/"


def chunk_key(recording_id: uuid.UUID, index: int) -> str:
    """Chunk ``index`` holds the room's seqs ``[250·index, 250·index + 250)``."""
    return f"{prefix(recording_id)}chunks/{index:08d}.rec"


def web_key(recording_id: uuid.UUID) -> str:
    """The finished recording for web players: Ogg Opus, the room's own packets, seekable."""
    return f"{prefix(recording_id)}audio.opus"


def podcast_key(recording_id: uuid.UUID) -> str:
    """The finished recording for podcast apps: AAC in MP4 (``.m4a``), moov first."""
    return f"{prefix(recording_id)}audio.m4a"


def clip_key(recording_id: uuid.UUID, clip_id: uuid.UUID) -> str:
    return f"{prefix(recording_id)}clips/{clip_id}.opus"
