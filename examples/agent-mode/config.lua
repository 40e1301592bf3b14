-- enroller config: agent mode (one Teleport Application Service container per app,
-- the registration method of Teleport's guide, done safely)
-- Run from anywhere: relative paths are relative to this file.
--   enroller check -c config.lua      enroller run -c config.lua

owner    (env("ENROLLER_OWNER", "agent-host"))   -- must equal app_labels in role.yaml

docker   { host = env("DOCKER_HOST", "unix:///var/run/docker.sock") }

teleport {
  addr     = env("ENROLLER_TELEPORT_ADDR", "127.0.0.1:3025"),
  identity = env("ENROLLER_IDENTITY", "identity"),   -- tctl auth sign --format=file
}

agent {
  registration = "agent",       -- every app gets an agent; "dynamic": only rules' apps saying so
  image   = "public.ecr.aws/gravitational/teleport-distroless",
  version = env("ENROLLER_AGENT_VERSION", "17"),   -- match your cluster's major version
  addr    = env("ENROLLER_AGENT_ADDR", "teleport.example.com:443"),  -- what the agents dial
  token_ttl = "5m",             -- each join token expires by itself after this
  join_timeout = "2m",          -- an agent not joined by then is removed and retried
}

rules    { dir = "rules" }      -- labels.lua: teleport.dev/* container labels

reconcile { resync = minute(1) }

log      { level = env("ENROLLER_LOG_LEVEL", "info") }
