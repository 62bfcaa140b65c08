"""The engine: read the seeds, build and load the index, search, decline, quote.

Plain synchronous Python that knows nothing of Discord or of the terminal; every front end calls
`engine.Engine` and renders the `models.Answer` it returns.
"""
