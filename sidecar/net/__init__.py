"""Outbound HTTP to addresses tenants chose: the URL policy and the client that enforces it.

``policy`` holds the rules (pure: which address may be connected to, and why not);
``client`` holds the aiohttp connector that applies them to every address it is about to
connect to, and the session factory every tenant-URL fetch goes through (docs/adr/0012).
"""
