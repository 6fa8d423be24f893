"""Every message Stoa puts on the log, as pydantic v2 models.

Internal services consume these topics, so the models here are the contract:
JSON on the wire, one JSON Schema per type exported by ``stoa schemas``.
"""
