"""The web chat page: one HTML page, plain CSS and JavaScript, talking to the token API."""
