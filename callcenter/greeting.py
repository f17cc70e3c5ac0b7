"""What the agent says first on a call it answers, unless staff set another greeting (the web
call page's and each phone line's, in the admin). Plain text, free of Django: the scripted
callers of the tests read it on hosts without the project's settings."""

DEFAULT_GREETING = "Welcome to the service desk. Please tell me your vehicle's VIN."
