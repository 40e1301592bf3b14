local schema = require("enroller.schema")

local function check(app)
  local ok, err = schema.validate(schema.app, app)
  return ok, err
end

describe("enroller.schema", function()
  describe("app", function()
    it("accepts a full app", function()
      assert.is_true(check({
        name = "a-1", uri = "http://10.0.0.2:15672", description = "d",
        labels = { team = "infra", ["container.name"] = "x" },
        public_addr = "a.example.com", insecure_skip_verify = false,
        rewrite = { redirect = { "x" }, headers = { { name = "H", value = "v" } } },
      }))
    end)

    it("accepts the minimum", function()
      assert.is_true(check({ name = "a", uri = "tcp://x:1" }))
    end)

    it("checks every label key, however many valid keys it has seen before", function()
      for i = 1, 2100 do
        assert.is_true(check({ name = "a", uri = "tcp://x:1", labels = { ["k" .. i] = "v" } }))
      end
      for _, k in ipairs({ "k1", "k2099", "k2100" }) do
        assert.is_true(check({ name = "a", uri = "tcp://x:1", labels = { [k] = "v" } }))
      end
      local ok, err = check({ name = "a", uri = "tcp://x:1", labels = { ["k 1"] = "v", k1 = "v" } })
      assert.is_nil(ok)
      assert.are.equal("app field 'labels': label key 'k 1' may only contain letters, digits and / . _ * -", err)
      ok, err = check({ name = "a", uri = "tcp://x:1", labels = { ["enroller.dev/k1"] = "v" } })
      assert.is_nil(ok)
      assert.are.equal("app field 'labels': label 'enroller.dev/k1' is reserved (the daemon writes enroller.dev/ labels)", err)
    end)

    describe("errors", function()
      local cases = {
        { { name = "a", uri = "u", urll = "x" }, "app field 'urll' is not allowed" },
        { { name = "a" }, "app field 'uri' is required" },
        { { uri = "u" }, "app field 'name' is required" },
        { { name = "a", uri = "" }, "app field 'uri': must not be empty" },
        { { name = "a", uri = 1 }, "app field 'uri': expected string, got number" },
        { { name = "a", uri = "u", insecure_skip_verify = "yes" },
          "app field 'insecure_skip_verify': expected boolean, got string" },
        { { name = "a", uri = "u", labels = { x = 1 } }, "app field 'labels[\"x\"]': expected string, got number" },
        { { name = "a", uri = "u", labels = { "x" } }, "app field 'labels': key 1: expected string, got number" },
        { { name = "a", uri = "u", labels = { ["enroller.dev/owner"] = "me" } },
          "app field 'labels': label 'enroller.dev/owner' is reserved (the daemon writes enroller.dev/ labels)" },
        { { name = "a", uri = "u", labels = { ["a b"] = "x" } },
          "app field 'labels': label key 'a b' may only contain letters, digits and / . _ * -" },
        { { name = "a", uri = "u", rewrite = { redirects = {} } }, "app field 'rewrite.redirects' is not allowed" },
        { { name = "a", uri = "u", rewrite = { redirect = { x = "y" } } },
          "app field 'rewrite.redirect': expected an array (a list without keys)" },
        { { name = "a", uri = "u", rewrite = { headers = { { name = "H" } } } },
          "app field 'rewrite.headers[1].value' is required" },
        { { name = "Bad", uri = "u" },
          "app field 'name': 'Bad' is not a valid name (lower-case letters, digits and '-', starting with a letter, at most 63 characters; enroller.util.dns_name() builds one)" },
        { { name = "a", uri = "u", [1] = "x" }, "app field key 1 is not a string" },
        -- several faults: an unknown key first, then the fields in name order
        { { name = "Bad", uri = "u", zz = 1, yy = 2 }, "app field 'yy' is not allowed" },
        { { name = "Bad", uri = "u", description = "a\0" },
          "app field 'description': contains a control character (byte 0x00 at 2)" },
        { { name = "a", uri = "u", description = "a\127b" },
          "app field 'description': contains a control character (byte 0x7f at 2)" },
        { { name = "a", uri = "u", labels = { ["x.y"] = "1", ["a b"] = "2" } },
          "app field 'labels': label key 'a b' may only contain letters, digits and / . _ * -" },
      }
      for _, case in ipairs(cases) do
        it(case[2], function()
          local ok, err = check(case[1])
          assert.is_nil(ok)
          assert.are.equal(case[2], err)
        end)
      end

      it("rejects a non-table", function()
        local ok, err = schema.validate(schema.app, "x")
        assert.is_nil(ok)
        assert.are.equal("expected a table, got string", err)
      end)
    end)
  end)

  describe("checks every field as Teleport does before anything is sent", function()
    local base = function(extra)
      local a = { name = "a", uri = "http://10.0.0.2:80" }
      for k, v in pairs(extra) do a[k] = v end
      return a
    end
    it("accepts every app option", function()
      assert.is_true(check(base({
        uri = "tcp://10.0.0.2",
        tcp_ports = { { port = 5432 }, { port = 6000, end_port = 6010 } },
        tls = { mode = "insecure" },
        use_any_proxy_public_addr = true,
        required_apps = { "api", "auth" },
        cors = { allowed_origins = { "https://a.example.com" }, allowed_methods = { "GET" },
                 allowed_headers = { "X-A" }, exposed_headers = { "X-B" }, allow_credentials = true, max_age = 60 },
        rewrite = { jwt_claims = "roles-and-traits" },
        public_addr = "app.example.com",
      })))
      assert.is_true(check(base({ tls = { mode = "verify-full" } })))
      assert.is_true(check(base({ tls = {}, insecure_skip_verify = true })))
      -- bytes of 0x80 and above are not control characters
      assert.is_true(check(base({ description = "caf\195\169 \128\255" })))
    end)
    local cases = {
      { { uri = "10.0.0.2:80" }, "app field 'uri': '10.0.0.2:80' is not scheme://host[:port][/path]" },
      { { uri = "http://:80" }, "app field 'uri': 'http://:80' has no host" },
      { { uri = "http://h:99999" }, "app field 'uri': 'http://h:99999' has a bad port (1-65535)" },
      { { uri = "http://h/a\r\nb" }, "app field 'uri': contains a control character (byte 0x0d at 11)" },
      { { uri = "http://h/a\0b" }, "app field 'uri': contains a control character (byte 0x00 at 11)" },
      { { description = "a\0b" }, "app field 'description': contains a control character (byte 0x00 at 2)" },
      { { description = ("d"):rep(1025) }, "app field 'description': is 1025 bytes; at most 1024" },
      { { labels = { a = "x\ny" } }, "app field 'labels[\"a\"]': contains a control character (byte 0x0a at 2)" },
      { { public_addr = "https://a.example.com" }, "app field 'public_addr': 'https://a.example.com' must be a host name without a scheme" },
      { { public_addr = "a.example.com:443" }, "app field 'public_addr': 'a.example.com:443' must be a host name without a port" },
      { { public_addr = "10.1.2.3" }, "app field 'public_addr': '10.1.2.3' is an IP address; Teleport wants a DNS name" },
      { { public_addr = "App.example.com" },
        "app field 'public_addr': 'App.example.com' is not a lower-case DNS name (letters, digits, '-' and '.', at most 253 characters)" },
      { { tcp_ports = { { port = 70000 } }, uri = "tcp://h" }, "app field 'tcp_ports[1]': port 70000 is out of range (1-65535)" },
      { { tcp_ports = { { port = 10, end_port = 5 } }, uri = "tcp://h" },
        "app field 'tcp_ports[1]': end_port 5 must be above port 10 and at most 65535" },
      { { tcp_ports = { { port = 10 } } }, "app field 'tcp_ports' needs a tcp:// uri, got 'http://10.0.0.2:80'" },
      { { tcp_ports = { { port = 10 } }, uri = "tcp://h:10" }, "app field 'uri' 'tcp://h:10' must not carry a port when tcp_ports is set" },
      { { tls = { mode = "strict" } },
        "app field 'tls.mode': 'strict' is not a TLS mode (insecure, verify-full, verify-server-name, verify-spiffe-id)" },
      { { tls = { mode = "verify-full" }, insecure_skip_verify = true },
        "app field 'tls.mode' is 'verify-full' and 'insecure_skip_verify' is true: drop insecure_skip_verify (deprecated), or set tls.mode = \"insecure\"" },
      { { tls = { mode = "insecure", client_cert_mode = "managed" } },
        "app field 'tls.client_cert_mode' = \"managed\" needs a verifying tls.mode" },
      { { tls = { mode = "verify-server-name", server_name = "x" } },
        "app field 'tls.server_name' cannot be sent to Teleport by this enroller; only tls.mode \"insecure\" or \"verify-full\"" },
      { { required_apps = { "API" } },
        "app field 'required_apps[1]': 'API' is not a valid name (lower-case letters, digits and '-', starting with a letter, at most 63 characters; enroller.util.dns_name() builds one)" },
      { { cors = { max_age = -1 } }, "app field 'cors.max_age': must be an integer number of seconds (0-4294967295)" },
      { { cors = { allowed_methods = { "GET POST" } } }, "app field 'cors.allowed_methods[1]': 'GET POST' is not an HTTP header name" },
      { { rewrite = { jwt_claims = "all" } },
        "app field 'rewrite.jwt_claims': 'all' is not a jwt_claims value (none, roles, roles-and-traits, traits)" },
      { { rewrite = { headers = { { name = "X-A", value = "a\r\nSet-Cookie: x" } } } },
        "app field 'rewrite.headers[1].value': contains a control character (byte 0x0d at 2)" },
    }
    for _, case in ipairs(cases) do
      it(case[2], function()
        local ok, err = check(base(case[1]))
        assert.is_nil(ok)
        assert.are.equal(case[2], err)
      end)
    end
    it("checks uris in C as the patterns did", function()
      for _, u in ipairs({ "http://[fe80::1]:8080/x", "http://[::1]", "https://h:0080/a?b#c", "tcp://h",
                           "git+ssh://h:22", "http://h?x=a@b" }) do
        assert.is_true(check(base({ uri = u })), u)
      end
      local bad = {
        { "HTTP://h", "app field 'uri': 'HTTP://h': scheme must be lower-case" },
        { "http://u@h", "app field 'uri': 'http://u@h' must not carry user information" },
        { "http://h:0", "app field 'uri': 'http://h:0' has a bad port (1-65535)" },
        { "http://h:", "app field 'uri': 'http://h:' has a bad port (1-65535)" },
        { "http://h:8x", "app field 'uri': 'http://h:8x' has a bad port (1-65535)" },
        { "http://h:99999999999999999999", "app field 'uri': 'http://h:99999999999999999999' has a bad port (1-65535)" },
        { "http://[zz]:80", "app field 'uri': 'http://[zz]:80' has no host" },
        { "http://[]", "app field 'uri': 'http://[]' has no host" },
        { "http://h/a b", "app field 'uri': 'http://h/a b' contains white space" },
        { "1http://h", "app field 'uri': '1http://h' is not scheme://host[:port][/path]" },
        { "http:/h", "app field 'uri': 'http:/h' is not scheme://host[:port][/path]" },
        { "http://h/" .. ("x"):rep(4096), "app field 'uri': is 4105 bytes; at most 4096" },
      }
      for _, case in ipairs(bad) do
        local ok, err = check(base({ uri = case[1] }))
        assert.is_nil(ok)
        assert.are.equal(case[2], err)
      end
    end)
    it("names a label key with a NUL byte as it is", function()
      local ok, err = check(base({ labels = { ["a\0b"] = "v" } }))
      assert.is_nil(ok)
      assert.are.equal("app field 'labels': label key 'a\0b' may only contain letters, digits and / . _ * -", err)
    end)
    it("follows a metatable the C walk leaves to the Lua walk", function()
      -- the required uri comes from __index: present, as before
      assert.is_true(check(setmetatable({ name = "a" }, { __index = { uri = "tcp://x:1" } })))
      local ok, err = check(setmetatable({ name = "a", uri = "HTTP://x" }, { __index = {} }))
      assert.is_nil(ok)
      assert.are.equal("app field 'uri': 'HTTP://x': scheme must be lower-case", err)
      -- a field table with a metatable
      ok, err = check(base({ labels = setmetatable({}, { __index = function() return 1 end,
                                                            __pairs = function(t) return next, { a = 1 }, nil end }) }))
      assert.is_nil(ok)
      assert.are.equal("app field 'labels[\"a\"]': expected string, got number", err)
    end)
    it("checks a list longer than the C walk takes, in Lua", function()
      local redirect = {}
      for i = 1, 2000 do redirect[i] = "h" .. i end
      assert.is_true(check(base({ rewrite = { redirect = redirect } })))
      redirect[1500] = "a\nb"
      local ok, err = check(base({ rewrite = { redirect = redirect } }))
      assert.is_nil(ok)
      assert.are.equal("app field 'rewrite.redirect[1500]': contains a control character (byte 0x0a at 2)", err)
    end)
    it("caps the label count", function()
      local many = {}
      for i = 1, 65 do many["k" .. i] = "v" end
      local ok, err = check(base({ labels = many }))
      assert.is_nil(ok)
      assert.are.equal("app field 'labels': 65 labels; at most 64 (publish fewer container labels)", err)
    end)
  end)

  describe("is_dns_subdomain", function()
    for _, s in ipairs({ "a", "a.b", "a-1.example.com", "1a.b" }) do
      it("accepts " .. s, function() assert.is_true(schema.is_dns_subdomain(s)) end)
    end
    for _, s in ipairs({ "", "A.b", "a..b", "-a.b", "a-.b", "a_b.c", ("a"):rep(64) .. ".b" }) do
      it("rejects '" .. s .. "'", function() assert.is_false(schema.is_dns_subdomain(s)) end)
    end
  end)

  describe("is_dns_label", function()
    local good = { "a", "a-b", "a1", ("a"):rep(63) }
    local bad = { "", "1a", "-a", "a-", "A", "a_b", "a.b", ("a"):rep(64) }
    for _, s in ipairs(good) do
      it("accepts " .. s, function() assert.is_true(schema.is_dns_label(s)) end)
    end
    for _, s in ipairs(bad) do
      it("rejects '" .. s .. "'", function() assert.is_false(schema.is_dns_label(s)) end)
    end
  end)
end)

