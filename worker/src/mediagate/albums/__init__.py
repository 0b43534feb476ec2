"""Albums: named collections of a user's files."""
