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

return M
