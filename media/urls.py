"""Where a room can be heard, as URLs a client follows (join answers, ``moved`` messages)."""


def ws_base(http_base: str) -> str:
    """``http://h:p`` → ``ws://h:p`` (and https → wss)."""
    base = http_base.rstrip("/")
    return "ws" + base.removeprefix("http") if base.startswith("http") else base


def listen_url(http_base: str, room_id: str, token: str) -> str:
    return f"{ws_base(http_base)}/v1/rooms/{room_id}/listen?token={token}"


def hls_url(http_base: str, room_id: str, token: str) -> str:
    return f"{http_base.rstrip('/')}/v1/rooms/{room_id}/hls/index.m3u8?token={token}"
