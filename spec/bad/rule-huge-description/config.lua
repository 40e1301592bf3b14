owner "bad-corpus"
docker   { host = "@DOCKER@" }
teleport { addr = "@AUTH@", identity = "identity" }
rules    { dir = "rules" }
