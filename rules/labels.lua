-- labels.lua: zero-Lua apps.  Label a container the way Teleport's
-- Kubernetes app discovery reads a Service's annotations and it becomes an
-- app (gravitational/teleport lib/srv/discovery/fetchers/kube_services.go,
-- lib/services/app.go NewApplicationFromKubeService, api/types/constants.go):
--
--   teleport.dev/name                  app name; "-<port>" is appended when
--                                      several ports make several apps
--                                      (default: the container name, made
--                                      DNS-safe with enroller.util.dns_name)
--   teleport.dev/port                  the one container port to publish
--                                      (default: every exposed TCP port)
--   teleport.dev/protocol              http, https or tcp for every port
--                                      (default: 443 -> https, 80 and 8080
--                                      -> http, other ports are skipped;
--                                      enroller never probes a container)
--   teleport.dev/path                  path appended to the URI
--   teleport.dev/public-addr           the app's public address
--   teleport.dev/insecure-skip-verify  "true": skip TLS verification
--   teleport.dev/app-rewrite           JSON {"redirect": [...], "headers":
--                                      [{"name": ..., "value": ...}]}
--                                      (Teleport also takes YAML; here only
--                                      JSON, which is also YAML)
--   teleport.dev/description           the app's description
--   teleport.dev/discovery-type        "db": a database (below); anything
--                                      but "app" or "db": ignored
--   teleport.dev/ignore                "true": ignored
--
-- Databases (Teleport's Kubernetes database discovery, the same labels):
-- teleport.dev/protocol=postgres (mysql, mongodb, redis, cockroachdb, ...;
-- enroller.labels.DB_PORTS) or teleport.dev/discovery-type=db makes the
-- container one database (enroller.labels.database): named by
-- teleport.dev/name (default: the container name), at <ip>:<port>
-- (mongodb://<ip>:<port> for mongodb), the port from teleport.dev/port,
-- else the protocol's usual port if exposed, else the only exposed port.
--
-- Differences from Kubernetes, because a container is not a Service:
--   * opt-in: a container is taken only if it carries teleport.dev/name,
--     teleport.dev/port, teleport.dev/protocol or
--     teleport.dev/discovery-type=app or db (Teleport takes every Service its
--     matcher selects; enroller would otherwise grab every container);
--   * the URI's host is the container's address on the network named by the
--     label enroller.network, or on its only network;
--   * app labels are the container's labels minus teleport.dev/* and
--     com.docker.*, plus container.name/image/id/hostname.
--
-- Precedence: priority 100, so for a labelled container this rule wins over
-- image rules (rabbitmq, grafana, prometheus: priority 0) and the generic
-- http rule (50).  teleport.dev/ignore=true keeps every rule away only if
-- those rules check it; the shipped ones do.
--
-- Bad labels (a port the container does not expose, a protocol other than
-- http/https/tcp or a database protocol, a name Teleport would reject, rewrite JSON that does not
-- parse) are a rule error for that container: its apps are left as they
-- are and `enroller explain` shows the message.

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")
local core = require("enroller.core")
local schema = require("enroller.schema")

local P = "teleport.dev/"
local PROTOCOLS = { http = true, https = true, tcp = true }

local function opted_in(c)
  if c:has_label(P .. "name") or c:has_label(P .. "port") or c:has_label(P .. "protocol") then
    return true
  end
  local dtype = c:label(P .. "discovery-type")
  return dtype == "app" or dtype == "db"
end

-- Teleport's autoProtocolDetection without the network probe.
local function auto_protocol(port)
  if port == 443 then return "https" end
  if port == 80 or port == 8080 then return "http" end
  return nil
end

local function rewrite_of(c)
  local text = c:label(P .. "app-rewrite")
  if text == nil or text == "" then return nil end
  local rw, err = core.json_decode(text)
  if rw == nil then
    error(("label %sapp-rewrite: %s"):format(P, err), 0)
  end
  if type(rw) ~= "table" then
    error(("label %sapp-rewrite: expected a JSON object"):format(P), 0)
  end
  -- the field names of Teleport's types.Rewrite; the app schema checks them
  return { redirect = rw.redirect, headers = rw.headers }
end

return enroller.rule {
  name = "labels",
  description = "apps and databases from teleport.dev/* container labels, as Teleport's Kubernetes discovery",
  priority = 100,

  match = function(c)
    if c:label(P .. "ignore") == "true" then return false, P .. "ignore=true" end
    local dtype = c:label(P .. "discovery-type")
    if dtype ~= nil and dtype ~= "app" and dtype ~= "db" then return false, P .. "discovery-type=" .. dtype end
    if not opted_in(c) then
      return false, "no teleport.dev/name, /port, /protocol or /discovery-type=app|db label"
    end
    return true, "teleport.dev/ labels present"
  end,

  apps = function(c)
    local protocol = c:label(P .. "protocol")
    if c:label(P .. "discovery-type") == "db" or labels.is_db_protocol(protocol) then
      return { labels.database(c) }
    end
    local ip = util.app_address(c)
    if not ip then return {} end
    if protocol ~= nil and not PROTOCOLS[protocol] then
      -- Teleport falls back to detection; a typo should be seen instead
      error(("label %sprotocol: '%s' is not http, https, tcp or a database protocol"):format(P, protocol), 0)
    end

    local ports = util.tcp_ports(c)
    local want = c:label(P .. "port")
    if want ~= nil then
      local n = tonumber(want)
      local found = false
      for _, p in ipairs(ports) do
        if p == n then found = true end
      end
      if not found then
        error(("label %sport: port %s is not among the container's TCP ports (%s)")
          :format(P, want, #ports > 0 and table.concat(ports, ", ") or "none"), 0)
      end
      ports = { n }
    end

    local chosen = {}
    for _, port in ipairs(ports) do
      local proto = protocol or auto_protocol(port)
      if proto then chosen[#chosen + 1] = { port = port, proto = proto } end
    end

    local base = c:label(P .. "name")
    local app_labels = labels.merge(labels.valid(labels.without(c.labels, P, "com.docker.")),
                                    labels.container_identity(c))
    local rewrite = rewrite_of(c)
    local out = {}
    for _, ch in ipairs(chosen) do
      local name
      if base then
        name = #chosen > 1 and (base .. "-" .. ch.port) or base
        if not schema.is_dns_label(name) then
          error(("label %sname: '%s' is not a valid app name (lower-case letters, digits and '-', "
            .. "starting with a letter, at most 63 characters)"):format(P, name), 0)
        end
      else
        if #chosen > 1 then
          name = assert(util.dns_name(c.name, ch.port))
        else
          name = assert(util.dns_name(c.name))
        end
      end
      out[#out + 1] = {
        name = name,
        uri = util.uri(ch.proto, ip, ch.port, c:label(P .. "path")),
        description = c:label(P .. "description", ("Docker container %s (%s)"):format(c.name, c.image)),
        labels = app_labels,
        public_addr = c:label(P .. "public-addr"),
        insecure_skip_verify = c:label(P .. "insecure-skip-verify") == "true" or nil,
        rewrite = rewrite,
      }
    end
    return out
  end,
}
