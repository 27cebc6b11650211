"""``python -m model_server --score /app/score.py``: serve a scoring script on port 5001."""

from .server import main

raise SystemExit(main())
