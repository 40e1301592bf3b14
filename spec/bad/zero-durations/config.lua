owner "bad-corpus"
docker   { host = "@DOCKER@" }
teleport { addr = "@AUTH@", identity = "identity" }
rules    { dir = "rules" }
reconcile { grace = 0, lease = 0, confirm = 0 }
