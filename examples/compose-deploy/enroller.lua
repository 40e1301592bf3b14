-- enroller's config inside the container (examples/compose-deploy), mounted as /etc/enroller/config.lua.
owner    (env("ENROLLER_OWNER", "compose-host"))   -- must equal app_labels in the role

docker   { host = "unix:///var/run/docker.sock" }

teleport {
  addr     = env("ENROLLER_TELEPORT_ADDR", "teleport.example.com:443"),
  identity = "/var/lib/enroller/identity",          -- mounted read-only, mode 0600, uid 10001
}

rules    { dir = env("ENROLLER_RULES", "/usr/share/enroller/rules") }

log      { level = "info", format = "json" }

http     { listen = "0.0.0.0:9464" }
