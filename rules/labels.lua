-- labels.lua: zero-Lua apps.  Label a container the way Teleport's
-- Kubernetes app discovery reads a Service's annotations and it becomes an
-- app (gravitational/teleport lib/srv/discovery/fetchers/kube_services.go,
-- lib/services/app.go NewApplicationFromKubeService, api/types/constants.go):
--
--   teleport.dev/name                  app name; "-<port>" is appended when
--                                      several ports make several apps
--                                      (default: see "Names" below)
--   teleport.dev/port                  the one container port to publish
--                                      (default: every exposed TCP port)
--   teleport.dev/protocol              http, https or tcp for every port
--                                      (default: 443 -> https, 80 and 8080
--                                      -> http, other ports are skipped;
--                                      enroller never probes a container)
--   teleport.dev/path                  path appended to the URI
--   teleport.dev/public-addr           the app's public address (a DNS name:
--                                      no scheme, no port, not an IP)
--   teleport.dev/insecure-skip-verify  "true": skip TLS verification
--                                      (deprecated by tls-mode=insecure)
--   teleport.dev/tls-mode              insecure or verify-full
--   teleport.dev/app-rewrite           JSON {"redirect": [...], "headers":
--                                      [{"name": ..., "value": ...}],
--                                      "jwt_claims": "roles-and-traits" |
--                                      "roles" | "traits" | "none"}
--                                      (Teleport also takes YAML; here only
--                                      JSON, which is also YAML)
--   teleport.dev/description           the app's description
--   teleport.dev/use-any-proxy-public-addr  "true": reachable through every
--                                      public address of the Proxy
--   teleport.dev/required-apps         app names, separated by commas, that
--                                      this app needs (signed in with it)
--   teleport.dev/cors                  JSON {"allowed_origins": [...],
--                                      "allowed_methods": [...],
--                                      "allowed_headers": [...],
--                                      "exposed_headers": [...],
--                                      "allow_credentials": true,
--                                      "max_age": 600}
--   teleport.dev/tcp-ports             "5432,6000-6010": one TCP app,
--                                      tcp://<address> with these ports and
--                                      port ranges (protocol tcp implied)
--   teleport.dev/label.<key>=<value>   publish the app label <key>=<value>
--   teleport.dev/publish-labels        container label keys, separated by
--                                      commas, copied onto the app as they are
--   teleport.dev/db-protocol           not read: an error that says to use
--                                      teleport.dev/protocol=<db protocol>
--                                      (an older enroller's spelling)
--   teleport.dev/discovery-type        "db": a database (below); anything
--                                      but "app" or "db": ignored
--   teleport.dev/ignore                "true": ignored
--
-- Labels are published by choice.  A container's labels often hold secrets
-- (a database password in the environment-style labels some images use, a
-- reverse proxy's basic-auth hash), and anyone allowed to list apps reads
-- every app label.  So an app gets only container.name/image/id/hostname,
-- compose.project/service for Compose containers, the teleport.dev/label.*
-- labels, the keys teleport.dev/publish-labels names, and the keys in
-- PUBLISH below (empty as shipped; edit a copy of this rule to publish,
-- say, "team" or "env*" for every container).
--
-- Names: teleport.dev/name if set.  Otherwise, for a container from Docker
-- Compose, "<service>-<project>" (com.docker.compose.service and .project),
-- as Traefik names its routers; else the container name.  Both are made
-- DNS-safe with enroller.util.dns_name (cut to 63 characters with a hash
-- suffix when longer).  A Compose replica other than the first
-- (com.docker.compose.container-number > 1, which Compose keeps stable
-- across `docker compose up` re-creations and scale-outs) gets "-<number>"
-- after the name, before any "-<port>", so replica 1 keeps the plain name
-- and `docker compose up --scale web=3` adds web-shop-2 and web-shop-3.
-- A one-off container (`docker compose run`, com.docker.compose.oneoff=True)
-- is not taken: it carries the service's labels and would claim its apps.
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
--     teleport.dev/port, teleport.dev/protocol, teleport.dev/tcp-ports or
--     teleport.dev/discovery-type=app or db (Teleport takes every Service its
--     matcher selects; enroller would otherwise grab every container).
--     These label keys are the rule's match_label, so a container with
--     none of them costs no Lua at all;
--   * the URI's host is the container's address on the network named by the
--     label enroller.network, or on its only network.
--
-- Precedence: priority 100, so for a labelled container this rule wins over
-- image rules (rabbitmq, grafana, prometheus: priority 0) and the generic
-- http rule (50).  teleport.dev/ignore=true keeps every rule away only if
-- those rules check it; the shipped ones do.
--
-- Bad labels (a port the container does not expose, a protocol other than
-- http/https/tcp or a database protocol, a name or public address Teleport
-- would reject, a control character in a path, rewrite JSON that does not
-- parse) are a rule error for that container: its apps are left as they are
-- and `enroller explain` shows the message.

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")
local core = require("enroller.core")
local schema = require("enroller.schema")

local P = "teleport.dev/"
local PROTOCOLS = { http = true, https = true, tcp = true }
local COMPOSE = "com.docker.compose."

-- Container label keys published on every app of this rule ("team",
-- "env*" for a prefix).  Empty: only what each container opts into.
local PUBLISH = {}

-- The labels that opt a container in.  They are also the pre-filter
-- (match_label, checked in C): a container with none of them never enters
-- this file's Lua.
local IGNORE, DISCOVERY_TYPE, ONEOFF = P .. "ignore", P .. "discovery-type", COMPOSE .. "oneoff"
local OPT_IN = { P .. "name", P .. "port", P .. "protocol", P .. "tcp-ports", P .. "db-protocol" }
local OPT_IN_LABELS = table.move(OPT_IN, 1, #OPT_IN, 1, {})
OPT_IN_LABELS[#OPT_IN_LABELS + 1] = DISCOVERY_TYPE

local function opted_in(c, dtype)
  for i = 1, #OPT_IN do
    if c:has_label(OPT_IN[i]) then return true end
  end
  return dtype == "app" or dtype == "db"
end

-- Teleport's autoProtocolDetection without the network probe.
local function auto_protocol(port)
  if port == 443 then return "https" end
  if port == 80 or port == 8080 then return "http" end
  return nil
end

local function json_label(c, key)
  local text = c:label(P .. key)
  if text == nil or text == "" then return nil end
  local v, err = core.json_decode(text)
  if v == nil then
    error(("label %s%s: %s"):format(P, key, err), 0)
  end
  if type(v) ~= "table" then
    error(("label %s%s: expected a JSON object"):format(P, key), 0)
  end
  return v
end

local function rewrite_of(c)
  local rw = json_label(c, "app-rewrite")
  if rw == nil then return nil end
  -- the field names of Teleport's types.Rewrite; the app schema checks them
  return { redirect = rw.redirect, headers = rw.headers, jwt_claims = rw.jwt_claims }
end

local function list_label(c, key)
  local text = c:label(P .. key)
  if text == nil then return nil end
  local out = {}
  for item in text:gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- "5432,6000-6010" -> { { port = 5432 }, { port = 6000, end_port = 6010 } }
local function tcp_ports_of(c)
  local items = list_label(c, "tcp-ports")
  if items == nil then return nil end
  local out = {}
  for _, item in ipairs(items) do
    local a, b = item:match("^(%d+)%-(%d+)$")
    if a then
      out[#out + 1] = { port = math.tointeger(tonumber(a)), end_port = math.tointeger(tonumber(b)) }
    elseif item:match("^%d+$") then
      out[#out + 1] = { port = math.tointeger(tonumber(item)) }
    else
      error(("label %stcp-ports: '%s' is not a port or a range such as 6000-6010"):format(P, item), 0)
    end
  end
  if #out == 0 then error(("label %stcp-ports: no port given"):format(P), 0) end
  return out
end

-- The replica number of a Compose container when it is not the first.
local function replica_of(c)
  local n = math.tointeger(tonumber(c:label(COMPOSE .. "container-number") or ""))
  if n and n > 1 then return n end
  return nil
end

-- The app name for this container and (when several apps) this port.
local function app_name(c, port)
  local replica = replica_of(c)
  local explicit = c:label(P .. "name")
  if explicit then
    local name = explicit
    if replica then name = name .. "-" .. replica end
    if port then name = name .. "-" .. port end
    if not schema.is_dns_label(name) then
      error(("label %sname: '%s' is not a valid app name (lower-case letters, digits and '-', "
        .. "starting with a letter, at most 63 characters)"):format(P, name), 0)
    end
    return name
  end
  local parts
  local service, project = c:label(COMPOSE .. "service"), c:label(COMPOSE .. "project")
  if service and project then
    parts = { service, project }
  else
    parts = { c.name }
  end
  if replica then parts[#parts + 1] = replica end
  if port then parts[#parts + 1] = port end
  return assert(util.dns_name(table.unpack(parts)))
end

local function path_of(c)
  local path = c:label(P .. "path")
  if path and path:find("[%z\1-\31\127]") then
    error(("label %spath: contains a control character"):format(P), 0)
  end
  return path
end

return enroller.rule {
  name = "labels",
  description = "apps and databases from teleport.dev/* container labels, as Teleport's Kubernetes discovery",
  priority = 100,
  match_label = OPT_IN_LABELS,

  match = function(c)
    if c:label(IGNORE) == "true" then return false, IGNORE .. "=true" end
    local dtype = c:label(DISCOVERY_TYPE)
    if dtype ~= nil and dtype ~= "app" and dtype ~= "db" then return false, DISCOVERY_TYPE .. "=" .. dtype end
    if c:label(ONEOFF) == "True" then
      return false, ONEOFF .. "=True (a `docker compose run` container)"
    end
    if not opted_in(c, dtype) then
      return false, "no teleport.dev/name, /port, /protocol, /tcp-ports or /discovery-type=app|db label"
    end
    return true, "teleport.dev/ labels present"
  end,

  apps = function(c)
    local protocol = c:label(P .. "protocol")
    local old = c:label(P .. "db-protocol")
    if old then
      -- one spelling for the database protocol, Teleport's: kept opted in
      -- so that a container still labelled the old way is told, not skipped
      error(("label %sdb-protocol is not read: use %sprotocol=%s"):format(P, P, old), 0)
    end
    if c:label(P .. "discovery-type") == "db" or labels.is_db_protocol(protocol) then
      local db = labels.database(c)
      if db then db.name = app_name(c, nil) end -- named as an app is: Compose-aware
      return { db }
    end
    local ip = util.app_address(c)
    if not ip then return {} end
    if protocol ~= nil and not PROTOCOLS[protocol] then
      -- Teleport falls back to detection; a typo should be seen instead
      error(("label %sprotocol: '%s' is not http, https, tcp or a database protocol"):format(P, protocol), 0)
    end
    local app_labels = labels.merge(labels.published(c, PUBLISH), labels.compose_identity(c),
                                    labels.container_identity(c))
    local description = c:label(P .. "description", ("Docker container %s (%s)"):format(c.name, c.image))
    local tcp_ports = tcp_ports_of(c)
    if tcp_ports and protocol ~= nil and protocol ~= "tcp" then
      error(("label %stcp-ports: needs protocol tcp, not '%s'"):format(P, protocol), 0)
    end

    local chosen = {}
    if not tcp_ports then
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
      for _, port in ipairs(ports) do
        local proto = protocol or auto_protocol(port)
        if proto then chosen[#chosen + 1] = { port = port, proto = proto } end
      end
    end

    local tls_mode = c:label(P .. "tls-mode")
    local common = {
      description = description,
      labels = app_labels,
      public_addr = c:label(P .. "public-addr"),
      insecure_skip_verify = c:label(P .. "insecure-skip-verify") == "true" or nil,
      tls = tls_mode and { mode = tls_mode } or nil,
      use_any_proxy_public_addr = util.is_true(c:label(P .. "use-any-proxy-public-addr")) or nil,
      required_apps = list_label(c, "required-apps"),
      cors = json_label(c, "cors"),
      rewrite = rewrite_of(c),
    }
    local function app(name, uri)
      local a = { name = name, uri = uri }
      for k, v in pairs(common) do a[k] = v end
      return a
    end

    local path = path_of(c)
    if tcp_ports then
      -- Teleport wants tcp://host without a port when tcp_ports is set
      local a = app(app_name(c, nil), "tcp://" .. (ip:find(":", 1, true) and ("[" .. ip .. "]") or ip))
      a.tcp_ports = tcp_ports
      return { a }
    end
    local out = {}
    for _, ch in ipairs(chosen) do
      local name = app_name(c, #chosen > 1 and ch.port or nil)
      out[#out + 1] = app(name, util.uri(ch.proto, ip, ch.port, path))
    end
    return out
  end,
}
