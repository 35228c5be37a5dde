"""`load: streamer`: the server streams the safetensors of the mirror copy from gs:// straight into GPU memory
with the Run:ai Model Streamer (its runtime's streaming flags); nothing lands on disk but config and tokenizer
files in the server's cache."""

from __future__ import annotations

from loads.base import LoadPath


class Streamer(LoadPath):
    name = "streamer"
    streams = True
