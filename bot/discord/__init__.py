"""The Discord front end: the bot client, its checks, its message bodies and its cogs.

Each module imports the discord.py library as `discord` (absolute imports: this package is
`bot.discord` and never shadows it). The engine is reached only through `bot.engine.engine.Engine`,
called off the event loop.
"""
