--[[
enroller.web - a rule for "this image serves a web UI on this port", the
shape of most image rules (grafana.lua, prometheus.lua).

    local web = require("enroller.web")
    return web.image_rule {
      name = "grafana",
      description = "Grafana web UI of grafana/grafana* containers",
      title = "Grafana",
      images = { "grafana/grafana", "grafana/grafana-oss" },  -- docker.io/ prefixes added
      port = 3000,                                           -- the label enroller.port overrides
    }

The app is <scheme>://<container ip>:<port> on the network named by the
label enroller.network or the container's only network, named
<name>-<container name>; teleport.dev/ignore=true leaves the container alone.
The images (and their docker.io/ forms) are the rule's match_image, so a
container of any other image never enters the rule's Lua.
]]
local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")

local M = {}

--[[[
@function web.image_rule(spec)
@param {table} spec name, description, title (for the app's description), images (list of image names), port (integer), scheme (default "http"), priority (optional)
@return {table} a rule, as enroller.rule returns it
Raises "[web] image_rule: ..." at the caller's line on a bad spec.
]]
---@param spec {name: string, description: string, title: string, images: string[], port: integer, scheme?: string, priority?: integer}
---@return table
function M.image_rule(spec)
  if type(spec) ~= "table" or type(spec.images) ~= "table" or #spec.images == 0 then
    error("[web] image_rule: images: expected a non-empty list of image names", 2)
  end
  if math.type(spec.port) ~= "integer" or spec.port < 1 or spec.port > 65535 then
    error("[web] image_rule: port: expected an integer from 1 to 65535", 2)
  end
  if type(spec.title) ~= "string" then
    error("[web] image_rule: title: expected string", 2)
  end
  local images, names, scheme = {}, {}, spec.scheme or "http"
  for _, repo in ipairs(spec.images) do
    if type(repo) ~= "string" then error("[web] image_rule: images: expected a list of image names", 2) end
    for _, name in ipairs({ repo, "docker.io/" .. repo }) do
      images[name] = true
      names[#names + 1] = name
    end
  end
  return enroller.rule {
    name = spec.name,
    description = spec.description,
    priority = spec.priority,
    match_image = names,   -- the pre-filter: checked in C before match()

    match = function(c)
      local image = c.image_name
      if not images[image] then
        return false, ("image %s is not %s"):format(image, spec.title)
      end
      local ignored, why = util.ignored(c)
      if ignored then return false, why end
      return true, "image " .. image
    end,

    apps = function(c)
      local ip = util.app_address(c)
      if not ip then return {} end
      local port = math.tointeger(tonumber(c:label("enroller.port", spec.port)))
      if port == nil then
        error(("label enroller.port: '%s' is not a port number"):format(c:label("enroller.port")), 0)
      end
      return {
        {
          name = util.dns_name(spec.name, c.name),
          uri = util.uri(scheme, ip, port),
          description = ("%s of container %s"):format(spec.title, c.name),
          labels = labels.container_identity(c),
        },
      }
    end,
  }
end

return M
