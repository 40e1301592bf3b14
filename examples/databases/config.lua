-- enroller config: databases (official postgres/mysql/mariadb/mongo/redis
-- images, and any container labelled teleport.dev/protocol=<database protocol>)
-- Run from anywhere: relative paths are relative to this file.
--   enroller check -c config.lua      enroller run -c config.lua

owner    (env("ENROLLER_OWNER", "db-host"))   -- must equal db_labels (and app_labels) in role.yaml

docker   { host = env("DOCKER_HOST", "unix:///var/run/docker.sock") }

teleport {
  addr     = env("ENROLLER_TELEPORT_ADDR", "127.0.0.1:3025"),
  identity = env("ENROLLER_IDENTITY", "identity"),   -- tctl auth sign --format=file
}

rules    { dir = "rules" }      -- databases.lua and labels.lua

reconcile { resync = minute(1), confirm = 30 }   -- report a database no Database Service serves after 30 s

log      { level = env("ENROLLER_LOG_LEVEL", "info") }
