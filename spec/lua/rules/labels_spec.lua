-- rules/labels.lua: teleport.dev/* container labels, as Teleport's Kubernetes
-- app discovery reads Service annotations.
local h = require("helpers")
local schema = require("enroller.schema")

describe("rules/labels.lua", function()
  local rule = h.rule("rules/labels.lua")

  -- inspect_published.json: ports 8080/tcp, 8443/tcp, 9090/udp on enroller-pub (10.214.7.3)
  local function published(lbls)
    return h.container_edited("inspect_published.json", function(doc) doc.Config.Labels = lbls end)
  end

  local function apps(lbls)
    local c = published(lbls)
    assert.is_true((rule.match(c)))
    local out = rule.apps(c)
    for _, a in ipairs(out) do assert.is_true(schema.validate_resource(a)) end
    return out
  end

  it("has priority 100 so it wins over image rules", function()
    assert.are.equal(100, rule.priority)
  end)

  describe("match", function()
    local cases = {
      { {}, false, "no teleport.dev/name, /port, /protocol, /tcp-ports or /discovery-type=app|db label" },
      { { ["teleport.dev/tcp-ports"] = "8080" }, true },
      { { ["teleport.dev/name"] = "web", ["com.docker.compose.oneoff"] = "True" }, false,
        "com.docker.compose.oneoff=True (a `docker compose run` container)" },
      { { ["teleport.dev/name"] = "web" }, true },
      { { ["teleport.dev/port"] = "8080" }, true },
      { { ["teleport.dev/protocol"] = "http" }, true },
      { { ["teleport.dev/discovery-type"] = "app" }, true },
      { { ["teleport.dev/public-addr"] = "x.example.com" }, false },
      { { ["teleport.dev/name"] = "web", ["teleport.dev/ignore"] = "true" }, false, "teleport.dev/ignore=true" },
      { { ["teleport.dev/name"] = "web", ["teleport.dev/ignore"] = "false" }, true },
      { { ["teleport.dev/name"] = "web", ["teleport.dev/discovery-type"] = "db" }, true },
      { { ["teleport.dev/discovery-type"] = "db" }, true },
      { { ["teleport.dev/name"] = "web", ["teleport.dev/discovery-type"] = "kube" }, false,
        "teleport.dev/discovery-type=kube" },
    }
    for i, case in ipairs(cases) do
      it("case " .. i, function()
        local ok, why = rule.match(published(case[1]))
        assert.are.equal(case[2], ok)
        if case[3] then assert.are.equal(case[3], why) end
      end)
    end
  end)

  describe("apps", function()
    it("one app per HTTP-ish port when only a name is given (8080 -> http; 8443 is not guessed)", function()
      assert.are.same({ {
        name = "web",
        uri = "http://10.214.7.3:8080",
        description = "Docker container published (enroller-tiny:latest)",
        labels = {
          ["container.name"] = "published",
          ["container.image"] = "enroller-tiny:latest",
          ["container.id"] = "8df8da278800",
          ["container.hostname"] = "8df8da278800",
        },
      } }, apps({ ["teleport.dev/name"] = "web" }))
    end)

    it("an explicit protocol applies to every TCP port and suffixes the port", function()
      local out = apps({ ["teleport.dev/name"] = "web", ["teleport.dev/protocol"] = "https" })
      assert.are.equal(2, #out)
      assert.are.equal("web-8080", out[1].name)
      assert.are.equal("https://10.214.7.3:8080", out[1].uri)
      assert.are.equal("web-8443", out[2].name)
      assert.are.equal("https://10.214.7.3:8443", out[2].uri)
    end)

    it("teleport.dev/port picks one port; every other label maps to its field", function()
      local out = apps({
        ["teleport.dev/port"] = "8443",
        ["teleport.dev/protocol"] = "https",
        ["teleport.dev/path"] = "ui/",
        ["teleport.dev/public-addr"] = "web.example.com",
        ["teleport.dev/insecure-skip-verify"] = "true",
        ["teleport.dev/description"] = "The web UI",
        ["teleport.dev/app-rewrite"] = '{"redirect": ["localhost"], "headers": [{"name": "X-A", "value": "b"}]}',
        ["teleport.dev/label.team"] = "infra",
        ["team"] = "not published: not opted into",
        ["db.password"] = "hunter2",
        ["com.docker.compose.project"] = "p",
      })
      assert.are.same({ {
        name = "published",
        uri = "https://10.214.7.3:8443/ui/",
        description = "The web UI",
        public_addr = "web.example.com",
        insecure_skip_verify = true,
        rewrite = { redirect = { "localhost" }, headers = { { name = "X-A", value = "b" } } },
        labels = {
          team = "infra",
          ["container.name"] = "published",
          ["container.image"] = "enroller-tiny:latest",
          ["container.id"] = "8df8da278800",
          ["container.hostname"] = "8df8da278800",
        },
      } }, out)
    end)

    it("tcp protocol gives tcp:// URIs", function()
      local out = apps({ ["teleport.dev/port"] = "8080", ["teleport.dev/protocol"] = "tcp" })
      assert.are.equal("tcp://10.214.7.3:8080", out[1].uri)
    end)

    it("publishes only the labels a container or the rule opted into", function()
      local out = apps({
        ["teleport.dev/name"] = "web",
        ["teleport.dev/label.env"] = "prod",
        ["teleport.dev/publish-labels"] = "tier, owner ,missing",
        ["tier"] = "front",
        ["owner"] = "team-a",
        ["db.password"] = "hunter2",
        ["traefik.http.middlewares.a.basicauth.users"] = "admin:$apr1$x$y",
      })
      assert.are.same({
        env = "prod", tier = "front", owner = "team-a",
        ["container.name"] = "published",
        ["container.image"] = "enroller-tiny:latest",
        ["container.id"] = "8df8da278800",
        ["container.hostname"] = "8df8da278800",
      }, out[1].labels)
    end)

    it("every app option has a label", function()
      local out = apps({
        ["teleport.dev/name"] = "web",
        ["teleport.dev/port"] = "8443",
        ["teleport.dev/protocol"] = "https",
        ["teleport.dev/tls-mode"] = "insecure",
        ["teleport.dev/use-any-proxy-public-addr"] = "true",
        ["teleport.dev/required-apps"] = "api, auth",
        ["teleport.dev/cors"] = '{"allowed_origins": ["https://a.example.com"], "allow_credentials": true, "max_age": 600}',
        ["teleport.dev/app-rewrite"] = '{"jwt_claims": "roles"}',
      })
      assert.are.same({ mode = "insecure" }, out[1].tls)
      assert.is_true(out[1].use_any_proxy_public_addr)
      assert.are.same({ "api", "auth" }, out[1].required_apps)
      assert.are.same({ allowed_origins = { "https://a.example.com" }, allow_credentials = true, max_age = 600 },
        out[1].cors)
      assert.are.same({ jwt_claims = "roles" }, out[1].rewrite)
    end)

    it("teleport.dev/tcp-ports makes one TCP app with port ranges", function()
      local out = apps({ ["teleport.dev/name"] = "db", ["teleport.dev/tcp-ports"] = "5432, 6000-6010" })
      assert.are.equal(1, #out)
      assert.are.equal("tcp://10.214.7.3", out[1].uri)
      assert.are.same({ { port = 5432 }, { port = 6000, end_port = 6010 } }, out[1].tcp_ports)
    end)

    it("teleport.dev/db-protocol is not read: one line names the label to use", function()
      assert.are.equal("label teleport.dev/db-protocol is not read: use teleport.dev/protocol=postgres",
        h.error_of(rule.apps, published({ ["teleport.dev/name"] = "pg", ["teleport.dev/db-protocol"] = "postgres",
                                          ["teleport.dev/port"] = "8080" })))
      local ok = rule.match(published({ ["teleport.dev/db-protocol"] = "postgres" }))
      assert.is_true(ok)
    end)

    describe("Docker Compose", function()
      local function compose(extra)
        local l = { ["teleport.dev/port"] = "8080", ["com.docker.compose.project"] = "Shop",
                    ["com.docker.compose.service"] = "web", ["com.docker.compose.container-number"] = "1" }
        for k, v in pairs(extra or {}) do l[k] = v end
        return apps(l)
      end
      it("names the app <service>-<project>, as Traefik does", function()
        local out = compose()
        assert.are.equal("web-shop", out[1].name)
        assert.are.equal("Shop", out[1].labels["compose.project"])
        assert.are.equal("web", out[1].labels["compose.service"])
      end)
      it("appends the replica number after the first replica", function()
        assert.are.equal("web-shop-3", compose({ ["com.docker.compose.container-number"] = "3" })[1].name)
        assert.are.equal("front-3", compose({ ["com.docker.compose.container-number"] = "3",
                                               ["teleport.dev/name"] = "front" })[1].name)
      end)
      it("a long project name is cut with a hash, the same every time", function()
        local long = ("p"):rep(80)
        local a = compose({ ["com.docker.compose.project"] = long })[1].name
        assert.are.equal(63, #a)
        assert.are.equal(a, compose({ ["com.docker.compose.project"] = long })[1].name)
        assert.is_true(schema.is_dns_label(a))
      end)
    end)

    it("no HTTP-ish port and no protocol: no app", function()
      local c = h.container_edited("inspect_rabbitmq.json", function(doc)
        doc.Config.Labels = { ["teleport.dev/name"] = "rmq" }
      end)
      assert.are.same({}, rule.apps(c))
    end)
  end)

  describe("errors", function()
    local function err_of(lbls)
      return h.error_of(rule.apps, published(lbls))
    end
    it("names the label and what is wrong", function()
      assert.are.equal("label teleport.dev/port: port 9090 is not among the container's TCP ports (8080, 8443)",
        err_of({ ["teleport.dev/port"] = "9090" }))
      assert.are.equal("label teleport.dev/protocol: 'htp' is not http, https, tcp or a database protocol",
        err_of({ ["teleport.dev/protocol"] = "htp" }))
      assert.are.equal("label teleport.dev/name: 'Web_UI' is not a valid app name (lower-case letters, digits "
        .. "and '-', starting with a letter, at most 63 characters)",
        err_of({ ["teleport.dev/name"] = "Web_UI" }))
      assert.are.equal("label teleport.dev/app-rewrite: json: 1:8: invalid token near 'redirect'",
        err_of({ ["teleport.dev/name"] = "web", ["teleport.dev/app-rewrite"] = "redirect: [x]" }))
      assert.are.equal("label teleport.dev/path: contains a control character",
        err_of({ ["teleport.dev/name"] = "web", ["teleport.dev/path"] = "/a\r\nX-Injected: 1" }))
      assert.are.equal("label teleport.dev/tcp-ports: 'http' is not a port or a range such as 6000-6010",
        err_of({ ["teleport.dev/name"] = "web", ["teleport.dev/tcp-ports"] = "80,http" }))
      assert.are.equal("label teleport.dev/label.a b: 'a b' is not a Teleport label key (letters, digits and / . _ * -)",
        err_of({ ["teleport.dev/name"] = "web", ["teleport.dev/label.a b"] = "x" }))
    end)

    it("what the schema refuses names the field", function()
      local function refused(lbls)
        local out = rule.apps(published(lbls))
        local ok, msg = schema.validate_resource(out[1])
        assert.is_nil(ok)
        return msg
      end
      assert.are.equal("app field 'public_addr': '10.0.0.1' is an IP address; Teleport wants a DNS name",
        refused({ ["teleport.dev/port"] = "8080", ["teleport.dev/public-addr"] = "10.0.0.1" }))
      assert.are.equal("app field 'tcp_ports[1]': end_port 10 must be above port 6000 and at most 65535",
        refused({ ["teleport.dev/tcp-ports"] = "6000-10" }))
      assert.are.equal("app field 'tls.mode' is 'verify-full' and 'insecure_skip_verify' is true: drop "
        .. "insecure_skip_verify (deprecated), or set tls.mode = \"insecure\"",
        refused({ ["teleport.dev/port"] = "8080", ["teleport.dev/tls-mode"] = "verify-full",
                  ["teleport.dev/insecure-skip-verify"] = "true" }))
    end)
  end)

  describe("databases", function()
    local identity = {
      ["container.name"] = "published",
      ["container.image"] = "enroller-tiny:latest",
      ["container.id"] = "8df8da278800",
      ["container.hostname"] = "8df8da278800",
    }

    it("teleport.dev/protocol=postgres with a port is one database at <ip>:<port>", function()
      assert.are.same({ {
        kind = "db",
        name = "pg",
        protocol = "postgres",
        uri = "10.214.7.3:8443",
        description = "Docker container published (enroller-tiny:latest)",
        labels = identity,
      } }, apps({ ["teleport.dev/name"] = "pg", ["teleport.dev/protocol"] = "postgres",
                  ["teleport.dev/port"] = "8443" }))
    end)

    it("mongodb URIs carry their scheme; the name defaults to the container's", function()
      local out = apps({ ["teleport.dev/protocol"] = "mongodb", ["teleport.dev/port"] = "8080" })
      assert.are.equal("published", out[1].name)
      assert.are.equal("mongodb://10.214.7.3:8080", out[1].uri)
    end)

    it("the protocol's usual port when exposed, else the only port", function()
      local c = h.container_edited("inspect_published.json", function(doc)
        doc.Config.Labels = { ["teleport.dev/protocol"] = "redis" }
        doc.Config.ExposedPorts = { ["6379/tcp"] = {}, ["8080/tcp"] = {} }
        doc.NetworkSettings.Ports = {}
      end)
      assert.are.equal("10.214.7.3:6379", rule.apps(c)[1].uri)
      c = h.container_edited("inspect_published.json", function(doc)
        doc.Config.Labels = { ["teleport.dev/protocol"] = "mysql" }
        doc.Config.ExposedPorts = { ["3307/tcp"] = {} }
        doc.NetworkSettings.Ports = {}
      end)
      assert.are.equal("10.214.7.3:3307", rule.apps(c)[1].uri)
    end)

    it("bad database labels are one line naming the label", function()
      local function err_of(lbls)
        return h.error_of(rule.apps, published(lbls))
      end
      assert.are.equal("label teleport.dev/port: required: the container exposes ports 8080, 8443, not "
        .. "postgres's port 5432", err_of({ ["teleport.dev/protocol"] = "postgres" }))
      assert.matches("^label teleport.dev/protocol: required for a database %(one of cassandra, clickhouse, ",
        err_of({ ["teleport.dev/discovery-type"] = "db" }))
      assert.matches("^label teleport.dev/protocol: 'postgresql' is not a database protocol %(one of ",
        err_of({ ["teleport.dev/discovery-type"] = "db", ["teleport.dev/protocol"] = "postgresql" }))
    end)
  end)
end)
