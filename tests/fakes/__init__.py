"""Loopback fake servers that speak the vendors' wire formats (bind 127.0.0.1, ephemeral ports)."""
