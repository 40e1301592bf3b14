-- prometheus.lua: one Teleport app per Prometheus server container (images
-- prom/prometheus and quay.io/prometheus/prometheus, any tag).
--
-- The app is http://<container ip>:9090 (or the port in the label
-- enroller.port) on the network named by the label enroller.network or the
-- container's only network; its name is prometheus-<container name>.
-- teleport.dev/ignore=true leaves the container alone; teleport.dev/ labels
-- hand it to labels.lua (priority 100).

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")
local core = require("enroller.core")

local DEFAULT_PORT = 9090

local IMAGES = {
  ["prom/prometheus"] = true,
  ["docker.io/prom/prometheus"] = true,
  ["quay.io/prometheus/prometheus"] = true,
}

return enroller.rule {
  name = "prometheus",
  description = "Prometheus web UI of prom/prometheus containers",

  match = function(c)
    if c:label("teleport.dev/ignore") == "true" then return false, "teleport.dev/ignore=true" end
    if not IMAGES[c.image_name] then return false, "image " .. c.image_name .. " is not Prometheus" end
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
        name = util.dns_name("prometheus", c.name),
        uri = util.uri("http", ip, port),
        description = ("Prometheus of container %s"):format(c.name),
        labels = labels.container_identity(c),
      },
    }
  end,
}
