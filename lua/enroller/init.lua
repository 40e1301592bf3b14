--[[
enroller - the rule-writer library's entry point.

    local enroller = require("enroller")
    return enroller.rule {
      name = "rabbitmq",
      description = "RabbitMQ management UI",
      match_image = { "rabbitmq", "*/rabbitmq" },   -- optional pre-filters, checked in C
      match = function(c) return (c.tag or ""):match("management$") ~= nil end,
      apps = function(c) return { { name = "rabbitmq-" .. c.name, uri = "http://..." } } end,
    }

A rule file returns exactly one rule.  rule{} checks its table on the spot
and raises at the caller's line, so mistakes point into the rule file.

match_image (globs on c.image_name) and match_label (label keys, any one
present) are a static pre-filter: the daemon checks them in C and never
calls match() or apps() for a container that fails them.  rule.match(c)
called from Lua (a spec) is the bare function, without the pre-filter.
]]
local schema = require("enroller.schema")

local M = {}

-- Marks tables built by rule{}; the loader accepts nothing else.  The
-- metatable is locked (getmetatable returns its name) and the set of rules
-- built is kept here, so no rule can forge or alter the mark.
local rule_mt = { __name = "enroller.rule", __metatable = "enroller.rule" }
local built = setmetatable({}, { __mode = "k" })

--[[[
@function enroller.rule(spec)
@param {table} spec name (string), description (string), priority (integer, default 0), match_image (string or list: globs on c.image_name), match_label (string or list: label keys, one must be present), match (function(c) -> boolean[, why]), apps (function(c) -> list of app or db tables)
@return {table} the rule (a read-only-by-convention table the loader recognises)
Raises "[enroller] rule{}: ..." at the caller's line on any problem.
]]
---@param spec enroller.rule_spec
---@return enroller.rule_spec
function M.rule(spec)
  if type(spec) ~= "table" then
    error(("[enroller] rule{}: expected a table, got %s"):format(type(spec)), 2)
  end
  local ok, msg = schema.validate(schema.rule, spec)
  if not ok then
    error("[enroller] rule{}: " .. msg, 2)
  end
  local r = {}
  for k, v in pairs(spec) do r[k] = v end
  -- the pre-filter lists are the rule's own: a later change to the
  -- caller's table does not reach the rule
  for _, k in ipairs({ "match_image", "match_label" }) do
    if type(r[k]) == "table" then r[k] = table.move(r[k], 1, #r[k], 1, {}) end
  end
  built[r] = true
  return setmetatable(r, rule_mt)
end

--[[[
@function enroller.is_rule(x)
@param {any} x
@return {boolean} true when x was built by enroller.rule{}
]]
---@param x any
---@return boolean
function M.is_rule(x)
  return built[x] == true
end

return M
