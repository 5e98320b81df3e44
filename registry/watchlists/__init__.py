"""Watchlists: subscribers told when a watched firm is listed, removed or changed."""
