"""The API's routes, a router per resource: `meters`, `usage`, `admin`, `links`, `health`."""
