--[[
enroller.util - small string helpers for rules.

    util.dns_name("rabbitmq", c.name)   --> "rabbitmq-my-broker"
    util.fnv1a("abc")                   --> "1a47e90b" (same as enroller.core.hash)
]]

local M = {}

local MAX = 63
local HASH_LEN = 8

--[[[
@function util.fnv1a(s)
@param {string} s
@return {string} 8 hex digits of the 32-bit FNV-1a of s (enroller.core.hash computes the same in C)
]]
function M.fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return ("%08x"):format(h)
end

--[[[
@function util.dns_name(...)
@param {string|number} ... parts, joined with '-'
@return {string} a DNS-1035 label: lower-case, every run of characters outside [a-z0-9] becomes one '-', no '-' at either end, "x-" in front when it would start with a digit, and cut to 63 characters with "-<8 hex of FNV-1a of the uncut name>" when longer.  The same input always gives the same name.  Returns nil, "message" when nothing usable is left.
Raises "[util] dns_name: ..." on a part that is not a string or number.
]]
function M.dns_name(...)
  local parts = table.pack(...)
  local words = {}
  for i = 1, parts.n do
    local p = parts[i]
    local t = type(p)
    if t ~= "string" and t ~= "number" then
      error(("[util] dns_name: argument %d: expected string or number, got %s"):format(i, t), 2)
    end
    words[#words + 1] = tostring(p)
  end
  local s = table.concat(words, "-"):lower():gsub("[^a-z0-9]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  if s == "" then
    return nil, "dns_name: no letters or digits in " .. ("%q"):format(table.concat(words, "-"))
  end
  if s:match("^%d") then s = "x-" .. s end
  if #s > MAX then
    local head = s:sub(1, MAX - HASH_LEN - 1):gsub("%-+$", "")
    s = head .. "-" .. M.fnv1a(s)
  end
  return s
end

return M
