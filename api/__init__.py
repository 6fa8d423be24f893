"""The HTTP gateway: authenticate, validate, append a command, map the result."""
