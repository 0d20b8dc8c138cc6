"""Digital River Commerce API: the HTTP client (`client.CommerceClient`) and the token policy.

Nothing here imports Flask: the views call into this package, never the other way round.
"""
