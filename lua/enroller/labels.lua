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
function M.container_identity(c)
  return {
    ["container.name"] = c.name,
    ["container.image"] = c.image,
    ["container.id"] = c.id:sub(1, 12),
    ["container.hostname"] = c.hostname,
  }
end

return M
