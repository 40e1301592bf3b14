-- grafana.lua: one Teleport app per Grafana container (images grafana/grafana,
-- grafana/grafana-oss, grafana/grafana-enterprise, any tag, from Docker Hub).
--
-- The app is http://<container ip>:3000 on the network named by the label
-- enroller.network or the container's only network; its name is
-- grafana-<container name>.  A container labelled teleport.dev/ignore=true
-- is left alone; one with teleport.dev/ labels is taken by labels.lua
-- (priority 100) instead.  Grafana's port can be moved with the label
-- enroller.port (GF_SERVER_HTTP_PORT is not read: rules see labels, not env).

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")
local core = require("enroller.core")

local DEFAULT_PORT = 3000

local IMAGES = {}
for _, repo in ipairs({ "grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise" }) do
  IMAGES[repo] = true
  IMAGES["docker.io/" .. repo] = true
end

return enroller.rule {
  name = "grafana",
  description = "Grafana web UI of grafana/grafana* containers",

  match = function(c)
    if c:label("teleport.dev/ignore") == "true" then return false, "teleport.dev/ignore=true" end
    if not IMAGES[c.image_name] then return false, "image " .. c.image_name .. " is not Grafana" end
    return true, "image " .. c.image_name
  end,

  apps = function(c)
    local ip, why = util.address(c)
    if not ip then
      core.log("warn", ("%s: no app: %s"):format(tostring(c), why))
      return {}
    end
    local port = math.tointeger(tonumber(c:label("enroller.port", DEFAULT_PORT)))
    if port == nil then
      error(("label enroller.port: '%s' is not a port number"):format(c:label("enroller.port")), 0)
    end
    return {
      {
        name = util.dns_name("grafana", c.name),
        uri = util.uri("http", ip, port),
        description = ("Grafana of container %s"):format(c.name),
        labels = labels.container_identity(c),
      },
    }
  end,
}
