"""Measuring tools behind `python -m bot eval` and `python -m bot bench`: answer quality, speed and memory.

They drive the engine as the bot does, and may reach further into it than a front end would.
"""
