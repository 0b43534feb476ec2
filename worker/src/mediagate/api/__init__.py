"""The HTTP surface (Starlette ASGI): tus uploads, the JSON API, health."""
