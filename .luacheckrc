-- luacheck configuration (not installed in CI yet; kept for editors).
std = "lua54"
max_line_length = 120

-- busted specs
files["spec/lua/**/*_spec.lua"] = { std = "+busted" }

-- config.lua runs in a closed environment: only these names exist
-- (src/config.c); nothing else may be read or set.
files["examples/**/config.lua"] = {
  std = "none",
  read_globals = { "owner", "docker", "teleport", "rules", "reconcile", "log", "mode",
                   "sec", "minute", "env" },
}

-- rule files get base, string, table, math, utf8 and require only
files["rules/*.lua"] = {
  std = "min",
  read_globals = { "require", "utf8" },
}
