--[[
enroller - the rule-writer library's entry point.

    local enroller = require("enroller")
    return enroller.rule {
      name = "rabbitmq",
      description = "RabbitMQ management UI",
      match = function(c) return c.image_name == "rabbitmq" end,
      apps = function(c) return { { name = "rabbitmq-" .. c.name, uri = "http://..." } } end,
    }

A rule file returns exactly one rule.  rule{} checks its table on the spot
and raises at the caller's line, so mistakes point into the rule file.
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
@param {table} spec name (string), description (string), priority (integer, default 0), match (function(c) -> boolean[, why]), apps (function(c) -> list of app or db tables)
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
