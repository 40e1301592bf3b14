--[[
enroller.labels - helpers for the labels a rule puts on an app.

    local lbl = labels.merge(labels.container_identity(c),
                             labels.strip_prefix(labels.filter(c.labels, "teleport.app/"), "teleport.app/"))
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

return M
