"""The Discord front end: client, checks, interaction helpers, message bodies, views and cogs.

Each module imports the discord.py library as `discord` (absolute imports: this package is
`bot.discord` and never shadows it). Of the engine it uses `Engine`, always called off the event
loop, and the plain data in `bot.engine.models`.
"""
