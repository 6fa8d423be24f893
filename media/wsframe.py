"""WebSocket frames built once and written to many connections (RFC 6455, server side).

A relay sends the same bytes to thousands of listeners. Framing them once and
writing the finished frame to each connection's transport costs one
``transport.write`` per listener, which is where the time goes anyway (the
kernel's TCP path); going through a WebSocket library per listener would add
its framing and bookkeeping to every send. Server frames are not masked.
"""

import struct
from typing import Final

OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
FIN: Final = 0x80


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", FIN | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", FIN | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", FIN | opcode, 127, size)
    return header + payload


def binary_frame(payload: bytes) -> bytes:
    return frame(OP_BINARY, payload)


def text_frame(text: str) -> bytes:
    return frame(OP_TEXT, text.encode())
