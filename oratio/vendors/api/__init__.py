"""The vendor API's HTTP layer, registered on the Powertools resolver by `lambdas/vendor_api/handler.py`:
`responses` (error bodies, statuses and their OpenAPI documentation), `context` (what every route needs from
the request), and one module of routes per resource (`agent_routes`, `version_routes`, `resource_routes`)."""
