---@meta
-- LuaLS annotations for rule writers; never loaded at run time.

---@class enroller.container: userdata
---@field id string full 64-hex id
---@field name string without the leading '/'
---@field image string as written, "rabbitmq:3-management"
---@field image_name string image without tag or digest, "rabbitmq"
---@field tag string|nil tag, "latest" when none was written, nil with a digest
---@field image_id string "sha256:..."
---@field hostname string|nil
---@field labels table<string,string> a fresh copy on every read
---@field networks table<string,{ip:string|nil, ipv6:string|nil}>
---@field ports {port:integer, proto:string, host_port:integer|nil, host_ip:string|nil}[]
---@field state string "running", "exited", ...
---@field health string|nil "healthy", "unhealthy", "starting"; nil without a healthcheck
---@field created integer unix seconds
---@field started integer unix seconds, 0 if never started
local container = {}

---@param key string
---@param default? any
---@return string|any
function container:label(key, default) end

---@param key string
---@return boolean
function container:has_label(key) end

---@param network? string nil: the only network
---@return string|nil ip
---@return string|nil why
function container:ip(network) end

---@class enroller.app
---@field name string DNS-1035 label, at most 63 characters
---@field uri string
---@field description? string
---@field labels? table<string,string> no enroller.dev/ keys
---@field public_addr? string
---@field insecure_skip_verify? boolean
---@field rewrite? {redirect?: string[], headers?: {name:string, value:string}[]}

---@class enroller.rule_spec
---@field name string
---@field description string
---@field match fun(c: enroller.container): boolean
---@field apps fun(c: enroller.container): enroller.app[]|nil
