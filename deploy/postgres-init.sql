-- Databases of the Outreach stack, for the postgres:15 container of deploy/compose.yaml
-- (run once, by the image's entrypoint, when its data volume is empty).
-- One database per service (the keys of shared.settings.SERVICE_PORTS) plus the keyring's
-- (shared.settings.KEYRING_DATABASE), and Keycloak's. deploy/local/stack.py creates the same set
-- itself (deploy/local/keycloak.py the keycloak database).
CREATE DATABASE contacts;
CREATE DATABASE visits;
CREATE DATABASE coaching;
CREATE DATABASE notifications;
CREATE DATABASE keyring;
CREATE DATABASE keycloak;
