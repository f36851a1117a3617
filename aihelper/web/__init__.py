"""What every blueprint shares on the way in and out: the Host allow-list and the request guards,
security headers, asset URLs and static files, request bodies (JSON, uploads, bodies left unread)
and the client's address."""
