"""The API's routes, a router per resource: `meters`, `usage`, `admin`, `tariffs`, `links`,
`health`."""
