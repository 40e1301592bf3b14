-- http.lua: a generic web app for any container that asks for one with the
-- label enroller.http=true (opt-in, so it never grabs every container).
--
-- The port is, in order: the label enroller.http.port; the container's only
-- exposed TCP port; the only one of its TCP ports that looks like HTTP
-- (80, 443, 3000, 5000, 8000, 8080, 8443, 8888, 9000).  Anything else is a
-- rule error for the container asking for enroller.http.port.  The scheme is
-- the label enroller.http.scheme, else https for 443 and 8443, else http;
-- enroller.http.path is appended.  The app name is the label
-- enroller.http.name, else the container name made DNS-safe.
--
-- Priority 50: above image rules (the user asked explicitly), below
-- labels.lua (teleport.dev/ labels are the more specific request).

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")

local HTTPISH = { [80] = true, [443] = true, [3000] = true, [5000] = true, [8000] = true,
                  [8080] = true, [8443] = true, [8888] = true, [9000] = true }
local TLS = { [443] = true, [8443] = true }

local function pick_port(c)
  local wanted = c:label("enroller.http.port")
  if wanted then
    local n = math.tointeger(tonumber(wanted))
    if n == nil or n < 1 or n > 65535 then
      error(("label enroller.http.port: '%s' is not a port number"):format(wanted), 0)
    end
    return n
  end
  local ports = util.tcp_ports(c)
  if #ports == 1 then return ports[1] end
  local httpish = {}
  for _, p in ipairs(ports) do
    if HTTPISH[p] then httpish[#httpish + 1] = p end
  end
  if #httpish == 1 then return httpish[1] end
  error(("container exposes %s; set the label enroller.http.port"):format(
    #ports == 0 and "no TCP port" or ("TCP ports " .. table.concat(ports, ", "))), 0)
end

return enroller.rule {
  name = "http",
  description = "a web app for containers labelled enroller.http=true",
  priority = 50,
  match_label = "enroller.http",   -- the pre-filter: checked in C before match()

  match = function(c)
    if not util.is_true(c:label("enroller.http")) then return false, "no label enroller.http=true" end
    local ignored, why = util.ignored(c)
    if ignored then return false, why end
    return true, "label enroller.http=true"
  end,

  apps = function(c)
    local ip = util.app_address(c)
    if not ip then return {} end
    local port = pick_port(c)
    local scheme = c:label("enroller.http.scheme", TLS[port] and "https" or "http")
    local name = c:label("enroller.http.name") or assert(util.dns_name(c.name))
    return {
      {
        name = name,
        uri = util.uri(scheme, ip, port, c:label("enroller.http.path")),
        description = ("web app of container %s (%s)"):format(c.name, c.image),
        labels = labels.container_identity(c),
      },
    }
  end,
}
