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
