"""Media plane: WebRTC ingest (WHIP), mixing, and delivery to listeners (WebSocket, WHEP)."""
