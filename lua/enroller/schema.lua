--[[
enroller.schema - closed schemas as data, and the one validator that reads
them (after Kong's schema.lua and rspamd's lua_shape).

    local ok, msg = schema.validate(schema.app, app)
    -- nil, "app field 'urll' is not allowed"

A field is { type = "string"|"boolean"|"function"|"map"|"array"|"record",
required = bool, check = function(v) -> true | nil, msg, description = ... }.
"record" has fields = {...} (closed: other keys are rejected); "array" has
elements = <field>; "map" has keys and values = <field>.
]]

local M = {}

local DNS_LABEL_HELP = "lower-case letters, digits and '-', starting with a letter, at most 63 characters"

--[[[
@function schema.is_dns_label(s)
@param {string} s
@return {boolean} true for a DNS-1035 label: ^[a-z]([-a-z0-9]*[a-z0-9])?$, at most 63 bytes
]]
function M.is_dns_label(s)
  return type(s) == "string" and #s <= 63 and s:match("^[a-z][-a-z0-9]*$") ~= nil and s:sub(-1) ~= "-"
end

local function check_name(v)
  if M.is_dns_label(v) then return true end
  return nil, ("'%s' is not a valid name (%s; enroller.util.dns_name() builds one)"):format(v, DNS_LABEL_HELP)
end

M.RESERVED_PREFIX = "enroller.dev/"

local function check_label_key(k)
  if k:sub(1, #M.RESERVED_PREFIX) == M.RESERVED_PREFIX then
    return nil, ("label '%s' is reserved (the daemon writes %s labels)"):format(k, M.RESERVED_PREFIX)
  end
  if not k:match("^[%w/._*%-]+$") then
    return nil, ("label key '%s' may only contain letters, digits and / . _ * -"):format(k)
  end
  return true
end

local function check_kind(want)
  return function(v)
    if v == want then return true end
    return nil, ("must be %q here"):format(want)
  end
end

--- The app a rule's apps(c) returns (Teleport AppV3, the fields enroller manages).
M.app = {
  type = "record",
  fields = {
    kind = { type = "string", check = check_kind("app"),
             description = "\"app\" (the default) or \"db\" (see schema.db)" },
    name = { type = "string", required = true, check = check_name,
             description = "Teleport app name; also the default public host name" },
    uri = { type = "string", required = true, check = function(v)
              if v ~= "" then return true end
              return nil, "must not be empty"
            end, description = "where the Teleport agent reaches the app" },
    description = { type = "string" },
    labels = { type = "map", keys = { type = "string", check = check_label_key },
               values = { type = "string" } },
    public_addr = { type = "string" },
    insecure_skip_verify = { type = "boolean" },
    registration = { type = "string", check = function(v)
                       if v == "dynamic" or v == "agent" then return true end
                       return nil, "must be \"dynamic\" or \"agent\""
                     end, description = "\"agent\": served by an agent container of its own (agent mode)" },
    rewrite = { type = "record", fields = {
      redirect = { type = "array", elements = { type = "string" } },
      headers = { type = "array", elements = { type = "record", fields = {
        name = { type = "string", required = true },
        value = { type = "string", required = true },
      } } },
    } },
  },
}

local DB_PROTOCOLS = {
  postgres = true, mysql = true, mongodb = true, cockroachdb = true, redis = true,
  sqlserver = true, snowflake = true, cassandra = true, elasticsearch = true,
  opensearch = true, dynamodb = true, clickhouse = true, ["clickhouse-http"] = true,
  oracle = true, spanner = true,
}

--- A database (Teleport DatabaseV3).  Validated like an app, shown by
--- `enroller explain` and `enroller test-rules`; NOT yet written to Teleport.
M.db = {
  type = "record",
  fields = {
    kind = { type = "string", required = true, check = check_kind("db") },
    name = { type = "string", required = true, check = check_name },
    protocol = { type = "string", required = true, check = function(v)
                   if DB_PROTOCOLS[v] then return true end
                   return nil, ("unknown database protocol '%s'"):format(v)
                 end, description = "postgres, mysql, mongodb, redis, ..." },
    uri = { type = "string", required = true, check = function(v)
              if v:match("^[^%s/]+:%d+$") or v:match("^%a[%w+.-]*://") then return true end
              return nil, ("'%s' is not host:port or a URL"):format(v)
            end, description = "host:port the Teleport database agent connects to" },
    description = { type = "string" },
    labels = M.app.fields.labels,
  },
}

--[[[
@function schema.validate_resource(r)
@param {table} r an entry of the list apps(c) returns
@return {boolean} true, or nil and one message; kind "db" is checked against schema.db, anything else against schema.app
]]
function M.validate_resource(r)
  if type(r) == "table" and rawget(r, "kind") == "db" then
    return M.validate(M.db, r, "db field")
  end
  return M.validate(M.app, r)
end

--- The table rule{} takes.
M.rule = {
  type = "record",
  fields = {
    name = { type = "string", required = true, check = check_name },
    description = { type = "string", required = true },
    match = { type = "function", required = true },
    apps = { type = "function", required = true },
    priority = { type = "number", check = function(v)
                   if math.type(v) == "integer" and v >= -1000 and v <= 1000 then return true end
                   return nil, "must be an integer between -1000 and 1000"
                 end, description = "higher wins: for one container, only the matching rules of the highest priority produce resources (default 0)" },
  },
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function join(path, key)
  if path == "" then return key end
  return path .. "." .. key
end

local validate_field

local function validate_record(field, v, path, what)
  for _, k in ipairs(sorted_keys(v)) do
    if type(k) ~= "string" then
      return nil, ("%s key %s is not a string"):format(what, tostring(k))
    end
    if field.fields[k] == nil then
      return nil, ("%s '%s' is not allowed"):format(what, join(path, k))
    end
  end
  for _, k in ipairs(sorted_keys(field.fields)) do
    local ok, msg = validate_field(field.fields[k], v[k], join(path, k), what)
    if not ok then return nil, msg end
  end
  return true
end

function validate_field(field, v, path, what)
  if v == nil then
    if field.required then return nil, ("%s '%s' is required"):format(what, path) end
    return true
  end
  local want = field.type
  local lua_type = (want == "map" or want == "array" or want == "record") and "table" or want
  if type(v) ~= lua_type then
    return nil, ("%s '%s': expected %s, got %s"):format(what, path, want, type(v))
  end
  if want == "record" then
    local ok, msg = validate_record(field, v, path, what)
    if not ok then return nil, msg end
  elseif want == "array" then
    if not is_array(v) then
      return nil, ("%s '%s': expected an array (a list without keys)"):format(what, path)
    end
    for i = 1, #v do
      local ok, msg = validate_field(field.elements, v[i], ("%s[%d]"):format(path, i), what)
      if not ok then return nil, msg end
    end
  elseif want == "map" then
    for _, k in ipairs(sorted_keys(v)) do
      local kpath = ("%s[%q]"):format(path, tostring(k))
      if type(k) ~= field.keys.type then
        return nil, ("%s '%s': key %s: expected %s, got %s"):format(what, path, tostring(k), field.keys.type, type(k))
      end
      if field.keys.check then
        local ok, msg = field.keys.check(k)
        if not ok then return nil, ("%s '%s': %s"):format(what, path, msg) end
      end
      local ok, msg = validate_field(field.values, v[k], kpath, what)
      if not ok then return nil, msg end
    end
  end
  if field.check then
    local ok, msg = field.check(v)
    if not ok then return nil, ("%s '%s': %s"):format(what, path, msg) end
  end
  return true
end

--[[[
@function schema.validate(s, value, what)
@param {table} s a record schema (schema.app, schema.rule)
@param {table} value the table to check
@param {string} what how to name a field in messages (default: s == schema.app and "app field" or "field")
@return {boolean} true, or nil and one message naming the field: "app field 'urll' is not allowed"
]]
function M.validate(s, value, what)
  what = what or (s == M.app and "app field" or "field")
  if type(value) ~= "table" then
    return nil, ("expected a table, got %s"):format(type(value))
  end
  return validate_record(s, value, "", what)
end

return M
