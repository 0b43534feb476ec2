"""Share links: public, expiring, revocable access to a file or an album."""
