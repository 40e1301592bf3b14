-- whoami.lua: a custom rule, written for an image enroller ships no rule
-- for (traefik/whoami, a tiny HTTP echo server on port 80), and for
-- PostgreSQL containers as Teleport databases.
--
--   * every traefik/whoami container becomes app whoami-<container name>;
--   * its container labels under "team." become app labels without the
--     prefix (team.owner=alice -> owner=alice), so Teleport roles can
--     select on them;
--   * postgres:* containers produce a kind = "db" resource: it is checked
--     and shown by `enroller explain` and `enroller test-rules`, but not yet
--     written to Teleport.

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")

local function is_whoami(c) return c.image_name == "traefik/whoami" end
local function is_postgres(c) return c.image_name == "postgres" end

return enroller.rule {
  name = "whoami",
  description = "traefik/whoami as an app, postgres as a database",
  -- checked in C first: a container of another image never runs match()
  match_image = { "traefik/whoami", "postgres" },

  match = function(c)
    if is_whoami(c) or is_postgres(c) then return true, "image " .. c.image_name end
    return false, "image " .. c.image_name .. " is neither traefik/whoami nor postgres"
  end,

  apps = function(c)
    local ip, why = util.address(c)
    if not ip then error("no address: " .. why, 0) end
    local lbl = labels.merge(labels.container_identity(c), labels.strip_prefix(c.labels, "team."))
    if is_postgres(c) then
      return { {
        kind = "db",
        name = util.dns_name("pg", c.name),
        protocol = "postgres",
        uri = ip .. ":5432",
        labels = lbl,
      } }
    end
    return { {
      name = util.dns_name("whoami", c.name),
      uri = util.uri("http", ip, 80),
      description = "whoami echo server in container " .. c.name,
      labels = lbl,
    } }
  end,
}
