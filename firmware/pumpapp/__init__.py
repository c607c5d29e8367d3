"""pumpapp: the pump application (asyncio tasks over the core, the link and the board layer)."""
