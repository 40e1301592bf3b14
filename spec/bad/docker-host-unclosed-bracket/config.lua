owner "bad-corpus"
docker   { host = "tcp://[::1" }
teleport { addr = "@AUTH@", identity = "identity" }
rules    { dir = "rules" }
