--[[
enroller.util - small string helpers for rules.

    util.dns_name("rabbitmq", c.name)   --> "rabbitmq-my-broker"
    util.fnv1a("abc")                   --> "1a47e90b" (same as enroller.core.hash)
    util.uri("http", "10.0.0.2", 3000)  --> "http://10.0.0.2:3000"
    local ip, why = util.address(c)     -- network from label enroller.network, or the only one
    util.tcp_ports(c)                   --> { 3000, 9090 } (exposed TCP ports, ascending)
    local ip = util.app_address(c)      -- the same, or nil after a warning: no app
    if util.ignored(c) then ... end     -- teleport.dev/ignore=true
]]

local core = require("enroller.core")

local M = {}

--[[[
@function util.fnv1a(s)
@param {string} s
@return {string} 8 hex digits of the 32-bit FNV-1a of s (enroller.core.hash computes the same in C)
]]
---@param s string
---@return string
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
---@param ... string|number
---@return string|nil name
---@return string|nil why
function M.dns_name(...)
  -- the label is built in C (src/lua/lua_core.c core.dns_name)
  local s, x, t = core.dns_name(...)
  if s then return s end
  if s == false then
    error(("[util] dns_name: argument %d: expected string or number, got %s"):format(x, t), 2)
  end
  return nil, "dns_name: no letters or digits in " .. ("%q"):format(x)
end

--[[[
@function util.uri(scheme, host, port, path)
@param {string} scheme "http", "https", "tcp", ...
@param {string} host an IP address (IPv6 gets brackets) or host name
@param {integer} port
@param {string} path optional; a leading '/' is added when missing
@return {string} "scheme://host:port/path"
Raises "[util] uri: ..." on a wrong argument.
]]
---@param scheme string
---@param host string
---@param port integer
---@param path? string
---@return string
function M.uri(scheme, host, port, path)
  if type(scheme) ~= "string" or not scheme:match("^%a[%w+.-]*$") then
    error(("[util] uri: argument 1: expected a scheme, got %s"):format(tostring(scheme)), 2)
  end
  if type(host) ~= "string" or host == "" then
    error(("[util] uri: argument 2: expected a host, got %s"):format(tostring(host)), 2)
  end
  if math.type(port) ~= "integer" or port < 1 or port > 65535 then
    error(("[util] uri: argument 3: expected a port 1-65535, got %s"):format(tostring(port)), 2)
  end
  if path ~= nil and type(path) ~= "string" then
    error(("[util] uri: argument 4: expected string, got %s"):format(type(path)), 2)
  end
  if host:find(":", 1, true) and host:sub(1, 1) ~= "[" then host = "[" .. host .. "]" end
  local s = ("%s://%s:%d"):format(scheme, host, port)
  if path and path ~= "" then
    if path:sub(1, 1) ~= "/" then path = "/" .. path end
    s = s .. path
  end
  return s
end

--[[[
@function util.address(c, network)
@param {enroller.container} c
@param {string} network optional; default: the container label enroller.network, else the only network
@return {string} the container's IPv4 address there, or nil and why not
]]
---@param c enroller.container
---@param network? string
---@return string|nil ip
---@return string|nil why
function M.address(c, network)
  return c:ip(network or c:label("enroller.network"))
end

--[[[
@function util.app_address(c)
@param {enroller.container} c
@return {string} the address as util.address gives it, or nil after a warning naming the container and why (a rule then produces no app for it)
]]
---@param c enroller.container
---@return string|nil ip
function M.app_address(c)
  local ip, why = M.address(c)
  if not ip then
    core.log("warn", ("%s: no app: %s"):format(tostring(c), why))
  end
  return ip
end

--[[[
@function util.ignored(c)
@param {enroller.container} c
@return {boolean} true when the container is labelled teleport.dev/ignore=true, with the reason for match()
]]
---@param c enroller.container
---@return boolean ignored
---@return string|nil why
function M.ignored(c)
  if c:label("teleport.dev/ignore") == "true" then
    return true, "teleport.dev/ignore=true"
  end
  return false
end

--[[[
@function util.tcp_ports(c)
@param {enroller.container} c
@return {table} the container's exposed or published TCP ports (container side), ascending, no duplicates
]]
---@param c enroller.container
---@return integer[]
function M.tcp_ports(c)
  local out, seen = {}, {}
  for _, p in ipairs(c.ports) do
    if p.proto == "tcp" and not seen[p.port] then
      seen[p.port] = true
      out[#out + 1] = p.port
    end
  end
  table.sort(out)
  return out
end

--[[[
@function util.is_true(v)
@param {string|nil} v a label value
@return {boolean} true for "true", "1", "yes", "on" (any case)
]]
---@param v string|nil
---@return boolean
function M.is_true(v)
  if type(v) ~= "string" then return false end
  v = v:lower()
  return v == "true" or v == "1" or v == "yes" or v == "on"
end

return M
