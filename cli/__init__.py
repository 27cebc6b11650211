"""The ``model-factory`` command line (``main``) and its helpers: the factory's HTTP client, following runs
across a devhost restart, plain-text tables. Not deployed (``.funcignore``); it may use the local adapters and
``localstack``, and nothing in the domain may import it."""
