"""Speech-to-text for live rooms: one streaming ``Transcriber`` face over several engines.

``transcriber`` holds the interface and result types, ``whisper`` and ``vosk`` the
engines, ``engines`` picks one from settings, ``resample`` brings the mix's 48 kHz
audio to the 16 kHz the engines want, and ``wer`` scores a transcript against a
reference. Engines are imported lazily, so importing this package loads no model.
"""
