---@meta
-- LuaLS annotations for rule writers; never loaded at run time.  Point your
-- editor's Lua language server at lua/ (workspace.library) to get completion
-- for the container, the resources apps() returns and rule{} itself.

---@class enroller.port
---@field port integer container-side port, 15672
---@field proto string "tcp", "udp" or "sctp"
---@field host_port integer|nil published host port; nil when not published
---@field host_ip string|nil published host address; nil when not published

---@class enroller.network
---@field ip string|nil IPv4 address on that network
---@field ipv6 string|nil global IPv6 address on that network

---A read-only view of one Docker container (a snapshot of `docker inspect`).
---Reading a field that does not exist raises ("container has no field 'x'").
---@class enroller.container: userdata
---@field id string full 64-hex id
---@field name string without the leading '/'
---@field image string as written, "rabbitmq:3-management"
---@field image_name string image without tag or digest, "rabbitmq"
---@field tag string|nil tag, "latest" when none was written, nil with a digest
---@field image_id string "sha256:..."
---@field hostname string|nil
---@field labels table<string,string> a fresh copy on every read
---@field networks table<string,enroller.network> by network name
---@field ports enroller.port[] exposed and published, sorted by (port, proto)
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

---@class enroller.rewrite_header
---@field name string
---@field value string

---@class enroller.rewrite
---@field redirect? string[]
---@field headers? enroller.rewrite_header[]
---@field jwt_claims? "roles-and-traits"|"roles"|"traits"|"none"

---@class enroller.app_tls
---@field mode? "insecure"|"verify-full"|"verify-server-name"|"verify-spiffe-id" only insecure and verify-full can be sent yet
---@field server_name? string checked, then refused (cannot be sent yet)
---@field server_spiffe_id? string checked, then refused (cannot be sent yet)
---@field allowed_cas? string[] checked, then refused (cannot be sent yet)
---@field client_cert_mode? "none"|"managed" checked, then refused (cannot be sent yet)

---@class enroller.cors
---@field allowed_origins? string[]
---@field allowed_methods? string[]
---@field allowed_headers? string[]
---@field exposed_headers? string[]
---@field allow_credentials? boolean
---@field max_age? integer seconds, 0-4294967295

---@class enroller.port_range
---@field port integer 1-65535
---@field end_port? integer above port, at most 65535; nil or 0: one port

---A Teleport app (AppV3): what apps(c) returns, in a list.  Closed: any
---other field is an error naming the rule and the field.
---@class enroller.app
---@field kind? "app" the default
---@field name string DNS-1035 label, at most 63 characters (util.dns_name builds one)
---@field uri string where the Teleport agent reaches the app, "http://10.0.0.2:3000"; no control characters
---@field description? string at most 1024 bytes
---@field labels? table<string,string> at most 64; no enroller.dev/ keys (the daemon writes those)
---@field public_addr? string lower-case DNS name: no scheme, no port, not an IP
---@field insecure_skip_verify? boolean deprecated by tls.mode = "insecure"
---@field tls? enroller.app_tls
---@field use_any_proxy_public_addr? boolean
---@field required_apps? string[] app names
---@field cors? enroller.cors
---@field tcp_ports? enroller.port_range[] the uri is then tcp://host without a port
---@field registration? "dynamic"|"agent" agent mode: "agent" runs an Application Service container for this app
---@field rewrite? enroller.rewrite

---A Teleport database (DatabaseV3).  Validated and shown by `enroller explain`
---and `enroller test-rules`, but NOT yet written to Teleport.
---@class enroller.db
---@field kind "db"
---@field name string DNS-1035 label
---@field protocol "postgres"|"mysql"|"mongodb"|"redis"|"cockroachdb"|"sqlserver"|"cassandra"|"elasticsearch"|"opensearch"|"clickhouse"|"clickhouse-http"|"oracle"|"spanner"|"snowflake"|"dynamodb"
---@field uri string "host:port" or a URL
---@field description? string
---@field labels? table<string,string>

---@class enroller.rule_spec
---@field name string DNS-1035 label, unique in the rules directory
---@field description string
---@field priority? integer -1000..1000, default 0; for one container only the matching rules of the highest priority produce resources
---@field match fun(c: enroller.container): boolean, string? second result: why (shown by `enroller explain`)
---@field apps fun(c: enroller.container): (enroller.app|enroller.db)[]|nil

---@class enroller
local enroller = {}

---Checks spec and returns the rule a rule file must `return`.
---@param spec enroller.rule_spec
---@return enroller.rule_spec
function enroller.rule(spec) end

---@class enroller.core
---@field version string
local core = {}
---@param level "debug"|"info"|"warn"|"error"
---@param msg string
function core.log(level, msg) end
---@param s string
---@return string hex 8 hex digits of FNV-1a
function core.hash(s) end
---@param s string
---@return integer|nil at the first byte below 0x20 or 0x7f
function core.control_char(s) end
---@param text string
---@return any|nil value
---@return string|nil err
function core.json_decode(text) end
