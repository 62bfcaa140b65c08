"""A Discord-compatible server on 127.0.0.1 (`server`) and the real `python -m bot run` against it (`process`)."""
