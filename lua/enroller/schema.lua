--[[
enroller.schema - closed schemas as data, and the one validator that reads
them (after Kong's schema.lua and rspamd's lua_shape).

    local ok, msg = schema.validate(schema.app, app)
    -- nil, "app field 'urll' is not allowed"

A field is { type = "string"|"boolean"|"function"|"map"|"array"|"record"|"strings",
required = bool, check = function(v) -> true | nil, msg, description = ... }.
"record" has fields = {...} (closed: other keys are rejected); "array" has
elements = <field>; "map" has keys and values = <field>; "strings" is one
string or a non-empty array of them, each checked as elements = <field>.
]]

local core = require("enroller.core")

local M = {}

local DNS_LABEL_HELP = "lower-case letters, digits and '-', starting with a letter, at most 63 characters"

--[[[
@function schema.is_dns_label(s)
@param {string} s
@return {boolean} true for a DNS-1035 label: ^[a-z]([-a-z0-9]*[a-z0-9])?$, at most 63 bytes
]]
M.is_dns_label = core.is_dns_label

local function check_name(v)
  if core.is_dns_label(v) then return true end
  return nil, ("'%s' is not a valid name (%s; enroller.util.dns_name() builds one)"):format(v, DNS_LABEL_HELP)
end

M.RESERVED_PREFIX = "enroller.dev/"

-- Sizes enroller refuses before sending: Teleport stores what it is sent, so
-- a runaway rule (a 1 MB description, thousands of labels) would otherwise be
-- retried on every pass until the Auth call times out.
M.MAX_DESCRIPTION = 1024
M.MAX_LABELS = 64
M.MAX_LABEL_VALUE = 1024
M.MAX_STRING = 4096

-- A control character (NUL, CR, LF, ...) in a string Teleport shows or sends
-- on as a header is refused; nothing is cut or replaced silently.
local function control_char(s)
  local i = core.control_char(s)
  if i then return ("contains a control character (byte 0x%02x at %d)"):format(s:byte(i), i) end
  return nil
end

-- check(v): no control character, at most max bytes (src/lua/lua_schema.c)
local check_text = core.text_check

-- api/types/resource.go IsValidLabelKey (older releases: no ':'), and not
-- under M.RESERVED_PREFIX (src/lua/lua_schema.c)
local check_label_key = core.check_label_key

local function check_labels(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n > M.MAX_LABELS then
    return nil, ("%d labels; at most %d (publish fewer container labels)"):format(n, M.MAX_LABELS)
  end
  return true
end

--[[[
@function schema.is_dns_subdomain(s)
@param {string} s
@return {boolean} true for a lower-case DNS-1123 subdomain: dot-separated labels of [a-z0-9-] (no '-' at either end of a label), each at most 63 bytes, at most 253 in all
]]
function M.is_dns_subdomain(s)
  if type(s) ~= "string" or #s == 0 or #s > 253 then return false end
  for label in (s .. "."):gmatch("([^.]*)%.") do
    if #label == 0 or #label > 63 or not label:match("^[a-z0-9][-a-z0-9]*$") or label:sub(-1) == "-" then
      return false
    end
  end
  return true
end

local function is_ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  return a ~= nil
end

-- lib/services/app.go ValidateApp on master: public_addr is a host name only.
local function check_public_addr(v)
  if v == "" then return true end
  local bad = control_char(v)
  if bad then return nil, bad end
  if v:find("://", 1, true) then
    return nil, ("'%s' must be a host name without a scheme"):format(v)
  end
  if v:find(":", 1, true) then
    return nil, ("'%s' must be a host name without a port"):format(v)
  end
  if is_ipv4(v) then
    return nil, ("'%s' is an IP address; Teleport wants a DNS name"):format(v)
  end
  if not M.is_dns_subdomain(v) then
    return nil, ("'%s' is not a lower-case DNS name (letters, digits, '-' and '.', at most 253 characters)"):format(v)
  end
  return true
end

-- api/types/app.go CheckAndSetDefaults: the URI parses as a URL; enroller
-- also wants a scheme and a host, and no control character anywhere
-- (src/lua/lua_schema.c).
local check_uri = core.check_uri

local function check_port_range(v)
  -- api/types/app.go: port 1-65535; end_port 0 (one port) or port < end_port <= 65535
  local p, e = v.port, v.end_port or 0
  if math.type(p) ~= "integer" or p < 1 or p > 65535 then
    return nil, ("port %s is out of range (1-65535)"):format(tostring(p))
  end
  if math.type(e) ~= "integer" or (e ~= 0 and (e <= p or e > 65535)) then
    return nil, ("end_port %s must be above port %d and at most 65535"):format(tostring(e), p)
  end
  return true
end

local JWT_CLAIMS = { ["roles-and-traits"] = true, roles = true, traits = true, none = true }
local TLS_MODES = { insecure = true, ["verify-full"] = true, ["verify-server-name"] = true,
                    ["verify-spiffe-id"] = true }
local CLIENT_CERT_MODES = { none = true, managed = true }

local function one_of(set, what)
  local names = {}
  for k in pairs(set) do names[#names + 1] = k end
  table.sort(names)
  return function(v)
    if set[v] then return true end
    return nil, ("'%s' is not a %s (%s)"):format(v, what, table.concat(names, ", "))
  end
end

local function check_header_name(v)
  if v:match("^[!#$%%&'*+.^_`|~%w-]+$") then return true end
  return nil, ("'%s' is not an HTTP header name"):format(v)
end

local function string_list(check)
  return { type = "array", elements = { type = "string", check = check } }
end

-- Relations between fields (api/types/app.go, lib/services/app.go).
local function check_app(a)
  local tls = a.tls
  if tls ~= nil then
    -- no mode: Teleport derives it from the deprecated insecure_skip_verify
    local mode = tls.mode or (a.insecure_skip_verify and "insecure" or "verify-full")
    if a.insecure_skip_verify and mode ~= "insecure" then
      return nil, ("'tls.mode' is '%s' and 'insecure_skip_verify' is true: drop insecure_skip_verify "
        .. "(deprecated), or set tls.mode = \"insecure\""):format(mode)
    end
    if tls.client_cert_mode == "managed" and mode == "insecure" then
      return nil, "'tls.client_cert_mode' = \"managed\" needs a verifying tls.mode"
    end
    if mode == "verify-spiffe-id" and (tls.server_spiffe_id or "") == "" then
      return nil, "'tls.server_spiffe_id' is required when tls.mode is \"verify-spiffe-id\""
    end
    -- Only the choice between verifying and not can be sent: the AppSpecV3
    -- tls block is not in proto/ (see proto/teleport/legacy/types/types.proto).
    for _, k in ipairs({ "server_name", "server_spiffe_id", "allowed_cas", "client_cert_mode" }) do
      if tls[k] ~= nil then
        return nil, ("'tls.%s' cannot be sent to Teleport by this enroller; only tls.mode "
          .. "\"insecure\" or \"verify-full\""):format(k)
      end
    end
    if mode ~= "insecure" and mode ~= "verify-full" then
      return nil, ("'tls.mode' \"%s\" cannot be sent to Teleport by this enroller; only \"insecure\" "
        .. "or \"verify-full\""):format(mode)
    end
  end
  if a.tcp_ports ~= nil and #a.tcp_ports > 0 then
    local scheme, hostport = a.uri:match("^(%a[%w+.-]*)://([^/]*)")
    if scheme ~= "tcp" then
      return nil, ("'tcp_ports' needs a tcp:// uri, got '%s'"):format(a.uri)
    end
    if hostport:match(":%d+$") and not hostport:match("^%[[^%]]*%]$") then
      return nil, ("'uri' '%s' must not carry a port when tcp_ports is set"):format(a.uri)
    end
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
  check = check_app,
  fields = {
    kind = { type = "string", check = check_kind("app"),
             description = "\"app\" (the default) or \"db\" (see schema.db)" },
    name = { type = "string", required = true, check = check_name,
             description = "Teleport app name; also the default public host name" },
    uri = { type = "string", required = true, check = check_uri,
            description = "where the Teleport agent reaches the app: scheme://host[:port][/path]" },
    description = { type = "string", check = check_text(M.MAX_DESCRIPTION) },
    labels = { type = "map", keys = { type = "string", check = check_label_key },
               values = { type = "string", check = check_text(M.MAX_LABEL_VALUE) },
               check = check_labels },
    public_addr = { type = "string", check = check_public_addr,
                    description = "a lower-case DNS name: no scheme, no port, not an IP address" },
    insecure_skip_verify = { type = "boolean", description = "deprecated by tls.mode = \"insecure\"" },
    use_any_proxy_public_addr = { type = "boolean" },
    required_apps = string_list(check_name),
    tls = { type = "record", fields = {
      mode = { type = "string", check = one_of(TLS_MODES, "TLS mode") },
      server_name = { type = "string", check = check_text(253) },
      server_spiffe_id = { type = "string", check = check_text(M.MAX_STRING) },
      allowed_cas = string_list(function(v)
        if v:find("%z") then return nil, "contains a NUL byte" end
        return true
      end),
      client_cert_mode = { type = "string", check = one_of(CLIENT_CERT_MODES, "client certificate mode") },
    } },
    cors = { type = "record", fields = {
      allowed_origins = string_list(check_text(M.MAX_STRING)),
      allowed_methods = string_list(check_header_name),
      allowed_headers = string_list(check_header_name),
      exposed_headers = string_list(check_header_name),
      allow_credentials = { type = "boolean" },
      max_age = { type = "number", check = function(v)
                    if math.type(v) == "integer" and v >= 0 and v <= 0xffffffff then return true end
                    return nil, "must be an integer number of seconds (0-4294967295)"
                  end },
    } },
    tcp_ports = { type = "array", elements = { type = "record", check = check_port_range, fields = {
      port = { type = "number", required = true },
      end_port = { type = "number" },
    } }, description = "TCP apps: ports and port ranges; the uri is then tcp://host without a port" },
    registration = { type = "string", check = function(v)
                       if v == "dynamic" or v == "agent" then return true end
                       return nil, "must be \"dynamic\" or \"agent\""
                     end, description = "\"agent\": served by an agent container of its own (agent mode)" },
    rewrite = { type = "record", fields = {
      redirect = string_list(check_text(M.MAX_STRING)),
      headers = { type = "array", elements = { type = "record", fields = {
        name = { type = "string", required = true, check = check_header_name },
        value = { type = "string", required = true, check = check_text(M.MAX_STRING) },
      } } },
      jwt_claims = { type = "string", check = one_of(JWT_CLAIMS, "jwt_claims value") },
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
--- `enroller explain` and `enroller test-rules`, registered with
--- CreateDatabase.
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
              -- checked as an app's: nothing is cut or sent with a control character
              local bad = control_char(v)
              if bad then return nil, bad end
              if #v > M.MAX_STRING then return nil, ("is %d bytes; at most %d"):format(#v, M.MAX_STRING) end
              if v:match("^[^%s/]+:%d+$") or v:match("^%a[%w+.-]*://") then return true end
              return nil, ("'%s' is not host:port or a URL"):format(v)
            end, description = "host:port the Teleport database agent connects to" },
    description = { type = "string", check = check_text(M.MAX_DESCRIPTION) },
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

-- A match_image pattern is a glob on the repository, c.image_name, where a
-- tag or a digest can never be (base/image_ref.c).
local check_pattern_text = check_text(255)
local function check_image_pattern(v)
  local ok, msg = check_pattern_text(v)
  if not ok then return nil, msg end
  local bad = v:find("@", 1, true) and "a digest" or v:match("[^/]*$"):find(":", 1, true) and "a tag"
  if bad then
    return nil, ("'%s' has %s; match_image matches the repository only (c.image_name)"):format(v, bad)
  end
  return true
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
    -- the pre-filter, checked in C before match() (src/rules/rule_prefilter.h)
    match_image = { type = "strings", elements = { type = "string", check = check_image_pattern } },
    match_label = { type = "strings", elements = { type = "string", check = check_text(M.MAX_STRING) } },
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

-- The record's own keys in any order, then its required fields: true when
-- the record is valid, false on any fault (the checks are pure, so the
-- sorted walk below finds the same fault and names it).  The C walk
-- (core.record_passes) does the same for a table without a metatable.
local function record_passes(fields, v, path, what)
  for k, val in pairs(v) do
    local f = type(k) == "string" and fields[k]
    if not f or not validate_field(f, val, join(path, k), what) then return false end
  end
  for k, f in pairs(fields) do
    if f.required and v[k] == nil then return false end
  end
  return true
end

local function validate_record(field, v, path, what)
  local fields = field.fields
  -- Nearly every record passes: a walk in C says so, or for a table it
  -- leaves to Lua (a metatable, many entries) the walk above.
  if core.record_passes(field, v) or record_passes(fields, v, path, what) then return true end
  -- A fault (or a table the C walk leaves here): walk the keys sorted, so
  -- the message names the same one on every run.
  for _, k in ipairs(sorted_keys(v)) do
    if type(k) ~= "string" then
      return nil, ("%s key %s is not a string"):format(what, tostring(k))
    end
    if fields[k] == nil then
      return nil, ("%s '%s' is not allowed"):format(what, join(path, k))
    end
  end
  for _, k in ipairs(sorted_keys(fields)) do
    local ok, msg = validate_field(fields[k], v[k], join(path, k), what)
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
  if want == "strings" then
    -- one non-empty string, or a non-empty list of them
    local list = type(v) == "table" and v or { v }
    if type(v) ~= "string" and type(v) ~= "table" then
      return nil, ("%s '%s': expected a string or a list of strings, got %s"):format(what, path, type(v))
    elseif not is_array(list) or #list == 0 then
      return nil, ("%s '%s': expected a string or a non-empty list of strings"):format(what, path)
    end
    for i = 1, #list do
      local at = list == v and ("%s[%d]"):format(path, i) or path
      if list[i] == "" then return nil, ("%s '%s': must not be empty"):format(what, at) end
      local ok, msg = validate_field(field.elements, list[i], at, what)
      if not ok then return nil, msg end
    end
    return true
  end
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
    -- Every entry of every resource passes nearly always: check them in any
    -- order first, with no path built; only a failure walks the keys sorted,
    -- so the message names the first bad key, the same on every run.
    local clean, keys, check = true, field.keys, field.keys.check
    for k, val in pairs(v) do
      if type(k) ~= keys.type or (check and not check(k)) or not validate_field(field.values, val, path, what) then
        clean = false
        break
      end
    end
    for _, k in ipairs(clean and {} or sorted_keys(v)) do
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
  local ok, msg = validate_record(s, value, "", what)
  if not ok then return nil, msg end
  if s.check then
    ok, msg = s.check(value)
    if not ok then return nil, ("%s %s"):format(what, msg) end
  end
  return true
end

return M
