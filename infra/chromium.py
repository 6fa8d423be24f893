"""Debian's Chromium as Stoa drives it, in tests and benchmarks (never a downloaded browser)."""

CHROMIUM = "/usr/bin/chromium"
HEADLESS_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    # Without these Chromium keeps calling Google's hosts, which this machine cannot reach.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
MEDIA_ARGS = [
    *HEADLESS_ARGS,
    "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]  # fmt: skip
"""A fake microphone and WebRTC over loopback; add ``--use-file-for-fake-audio-capture``."""
