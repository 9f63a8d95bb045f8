"""Stand-ins for TikTok, for the tests and the demo only: a stateful fake of the API (``api``),
deterministic synthetic exports with the quirks of real ones (``generator``, served per user by
``archives``) and the demo that runs the whole job against them (``demo``).

Nothing outside the CLI and the tests imports this package: loading real data never needs it.
"""
