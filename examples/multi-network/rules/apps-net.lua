-- apps-net.lua: containers live on several networks (a private "backend"
-- network for their databases, and "apps", the one network the Teleport
-- application agent is attached to).  Every container labelled
-- example.app.port=<port> becomes an app whose URI uses its address on
-- "apps", whatever other networks it is on.  A container not on "apps"
-- gets no app, and `enroller explain` says why.

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")

local NETWORK = "apps"          -- the network the Teleport agent can reach

return enroller.rule {
  name = "apps-net",
  description = "apps on the '" .. NETWORK .. "' network for containers labelled example.app.port",
  -- checked in C first: a container without the label never runs match()
  match_label = "example.app.port",

  match = function(c)
    if not c:has_label("example.app.port") then return false, "no label example.app.port" end
    if c.networks[NETWORK] == nil then return false, "not on network " .. NETWORK end
    return true, "labelled and on network " .. NETWORK
  end,

  apps = function(c)
    local port = math.tointeger(tonumber(c:label("example.app.port")))
    if port == nil then
      error(("label example.app.port: '%s' is not a port number"):format(c:label("example.app.port")), 0)
    end
    local ip = assert(util.address(c, NETWORK))
    local networks = {}
    for name in pairs(c.networks) do networks[#networks + 1] = name end
    table.sort(networks)
    return {
      {
        name = util.dns_name(c.name),
        uri = util.uri(c:label("example.app.scheme", "http"), ip, port),
        description = ("%s via network %s"):format(c.name, NETWORK),
        labels = labels.merge(labels.container_identity(c), {
          ["container.networks"] = table.concat(networks, "."),
        }),
      },
    }
  end,
}
