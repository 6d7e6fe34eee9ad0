"""People: the custom user model, registration, login and logout."""
