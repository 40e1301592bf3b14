-- enroller config: containers on several networks; apps use the network the Teleport agent can reach
-- Run from anywhere: relative paths are relative to this file.
--   enroller check -c config.lua      enroller run -c config.lua

owner    (env("ENROLLER_OWNER", "multi-net-host"))   -- must equal app_labels in role.yaml

docker   { host = env("DOCKER_HOST", "unix:///var/run/docker.sock") }

teleport {
  addr     = env("ENROLLER_TELEPORT_ADDR", "127.0.0.1:3025"),
  identity = env("ENROLLER_IDENTITY", "identity"),   -- tctl auth sign --format=file
}

rules    { dir = "rules" }      -- watched: edits apply at once, broken edits are refused

reconcile { resync = minute(1) }

log      { level = env("ENROLLER_LOG_LEVEL", "info") }
