"""The staff web app of Outreach: a backend-for-frontend that signs staff in at the identity
provider, keeps their tokens on the server and talks to the four services over HTTP."""
