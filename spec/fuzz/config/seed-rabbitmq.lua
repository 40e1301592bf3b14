-- enroller config for the RabbitMQ example (see README "Quick start").
-- Declarations only; each is checked when it runs.  scripts/demo sets the
-- ENROLLER_* variables; the defaults suit a local Teleport on loopback.

owner    (env("ENROLLER_OWNER", "demo-docker-host"))

docker   { host = env("DOCKER_HOST", "unix:///var/run/docker.sock") }

teleport {
  addr     = env("ENROLLER_TELEPORT_ADDR", "127.0.0.1:3025"),
  -- `tctl auth sign --format=file --user=enroller --out=identity`
  identity = env("ENROLLER_IDENTITY", "identity"),
  call_timeout = "10s",
}

-- The shipped rules, not a copy, so the example cannot drift from them.
rules    { dir = "../../rules" }

reconcile { resync = minute(1) }

log      { level = env("ENROLLER_LOG_LEVEL", "info") }
