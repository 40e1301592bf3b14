owner "bad-corpus"
docker   { host = "@DOCKER@" }
teleport { addr = "@AUTH@", identity = "identity" }
rules    { dir = "rules" }
reconcile { resync = 60, grase = 30 }
