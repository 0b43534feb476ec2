"""Mediagate processor container."""