describe("enroller.schema resources and rule priority", function()
  local schema = require("enroller.schema")
  local enroller = require("enroller")
  local h = require("helpers")

  it("checks a db against the db schema", function()
    assert.is_true(schema.validate_resource({ kind = "db", name = "pg", protocol = "postgres", uri = "10.0.0.2:5432" }))
    assert.are.same({ nil, "db field 'protocol' is required" },
      { schema.validate_resource({ kind = "db", name = "pg", uri = "h:1" }) })
    assert.are.same({ nil, "db field 'uri': 'nohost' is not host:port or a URL" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "mysql", uri = "nohost" }) })
    assert.are.same({ nil, "db field 'protocol': unknown database protocol 'postgress'" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "postgress", uri = "h:1" }) })
    -- a database's strings are checked as an app's: no control character, bounded sizes
    assert.are.same({ nil, "db field 'uri': contains a control character (byte 0x0d at 21)" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "postgres", uri = "postgres://h:5432/db\r\nx" }) })
    assert.are.same({ nil, "db field 'uri': contains a control character (byte 0x00 at 2)" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "postgres", uri = "h\0:5432" }) })
    assert.are.same({ nil, "db field 'description': is 1048576 bytes; at most 1024" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "mysql", uri = "h:1", description = ("d"):rep(1 << 20) }) })
    assert.are.same({ nil, "db field 'description': contains a control character (byte 0x00 at 2)" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "mysql", uri = "h:1", description = "a\0b" }) })
    assert.are.same({ nil, "db field 'rewrite' is not allowed" },
      { schema.validate_resource({ kind = "db", name = "pg", protocol = "mysql", uri = "h:1", rewrite = {} }) })
  end)

  it("accepts kind = 'app' and rejects other kinds on apps", function()
    assert.is_true(schema.validate_resource({ kind = "app", name = "a", uri = "http://x:1" }))
    assert.are.same({ nil, "app field 'kind': must be \"app\" here" },
      { schema.validate_resource({ kind = "kube", name = "a", uri = "http://x:1" }) })
  end)

  it("takes an integer priority in rule{}", function()
    local spec = { name = "p", description = "d", match = function() end, apps = function() end }
    spec.priority = 7
    assert.are.equal(7, enroller.rule(spec).priority)
    spec.priority = 2000
    assert.matches("field 'priority': must be an integer between %-1000 and 1000", h.error_of(enroller.rule, spec))
  end)
end)
