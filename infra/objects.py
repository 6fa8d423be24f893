"""The object store (``STOA_OBJECT_STORE_URL``): where HLS renditions (and later recordings) live.

One small face over obstore, so the segmenter that writes and the gateway
that serves agree on keys and on what a missing object looks like. The URL
picks the backend: ``file:///dir`` (the default, ``DATA_DIR/objects``) on one
host, ``s3://bucket/prefix`` (``gs://``, ``az://`` ...) when the segmenter runs
elsewhere or several gateways serve; ``memory://`` in unit tests.

The local backend writes each object to a staging file and renames it into
place, so a reader never sees half a segment or half a playlist (measured
here: about 1 ms per put and per get of a few kB, far inside a 200 ms part).
It cannot store object attributes, so content types and cache headers are
the gateway's to set on every answer, whatever the backend.
"""

import contextlib

import obstore
from obstore.store import LocalStore, MemoryStore, ObjectStore, from_url

from infra.settings import Settings


def open_store(url: str) -> ObjectStore:
    """The store at ``url``; a local directory is created if it does not exist."""
    if url.startswith("memory:"):
        return MemoryStore()
    if url.startswith("file:"):
        return from_url(url, mkdir=True)
    return from_url(url)


class ObjectStoreClient:
    """Put, get and delete whole objects by key; async, with "missing" as ``None``."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._attributes = not isinstance(store, (LocalStore, MemoryStore))

    @classmethod
    def from_settings(cls, settings: Settings) -> "ObjectStoreClient":
        return cls(open_store(settings.object_store))

    async def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        """Store ``data`` at ``key`` (replacing it atomically); headers go along where they can."""
        if self._attributes:
            attributes = {"Content-Type": content_type, "Cache-Control": cache_control}
            await obstore.put_async(self.store, key, data, attributes=attributes)
        else:
            await obstore.put_async(self.store, key, data)

    async def get(self, key: str) -> bytes | None:
        try:
            result = await obstore.get_async(self.store, key)
        except FileNotFoundError:
            return None
        return bytes(await result.bytes_async())

    async def head(self, key: str) -> tuple[int, str] | None:
        """``(size, etag)`` of the object at ``key``, or None if there is none."""
        try:
            meta = await obstore.head_async(self.store, key)
        except FileNotFoundError:
            return None
        size, modified = int(meta["size"]), int(meta["last_modified"].timestamp() * 1e6)
        etag = str(meta.get("e_tag") or f"{modified:x}").strip('"')
        return size, f"{etag}-{size:x}"  # the memory backend's e_tag is only a counter

    async def get_range(self, key: str, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` of the object at ``key``, or None if there is none."""
        try:
            data = await obstore.get_range_async(self.store, key, start=start, end=end)
        except FileNotFoundError:
            return None
        return bytes(data)

    async def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        found: list[str] = []
        async for batch in obstore.list(self.store, prefix=prefix):
            found.extend(str(meta["path"]) for meta in batch)
        return sorted(found)

    async def delete(self, keys: list[str]) -> None:
        """Delete ``keys``; one already gone is not an error."""
        if not keys:
            return
        try:
            await obstore.delete_async(self.store, keys)
        except FileNotFoundError:  # the local backend reports a missing key; S3 does not
            for key in keys:
                with contextlib.suppress(FileNotFoundError):
                    await obstore.delete_async(self.store, key)
