"""The files API's domain: listing, signed links, regions, batch ZIP."""
