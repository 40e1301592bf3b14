--[[
enroller.labels - helpers for the labels a rule puts on an app.

    local lbl = labels.merge(labels.container_identity(c),
                             labels.strip_prefix(labels.filter(c.labels, "teleport.app/"), "teleport.app/"))
    local mine = labels.published(c, { "team", "env" })  -- only labels opted into

A container's labels often hold secrets (database passwords, basic-auth
hashes for a proxy) and every Teleport user who may list apps reads an app's
labels: publish by choice (labels.published), never a container's labels
wholesale.
]]

local M = {}

local function check_table(fn, v, i)
  if type(v) ~= "table" then
    error(("[labels] %s: argument %d: expected table, got %s"):format(fn, i, type(v)), 3)
  end
end

local function check_string(fn, v, i)
  if type(v) ~= "string" then
    error(("[labels] %s: argument %d: expected string, got %s"):format(fn, i, type(v)), 3)
  end
end

--[[[
@function labels.filter(t, prefix)
@param {table} t labels (string -> string)
@param {string} prefix
@return {table} a new table with the entries whose key starts with prefix
]]
---@param t table<string,string>
---@param prefix string
---@return table<string,string>
function M.filter(t, prefix)
  check_table("filter", t, 1)
  check_string("filter", prefix, 2)
  local out = {}
  for k, v in pairs(t) do
    if k:sub(1, #prefix) == prefix then out[k] = v end
  end
  return out
end

--[[[
@function labels.strip_prefix(t, prefix)
@param {table} t labels
@param {string} prefix
@return {table} the entries whose key starts with prefix, with prefix removed from the key (empty keys dropped)
]]
---@param t table<string,string>
---@param prefix string
---@return table<string,string>
function M.strip_prefix(t, prefix)
  check_table("strip_prefix", t, 1)
  check_string("strip_prefix", prefix, 2)
  local out = {}
  for k, v in pairs(t) do
    if k:sub(1, #prefix) == prefix and #k > #prefix then out[k:sub(#prefix + 1)] = v end
  end
  return out
end

--[[[
@function labels.prefix(t, prefix)
@param {table} t labels
@param {string} prefix
@return {table} a new table with prefix put in front of every key
]]
---@param t table<string,string>
---@param prefix string
---@return table<string,string>
function M.prefix(t, prefix)
  check_table("prefix", t, 1)
  check_string("prefix", prefix, 2)
  local out = {}
  for k, v in pairs(t) do out[prefix .. k] = v end
  return out
end

--[[[
@function labels.merge(...)
@param {table} ... label tables; later ones win
@return {table} a new table with every entry
]]
---@param ... table<string,string>
---@return table<string,string>
function M.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    check_table("merge", t, i)
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

--[[[
@function labels.container_identity(c)
@param {enroller.container} c
@return {table} container.name, container.image, container.id (12 characters) and, when set, container.hostname
]]
---@param c enroller.container
---@return table<string,string>
function M.container_identity(c)
  return {
    ["container.name"] = c.name,
    ["container.image"] = c.image,
    ["container.id"] = c.id:sub(1, 12),
    ["container.hostname"] = c.hostname,
  }
end

--[[[
@function labels.without(t, ...)
@param {table} t labels
@param {string} ... key prefixes to drop
@return {table} a new table without the entries whose key starts with any prefix
]]
---@param t table<string,string>
---@param ... string
---@return table<string,string>
function M.without(t, ...)
  check_table("without", t, 1)
  local prefixes = { ... }
  for i, p in ipairs(prefixes) do check_string("without", p, i + 1) end
  local out = {}
  for k, v in pairs(t) do
    local keep = true
    for _, p in ipairs(prefixes) do
      if k:sub(1, #p) == p then keep = false break end
    end
    if keep then out[k] = v end
  end
  return out
end

--[[[
@function labels.valid(t)
@param {table} t labels
@return {table} only the entries Teleport accepts as label keys (letters, digits and / . _ * -; not enroller.dev/)
]]
---@param t table<string,string>
---@return table<string,string>
function M.valid(t)
  check_table("valid", t, 1)
  local out = {}
  for k, v in pairs(t) do
    if k:match("^[%w/._*%-]+$") and k:sub(1, 13) ~= "enroller.dev/" then out[k] = v end
  end
  return out
end

--[[[
@function labels.compose_identity(c)
@param {enroller.container} c
@return {table} compose.project and compose.service when the container was made by Docker Compose, else empty
]]
---@param c enroller.container
---@return table<string,string>
function M.compose_identity(c)
  local project = c:label("com.docker.compose.project")
  local service = c:label("com.docker.compose.service")
  if project == nil or service == nil then return {} end
  return { ["compose.project"] = project, ["compose.service"] = service }
end

M.PUBLISH_PREFIX = "teleport.dev/label."
M.PUBLISH_LIST = "teleport.dev/publish-labels"

local function allowed(key, allow)
  for _, a in ipairs(allow) do
    if a == key or (a:sub(-1) == "*" and key:sub(1, #a - 1) == a:sub(1, -2)) then return true end
  end
  return false
end

--[[[
@function labels.published(c, allow)
@param {enroller.container} c
@param {table} allow optional list of container label keys an operator publishes for every container; a key ending in '*' is a prefix
@return {table} only the labels the container or the operator opted into: every teleport.dev/label.<key>=<value> as <key>=<value>; the container's labels named in teleport.dev/publish-labels (keys separated by commas); the container's labels the allow list names.  A teleport.dev/label.<key> wins over a copied label with the same key.
Raises "label teleport.dev/label.<key>: ..." for a key Teleport would refuse.
]]
---@param c enroller.container
---@param allow? string[]
---@return table<string,string>
function M.published(c, allow)
  allow = allow or {}
  check_table("published", allow, 2)
  for i, a in ipairs(allow) do check_string("published", a, i) end
  local all = c.labels
  local out = {}
  for k, v in pairs(all) do
    if allowed(k, allow) then out[k] = v end
  end
  local list = all[M.PUBLISH_LIST]
  if list ~= nil then
    for key in list:gmatch("[^,]+") do
      key = key:match("^%s*(.-)%s*$")
      if key ~= "" and all[key] ~= nil then out[key] = all[key] end
    end
  end
  for k, v in pairs(all) do
    if k:sub(1, #M.PUBLISH_PREFIX) == M.PUBLISH_PREFIX then
      local key = k:sub(#M.PUBLISH_PREFIX + 1)
      if not key:match("^[%w/._*%-]+$") then
        error(("label %s: '%s' is not a Teleport label key (letters, digits and / . _ * -)"):format(k, key), 0)
      end
      out[key] = v
    end
  end
  return out
end

--[[ The database label convention: a container labelled
teleport.dev/protocol=<database protocol> (postgres, mysql, mongodb, redis,
...) or teleport.dev/discovery-type=db is a database, as Teleport's
Kubernetes database discovery reads a Service's annotations
(lib/srv/discovery/fetchers/kube_services.go, lib/services/database.go
NewDatabaseFromKubeService). ]]

-- Protocols a database in a container can speak (api/defaults
-- DatabaseProtocols less the cloud-only ones), with their usual port.
M.DB_PORTS = {
  postgres = 5432, mysql = 3306, mongodb = 27017, redis = 6379, cockroachdb = 26257,
  sqlserver = 1433, cassandra = 9042, elasticsearch = 9200, opensearch = 9200,
  clickhouse = 9000, ["clickhouse-http"] = 8123, oracle = 2484,
}

local function db_protocol_list()
  local out = {}
  for p in pairs(M.DB_PORTS) do out[#out + 1] = p end
  table.sort(out)
  return table.concat(out, ", ")
end

--[[[
@function labels.is_db_protocol(p)
@param {string|nil} p a teleport.dev/protocol value
@return {boolean} true when p names a database protocol a container can serve
]]
---@param p string|nil
---@return boolean
function M.is_db_protocol(p)
  return type(p) == "string" and M.DB_PORTS[p] ~= nil
end

--[[[
@function labels.database(c)
@param {enroller.container} c a container labelled teleport.dev/protocol=<database protocol> or teleport.dev/discovery-type=db
@return {table} the database its labels describe (kind "db", name, protocol, uri, description, labels), or nil when the container has no usable address (util.app_address warns); raises one line naming the label on a bad one
]]
---@param c enroller.container
---@return table|nil
function M.database(c)
  local util = require("enroller.util")
  local schema = require("enroller.schema")
  local P = "teleport.dev/"
  local protocol = c:label(P .. "protocol")
  if protocol == nil then
    error(("label %sprotocol: required for a database (one of %s)"):format(P, db_protocol_list()), 0)
  end
  if not M.is_db_protocol(protocol) then
    error(("label %sprotocol: '%s' is not a database protocol (one of %s)"):format(P, protocol,
      db_protocol_list()), 0)
  end
  local ports = util.tcp_ports(c)
  local port
  local want = c:label(P .. "port")
  if want ~= nil then
    port = math.tointeger(tonumber(want))
    local found = false
    for _, p in ipairs(ports) do
      if p == port then found = true end
    end
    if not found then
      error(("label %sport: port %s is not among the container's TCP ports (%s)")
        :format(P, want, #ports > 0 and table.concat(ports, ", ") or "none"), 0)
    end
  else
    for _, p in ipairs(ports) do
      if p == M.DB_PORTS[protocol] then port = p end
    end
    if port == nil and #ports == 1 then port = ports[1] end
    if port == nil then
      error(("label %sport: required: the container exposes %s, not %s's port %d")
        :format(P, #ports > 0 and ("ports " .. table.concat(ports, ", ")) or "no TCP port", protocol,
          M.DB_PORTS[protocol]), 0)
    end
  end
  local ip = util.app_address(c)
  if not ip then return nil end
  local name = c:label(P .. "name")
  if name == nil then
    name = assert(util.dns_name(c.name))
  elseif not schema.is_dns_label(name) then
    error(("label %sname: '%s' is not a valid database name (lower-case letters, digits and '-', "
      .. "starting with a letter, at most 63 characters)"):format(P, name), 0)
  end
  local uri = ("%s:%d"):format(ip, port)
  if protocol == "mongodb" then uri = "mongodb://" .. uri end
  return {
    kind = "db",
    name = name,
    protocol = protocol,
    uri = uri,
    description = c:label(P .. "description", ("Docker container %s (%s)"):format(c.name, c.image)),
    -- published by choice, as for apps (labels.published): a container's
    -- labels often hold secrets
    labels = M.merge(M.published(c), M.compose_identity(c), M.container_identity(c)),
  }
end

return M
