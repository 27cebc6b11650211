"""A small, fast HTTP server for an Azure ML scoring script (``init()`` / ``run(raw_data)``).

Standard library only: this package is copied into every model image as ``model_server`` and must not
import anything from ``factory``. One process, one asyncio event loop, HTTP/1.1 keep-alive.
"""

DEFAULT_PORT = 5001
DEFAULT_MAX_BODY = 1024 * 1024
